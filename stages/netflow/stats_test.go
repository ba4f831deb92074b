package netflow

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// TestExporterStats sends NetFlow v9 from 127.0.0.1 (a template, data, and a
// truncated packet) and v5 sampled 1:100 from 127.0.0.2 to a running
// source over UDP: the per-exporter stats count what was sent.
func TestExporterStats(t *testing.T) {
	cfg, diags := dsl.DecodeString(`listen = "127.0.0.1:0"`, Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSource, Type: "netflow", Name: "test"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, engine.OutputFunc(func(_ context.Context, b *flow.Batch) bool { b.Release(); return true }))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	addr := src.LocalAddr(wctx)
	if addr == nil {
		t.Fatal("the source did not start")
	}
	send := func(from string, pkts ...[]byte) {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, addr.(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, p := range pkts {
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	tp, dp, _ := generatedPackets(r, false, false, 10)
	var v5flows []testFlow
	for range 5 {
		v5flows = append(v5flows, randomFlow(r, false))
	}
	start := time.Now().Add(-time.Second)
	send("127.0.0.1", tp, dp, []byte{0})
	send("127.0.0.2", v5Packet(1000, 1_700_000_000, 0, 1, 100, v5flows))

	want := map[string]engine.ExporterStats{
		"127.0.0.1": {Address: "127.0.0.1", Protocol: "netflow9", Packets: 2, Flows: 10, DecodeErrors: 1, Templates: 1},
		"127.0.0.2": {Address: "127.0.0.2", Protocol: "netflow5", Packets: 1, Flows: 5, SamplingRates: []uint64{100}},
	}
	var got []engine.ExporterStats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = src.ExporterStats()
		ok := len(got) == len(want)
		for _, g := range got {
			w := want[g.Address]
			ok = ok && g.Packets == w.Packets && g.DecodeErrors == w.DecodeErrors && g.Flows == w.Flows
		}
		if ok || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d exporters, want %d: %+v", len(got), len(want), got)
	}
	for _, g := range got {
		w := want[g.Address]
		if g.LastSeen.Before(start) || g.LastSeen.After(time.Now()) {
			t.Errorf("%s: last seen %v, want about now", g.Address, g.LastSeen)
		}
		g.LastSeen = time.Time{}
		if g.Address != w.Address || g.Protocol != w.Protocol || g.Packets != w.Packets || g.Flows != w.Flows ||
			g.DecodeErrors != w.DecodeErrors || g.Templates != w.Templates || !slices.Equal(g.SamplingRates, w.SamplingRates) {
			t.Errorf("got %+v\nwant %+v", g, w)
		}
	}
}

// TestExporterStatsRates: the distinct rates of recent flows are kept, at
// most maxRates, the oldest replaced.
func TestExporterStatsRates(t *testing.T) {
	var s exporterStats
	for _, r := range []uint64{10, 10, 20, 10, 30, 40, 50, 50, 60} {
		if r != s.lastRate {
			s.rate(r)
		}
	}
	var got []uint64
	for i := range s.rates {
		got = append(got, s.rates[i].Load())
	}
	slices.Sort(got)
	if want := []uint64{30, 40, 50, 60}; !slices.Equal(got, want) {
		t.Errorf("rates %v, want %v", got, want)
	}
}
