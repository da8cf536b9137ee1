// Package tlsutil builds the TLS configurations of the ovn-dpu agents: mutual
// TLS between the host agent (gRPC client) and the DPU agent (gRPC server),
// from --tls-cert/--tls-key/--tls-ca, and the client side of ssl: OVSDB
// remotes, from --ovsdb-cert/--ovsdb-key/--ovsdb-ca.
//
// Certificates are short-lived in most deployments (cert-manager, a rotated
// Kubernetes Secret, ovs-pki re-signing), so the agents must not need a
// restart when the files change. A Reloader re-reads the three files on a
// poll interval and, lazily, during handshakes; every new handshake uses the
// current certificate and CA, established connections keep theirs. A file
// that is half-written or broken keeps the last good material in use, so a
// rotation in progress never takes the agent down.
//
// The CA is applied per handshake rather than through tls.Config.ClientCAs
// or RootCAs set once, which is why the server uses GetConfigForClient and
// the client verifies the server in VerifyConnection.
//
// A host's identity is its client certificate's first DNS SAN, else its CN
// (CertIdentity). The DPU agent reads it from each gRPC call's verified
// peer certificate (PeerIdentity) to scope what the host sees, and the host
// agent checks at start that its own certificate names its node
// (CheckIdentity).
package tlsutil
