// Package ipam runs a network's IPAM delegate (the "ipam" section of the CNI
// config: host-local, static, dhcp, whereabouts...) on behalf of the host
// agent.
//
// A CNI plugin normally delegates by exec'ing the IPAM plugin with its own
// environment, which the runtime filled with that one request's CNI_*
// variables. The host agent is a long-lived daemon serving many requests at
// once, so its environment describes none of them: every delegate call here
// gets an environment built from the request alone (CNI_COMMAND,
// CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH), on top of the
// daemon's environment with every CNI_* variable removed. Nothing here reads
// or sets the process environment's CNI_* variables, and the library's
// invoke.DelegateAdd & co., which do, are not used.
//
// The plugin binary is looked up in the request's CNI_PATH, not the
// daemon's, since that is where the runtime that sent the request keeps its
// plugins.
package ipam
