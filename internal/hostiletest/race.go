//go:build race

package hostiletest

// RaceEnabled is true in binaries built with the race detector, whose
// memory use says nothing about the collector's.
const RaceEnabled = true
