package inserter

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	const ms = time.Millisecond
	broken := errors.New("broken")
	fatal := errors.New("fatal")
	tests := []struct {
		name     string
		max      int
		failures int   // try fails this many times, then succeeds
		stop     error // failed returns it for every error
		want     error
		attempts int
		waits    []time.Duration // passed to failed
		lasts    int             // failures reported last
	}{
		{name: "succeeds at once", max: 3, attempts: 1},
		{name: "succeeds after retries", max: 3, failures: 3, attempts: 4,
			waits: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}},
		{name: "gives up after max retries", max: 2, failures: 10, want: broken, attempts: 3, lasts: 1,
			waits: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}},
		{name: "forever with max 0", max: 0, failures: 6, attempts: 7,
			waits: []time.Duration{ms, 2 * ms, 3 * ms, 3 * ms, 3 * ms, 3 * ms}},
		{name: "failed stops", max: 0, failures: 10, stop: fatal, want: fatal, attempts: 1,
			waits: []time.Duration{time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Retry{Max: tt.max, Backoff: time.Millisecond, MaxBackoff: 3 * time.Millisecond}
			attempts, lasts := 0, 0
			var waits []time.Duration
			err := r.Do(context.Background(), func(attempt int) error {
				attempts++
				if attempt != attempts {
					t.Errorf("attempt %d, want %d", attempt, attempts)
				}
				if attempt <= tt.failures {
					return broken
				}
				return nil
			}, func(err error, attempt int, wait time.Duration, last bool) error {
				if !errors.Is(err, broken) || attempt != attempts {
					t.Errorf("failed(%v, %d), want (%v, %d)", err, attempt, broken, attempts)
				}
				waits = append(waits, wait)
				if last {
					lasts++
				}
				return tt.stop
			})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Do returned %v, want %v", err, tt.want)
			}
			if attempts != tt.attempts || lasts != tt.lasts {
				t.Errorf("%d attempts (%d last), want %d (%d)", attempts, lasts, tt.attempts, tt.lasts)
			}
			for i, w := range tt.waits {
				if i >= len(waits) || waits[i] != w {
					t.Errorf("waits %v, want %v", waits, tt.waits)
					break
				}
			}
		})
	}
}

func TestRetryStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := Retry{Backoff: time.Hour, MaxBackoff: time.Hour}
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	err := r.Do(ctx, func(int) error { return errors.New("broken") },
		func(error, int, time.Duration, bool) error { return nil })
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Minute {
		t.Errorf("Do returned %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	// A failure once the context is done is not reported.
	called := false
	err = r.Do(ctx, func(int) error { return errors.New("broken") },
		func(error, int, time.Duration, bool) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Do returned %v (failed called: %v), want context.Canceled", err, called)
	}
}
