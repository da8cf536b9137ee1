//go:build race

package main

// raceEnabled builds the plugin under test with -race when the tests run
// with it, so the binary's own goroutines are checked too.
const raceEnabled = true
