// Package ovsdbtest runs real, standalone ovsdb-server processes for unit
// tests that need the real protocol and server-side checks (unique
// indexes, referential integrity) but no root and no OVN daemons.
package ovsdbtest
