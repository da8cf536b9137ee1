// Package ops holds the one helper every OVSDB write goes through (Transact,
// which checks each operation's result, not just the RPC error) and
// per-table helpers that build operations for the rows ovn-dpu reads and
// writes. Helpers build operations; callers batch them into as few
// transactions as they can.
package ops
