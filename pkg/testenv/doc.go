// Package testenv decides what a test does when the machine lacks what it
// needs (root, a command, a kernel feature): locally it skips, saying what
// is missing; in CI (CI=true) it fails, so a missing dependency can never
// pass as a green run. Every test in the repository goes through it.
package testenv
