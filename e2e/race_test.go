//go:build race

package e2e

// Under `go test -race`, the flowengine binary is built with the race
// detector too, so that the engine's goroutines are checked under real
// traffic.
func init() { buildFlags = append(buildFlags, "-race") }
