package sysfstest

import "testing"

// NewTestTree returns a Tree in a fresh t.TempDir(), removed after the test.
func NewTestTree(t testing.TB) *Tree {
	t.Helper()
	return NewTree(t.TempDir())
}
