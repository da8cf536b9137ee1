// Package conn opens libovsdb clients the way every ovn-dpu daemon needs
// them: several comma-separated remotes (unix:, tcp:, ssl:), automatic
// reconnect with backoff, optional leader-only for clustered NB/SB, and TLS
// for ssl: remotes.
package conn
