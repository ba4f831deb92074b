package exporter_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/bmp"
)

// startStation starts a real `enricher "bmp"` on listen.
func startStation(t *testing.T, listen string) (*bmp.Enricher, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg, diags := dsl.DecodeString("listen = "+strconv.Quote(listen)+"\nkeep = \"1h\"\n", bmp.Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, diags := bmp.New(cfg, engine.Env{Metrics: reg})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e, reg
}

// messages returns flowengine_bmp_messages_total of one type.
func messages(t *testing.T, reg *prometheus.Registry, typ string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "flowengine_bmp_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == typ {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// largeCommunities packs the station's large communities as flows hold them.
func largeCommunities(l []bmp.LargeCommunity) flow.LargeCommunities {
	out := make([]flow.LargeCommunity, len(l))
	for i, c := range l {
		out[i] = flow.LargeCommunity(c)
	}
	return flow.MakeLargeCommunities(out)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBMPSpeaker: a synthetic router's speaker sends its routes to a real
// BMP station, which holds every one of them (a peer per external
// interface) under the router's address, each with the AS path and
// communities its flows carry, which the enricher gives the router's
// flows; the speaker reconnects when the station comes back, and
// terminates its session when stopped.
func TestBMPSpeaker(t *testing.T) {
	gen := exporter.NewGenerator(exporter.GeneratorOptions{Seed: 3, Interfaces: 12, IPv6Share: 0.3})
	routes := gen.Routes()
	station, reg := startStation(t, "127.0.0.1:0")
	addr := station.Addr().String()
	router := netip.MustParseAddr("127.0.0.2")
	sp := &exporter.BMPSpeaker{Station: addr, Local: router, SysName: "edge2.fra", RouterAS: exporter.LocalAS,
		Routes: routes, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// 27 remote prefixes (18 IPv4, 9 IPv6) over 9 external interfaces.
	if len(routes) != 27*9 {
		t.Fatalf("%d routes, want %d", len(routes), 27*9)
	}
	waitUntil(t, "every route", func() bool { return station.RIB().Stats().Paths == len(routes) })
	waitUntil(t, "end-of-rib", func() bool { return messages(t, reg, "end-of-rib") == 2*9 })
	st := station.RIB().Stats()
	// A Peer Up opens the peer's pre- and post-policy tables.
	if st.Peers != 2*9 || st.Prefixes != 27 {
		t.Errorf("%d peer tables, %d prefixes; want 18 and 27", st.Peers, st.Prefixes)
	}
	check := func(what string) {
		t.Helper()
		for _, r := range routes {
			addr := r.Prefix.Addr().Next()
			got, ok := station.RIB().Lookup(addr, router, r.NextHop)
			if !ok {
				t.Fatalf("%s: no route for %v via %v", what, addr, r.NextHop)
			}
			if got.Prefix != r.Prefix || got.NextHop != r.NextHop ||
				!slices.Equal(got.ASPath, r.ASPath.AppendTo(nil)) || !slices.Equal(got.Communities, r.Communities.AppendTo(nil)) ||
				largeCommunities(got.LargeCommunities) != r.LargeCommunities {
				t.Fatalf("%s: %v via %v: got %+v, want path %v communities %v large %v",
					what, addr, r.NextHop, got, r.ASPath, r.Communities, r.LargeCommunities)
			}
		}
	}
	check("first session")

	// An outbound flow's destination, looked up with its next hop, gives
	// the flow's own path.
	var f exporter.Flow
	found := 0
	for range 2000 {
		gen.Next(time.Now(), &f)
		if f.DstASPath.Len() == 0 {
			continue
		}
		got, ok := station.RIB().Lookup(f.DstAddr, router, f.NextHop)
		if !ok || !slices.Equal(got.ASPath, f.DstASPath.AppendTo(nil)) || got.OriginAS != f.DstAS {
			t.Fatalf("flow to %v via %v: route %+v, want path %v", f.DstAddr, f.NextHop, got, f.DstASPath)
		}
		found++
	}
	if found < 200 {
		t.Errorf("%d outbound flows checked", found)
	}
	// The enricher fills the flows of this router with their own route.
	b := &flow.Batch{Records: make([]flow.Record, 500)}
	flows := make([]exporter.Flow, len(b.Records))
	for i := range b.Records {
		gen.Next(time.Now(), &flows[i])
		flows[i].Record(&b.Records[i])
		b.Records[i].ExporterAddress = router
	}
	if err := station.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for i, r := range b.Records {
		f := &flows[i]
		if r.DstASPath != f.DstASPath || r.DstCommunities != f.DstCommunities || r.DstLargeCommunities != f.DstLargeCommunities {
			t.Fatalf("flow to %v via %v: enriched with %v %v %v, want %v %v %v", f.DstAddr, f.NextHop,
				r.DstASPath, r.DstCommunities, r.DstLargeCommunities, f.DstASPath, f.DstCommunities, f.DstLargeCommunities)
		}
	}

	// The station goes away and comes back on the same port: the speaker
	// reconnects and sends its table again.
	if err := station.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	station, reg = startStation(t, addr)
	waitUntil(t, "the second session's routes", func() bool { return station.RIB().Stats().Paths == len(routes) })
	if n := sp.Sessions.Load(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	check("second session")

	// Stopping the speaker terminates its session.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("speaker did not stop")
	}
	done <- nil
	waitUntil(t, "termination", func() bool { return messages(t, reg, "termination") == 1 })
}

// TestRunBMP: Run with Config.BMP starts a speaker per exporter, from the
// exporter's own loopback address, so the station knows each router by
// the address its flows come from.
func TestRunBMP(t *testing.T) {
	station, _ := startStation(t, "127.0.0.1:0")
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- exporter.Run(ctx, exporter.Config{Collector: sink.LocalAddr().String(), Protocol: exporter.NetFlow9,
			Exporters: 3, Interfaces: 8, Rate: 100, BMP: station.Addr().String()}, nil)
	}()
	// 8 interfaces: 6 external; 27 prefixes over each.
	waitUntil(t, "three routers' routes", func() bool { return station.RIB().Stats().Paths == 3*27*6 })
	for i := range 3 {
		r, ok := station.RIB().Lookup(netip.MustParseAddr("142.250.1.1"), exporter.ExporterAddress(i), netip.MustParseAddr("10.255.0.3"))
		if !ok || !slices.Equal(r.ASPath, []uint32{15169}) {
			t.Errorf("router %v: Google's prefix over its PNI: %+v %v", exporter.ExporterAddress(i), r, ok)
		}
	}
	details, _ := station.Details().(map[string]any)
	routers, _ := details["routers"].([]bmp.RouterState)
	if len(routers) != 3 {
		t.Fatalf("routers %+v", details)
	}
	want := map[string]bool{}
	for i := range 3 {
		want[exporter.ExporterAddress(i).String()] = true
	}
	for _, r := range routers {
		filled := 0
		for _, p := range r.Peers {
			if p.Up && p.Routes == 27 && p.Table == "pre-policy" {
				filled++
			}
		}
		if !want[r.Address] || !r.Connected || filled != 6 || r.Routes != 27*6 {
			t.Errorf("router %+v", r)
		}
		delete(want, r.Address)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
