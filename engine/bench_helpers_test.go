package engine_test

import (
	"fmt"
	"testing"
	"time"
)

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

func timeRun(b *testing.B, src string) float64 {
	b.StopTimer()
	g := mustCompile(b, src)
	b.StartTimer()
	start := time.Now()
	runGraph(b, g)
	return float64(time.Since(start).Nanoseconds())
}
