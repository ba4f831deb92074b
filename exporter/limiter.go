package exporter

import (
	"context"
	"time"
)

// Limiter paces flows to a rate. It is a token bucket kept as a schedule:
// each Wait(n) moves the schedule n/rate later and sleeps until the caller
// is no longer ahead of it. Oversleeping is made up by not sleeping on the
// following calls, so the average rate stays exact even when the system's
// sleep granularity is coarser than one datagram (1M flows/s is a datagram
// every ~20 µs); bursts are bounded by Burst.
type Limiter struct {
	rate  float64 // flows per second; 0 is unlimited
	Burst time.Duration
	next  time.Time

	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewLimiter returns a limiter of rate flows per second (0: no limit).
func NewLimiter(rate float64) *Limiter {
	return &Limiter{rate: rate, Burst: 20 * time.Millisecond, Now: time.Now, Sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait blocks until n more flows may be sent.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return ctx.Err()
	}
	now := l.Now()
	if l.next.IsZero() || now.Sub(l.next) > l.Burst {
		// Idle, or too far behind: do not send a long burst to catch up.
		l.next = now.Add(-l.Burst)
	}
	at := l.next
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	if d := at.Sub(now); d > 0 {
		return l.Sleep(ctx, d)
	}
	return ctx.Err()
}
