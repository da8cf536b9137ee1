// Package deploy tests the deployment files in deploy/ against the code
// they deploy, without a cluster: every Kubernetes manifest is decoded
// strictly into the API types that own it and cross-checked (mounts and
// volumes, ConfigMap and Secret keys, every flag against the binary's own
// flag set, probes against --metrics and the metrics server's paths, the
// NetworkAttachmentDefinition through the CNI plugin's parser, what CNI
// work needs in the host agent's pod); the kustomization is rendered with
// the kustomize library and with kubectl and both must yield the files'
// objects; the systemd units pass systemd-analyze verify, keep the
// hardening the agents are known to work with, and start the binaries
// with flags they have. deploy/README.md lists what is and is not tested.
package deploy
