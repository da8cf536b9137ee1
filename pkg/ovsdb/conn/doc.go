// Package conn keeps libovsdb clients connected the way every ovn-dpu
// daemon needs them: several comma-separated remotes (unix:, tcp:, ssl:),
// leader-only for clustered NB/SB, TLS for ssl: remotes, an echo probe
// that gives up on a server that stopped answering, and a reconnect that
// moves on to the other remotes (a Session; see session.go for why not
// libovsdb's own).
package conn
