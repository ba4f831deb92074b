package inserter

import (
	"context"
	"time"

	"github.com/flowengine/flowengine/engine"
)

// Retry is how a failed insert is tried again: after a wait of Backoff,
// doubled after each failure up to MaxBackoff, until it failed Max times
// more than once (0: forever).
type Retry struct {
	Max        int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Do calls try, with the number of the attempt from 1, until it returns
// nil. After a failure, Do returns ctx's error once ctx is done; otherwise
// it calls failed with the error, the attempt, the wait before the next
// one and whether the policy gives up (last). A non-nil error from failed
// ends Do with it; when the policy gives up, Do returns failed's error, or
// try's.
func (r Retry) Do(ctx context.Context, try func(attempt int) error, failed func(err error, attempt int, wait time.Duration, last bool) error) error {
	backoff := r.Backoff
	for attempt := 1; ; attempt++ {
		err := try(attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last := r.Max > 0 && attempt > r.Max
		if ferr := failed(err, attempt, backoff, last); ferr != nil {
			return ferr
		}
		if last {
			return err
		}
		if !engine.Sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, r.MaxBackoff)
	}
}
