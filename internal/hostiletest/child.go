package hostiletest

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Source is what ServeChild runs: a flow source and the address it listens
// on once bound.
type Source interface {
	Run(ctx context.Context, out engine.Output) error
}

// ServeChild runs src in the child process until the parent is done with
// it, counting in Stats every flow it hands on and those from cleanFrom,
// checked against want (the keys of the clean stream's flows, with their
// counts). addr returns the address src listens on once bound; reg holds
// its metrics (their series are counted).
func ServeChild[K comparable](t *testing.T, src Source, addr func(context.Context) (net.Addr, error), reg *prometheus.Registry,
	cleanFrom netip.Addr, want map[K]int, key func(*flow.Record) K) {
	t.Helper()
	var mu sync.Mutex
	st := Stats{}
	for _, n := range want {
		st.Want += n
	}
	out := engine.OutputFunc(func(ctx context.Context, b *flow.Batch) bool {
		mu.Lock()
		st.Flows += int64(b.Len())
		for i := range b.Records {
			r := &b.Records[i]
			if r.ExporterAddress != cleanFrom {
				continue
			}
			st.Clean++
			k := key(r)
			if want[k] == 0 {
				st.Mismatch++
			}
			want[k]--
		}
		mu.Unlock()
		b.Release()
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	a, err := addr(ctx)
	if err != nil {
		cancel()
		t.Fatal(err, <-done)
	}
	err = Serve(a.String(), func() any {
		mfs, _ := reg.Gather()
		mu.Lock()
		defer mu.Unlock()
		s := st
		for _, mf := range mfs {
			s.Series += len(mf.GetMetric())
		}
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
