package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

func logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func cluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

func build(t testing.TB, kind engine.Kind, src string) (any, *prometheus.Registry) {
	t.Helper()
	spec, ctor := specFor(kind)
	cfg, diags := dsl.DecodeString(src, spec)
	if diags.HasErrors() {
		t.Fatalf("decode: %v", diags)
	}
	reg := prometheus.NewRegistry()
	st, diags := ctor(cfg, engine.Env{ID: engine.ID{Kind: kind, Type: "kafka", Name: "t"}, Logger: logger(t), Metrics: reg})
	if diags.HasErrors() {
		t.Fatalf("constructor: %v", diags)
	}
	return st, reg
}

// specFor returns the spec and constructor of the kafka stage of kind.
func specFor(kind engine.Kind) (*dsl.Spec, func(*dsl.Config, engine.Env) (any, hcl.Diagnostics)) {
	if kind == engine.KindSource {
		return sourceSpec, func(cfg *dsl.Config, env engine.Env) (any, hcl.Diagnostics) { return newSource(cfg, env) }
	}
	return sinkSpec, func(cfg *dsl.Config, env engine.Env) (any, hcl.Diagnostics) { return newSink(cfg, env) }
}

func newTestSink(t testing.TB, src string) *Sink {
	s, _ := build(t, engine.KindSink, src)
	return s.(*Sink)
}

func newTestSource(t testing.TB, src string) *Source {
	s, _ := build(t, engine.KindSource, src)
	return s.(*Source)
}

// provision applies the sink's plan.
func provision(t testing.TB, s *Sink) {
	t.Helper()
	ctx := context.Background()
	p, err := s.Plan(ctx)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := s.Apply(ctx, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

var routers = []string{"router0", "router1", "router2", "router3", "router4", "router5", "router6"}

// flows returns batches holding n flows numbered by Packets from first.
func flows(first, n int) []*flow.Batch {
	var out []*flow.Batch
	var b *flow.Batch
	for i := first; i < first+n; i++ {
		if b == nil {
			b = flow.NewBatch()
		}
		r := b.Append()
		r.TimeReceived = time.Unix(1700000000, 0).UTC()
		r.ExporterAddress = netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 7)})
		r.ExporterName = routers[i%len(routers)]
		r.SrcAddr, r.DstAddr = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.51.100.1")
		r.Bytes, r.Packets = 1500, uint64(i)
		if b.Full() {
			out = append(out, b)
			b = nil
		}
	}
	if b != nil {
		out = append(out, b)
	}
	return out
}

// produce writes flows first..first+n-1 with the sink and waits until every
// batch is released.
func produce(t testing.TB, s *Sink, first, n int) {
	t.Helper()
	in := make(chan *flow.Batch, 4)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), in) }()
	var wg sync.WaitGroup
	for _, b := range flows(first, n) {
		wg.Add(1)
		b.OnDone(wg.Done)
		in <- b
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatalf("sink run: %v", err)
	}
	wg.Wait()
}

// collector is an engine.Output gathering flows by Packets number, releasing
// the batches it is told to.
type collector struct {
	mu      sync.Mutex
	seen    map[uint64]int
	batches []*flow.Batch
	release bool
}

func newCollector(release bool) *collector {
	return &collector{seen: map[uint64]int{}, release: release}
}

func (c *collector) Send(_ context.Context, b *flow.Batch) bool {
	c.mu.Lock()
	for i := range b.Records {
		c.seen[b.Records[i].Packets]++
	}
	c.mu.Unlock()
	if c.release {
		b.Release()
	} else {
		c.mu.Lock()
		c.batches = append(c.batches, b)
		c.mu.Unlock()
	}
	return true
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *collector) has(first, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := first; i < first+n; i++ {
		if c.seen[uint64(i)] == 0 {
			return fmt.Errorf("flow %d missing (%d flows seen)", i, len(c.seen))
		}
	}
	return nil
}

func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runSource runs src until stop is called; stop then runs Stop (commits).
func runSource(t testing.TB, src *Source, out engine.Output) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("source run: %v", err)
			}
			if err := src.Stop(context.Background()); err != nil {
				t.Errorf("source stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestProvision(t *testing.T) {
	_, addr := cluster(t)
	ctx := context.Background()
	sinkWith := func(partitions int, retention string) *Sink {
		return newTestSink(t, fmt.Sprintf(`
brokers = [%q]
partitions = %d
topic_config = { "retention.ms" = %q }
`, addr, partitions, retention))
	}
	plan := func(s *Sink) []string {
		t.Helper()
		p, err := s.Plan(ctx)
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		var out []string
		for _, c := range p.Changes {
			out = append(out, strings.TrimSpace(string(c.Action)+" "+c.Resource+" "+strings.Join(c.Details, "; ")))
		}
		return out
	}
	for _, step := range []struct {
		name       string
		partitions int
		retention  string
		want       []string
		apply      bool
	}{
		{"from empty", 4, "86400000", []string{`+ kafka topic flows-v1 (partitions=4, replication=1) retention.ms = "86400000"`}, true},
		{"nothing after apply", 4, "86400000", nil, false},
		{"more partitions", 8, "86400000", []string{"~ kafka topic flows-v1 partitions 4 -> 8"}, true},
		{"nothing after growing", 8, "86400000", nil, false},
		{"config drift", 8, "3600000", []string{`~ kafka topic flows-v1 config ~ retention.ms: "86400000" -> "3600000"`}, true},
		{"nothing after fixing drift", 8, "3600000", nil, false},
	} {
		t.Run(step.name, func(t *testing.T) {
			s := sinkWith(step.partitions, step.retention)
			got := plan(s)
			if strings.Join(got, "\n") != strings.Join(step.want, "\n") {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(step.want, "\n"))
			}
			if step.apply {
				provision(t, s)
			}
		})
	}
	t.Run("fewer partitions is an error", func(t *testing.T) {
		_, err := sinkWith(2, "3600000").Plan(ctx)
		if !errors.Is(err, ErrShrink) {
			t.Fatalf("plan with fewer partitions: %v, want ErrShrink", err)
		}
	})
}

func TestRoundTripGroupOfTwo(t *testing.T) {
	_, addr := cluster(t)
	sink := newTestSink(t, fmt.Sprintf("brokers = [%q]\npartitions = 4\nbatch_timeout = \"50ms\"", addr))
	provision(t, sink)
	const n = 20000
	produce(t, sink, 0, n)
	if got := testutil.ToFloat64(sink.messages); got != n {
		t.Errorf("messages produced = %v, want %d", got, n)
	}

	col := newCollector(true)
	var sources []*Source
	for i := 0; i < 2; i++ {
		src := newTestSource(t, fmt.Sprintf("brokers = [%q]\ngroup = \"g\"\nfrom = \"earliest\"", addr))
		sources = append(sources, src)
		runSource(t, src, col)
	}
	waitFor(t, "every flow", time.Minute, func() bool { return col.count() == n })
	if err := col.has(0, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "commits", 30*time.Second, func() bool {
		return testutil.ToFloat64(sources[0].commits)+testutil.ToFloat64(sources[1].commits) > 0
	})
}

func TestUnreleasedBatchesAreRedelivered(t *testing.T) {
	_, addr := cluster(t)
	sink := newTestSink(t, fmt.Sprintf("brokers = [%q]\npartitions = 1\nbatch_timeout = \"50ms\"", addr))
	provision(t, sink)
	const n = 5000
	produce(t, sink, 0, n)

	conf := fmt.Sprintf("brokers = [%q]\ngroup = \"g\"\nfrom = \"earliest\"\ncommit_timeout = \"200ms\"", addr)
	first := newTestSource(t, conf)
	held := newCollector(false)
	stop := runSource(t, first, held)
	waitFor(t, "every flow", time.Minute, func() bool { return held.count() == n })
	// The "sink" releases the first batch only: its offsets are committed,
	// the others' are not.
	held.mu.Lock()
	released := held.batches[0]
	var releasedIDs []uint64
	for _, r := range released.Records {
		releasedIDs = append(releasedIDs, r.Packets)
	}
	rest := held.batches[1:]
	held.mu.Unlock()
	released.Release()
	waitFor(t, "a commit", 30*time.Second, func() bool { return testutil.ToFloat64(first.commits) > 0 })
	stop() // kill the outlet with batches in flight
	for _, b := range rest {
		b.Release() // too late: the consumer left
	}

	second := newTestSource(t, conf)
	again := newCollector(true)
	runSource(t, second, again)
	waitFor(t, "the unreleased flows", time.Minute, func() bool { return again.count() >= n-len(releasedIDs) })
	if err := again.has(int(releasedIDs[len(releasedIDs)-1])+1, n-len(releasedIDs)); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	again.mu.Lock()
	defer again.mu.Unlock()
	for _, id := range releasedIDs {
		if again.seen[id] > 0 {
			t.Fatalf("flow %d of a released, committed batch was delivered again", id)
		}
	}
}

func TestInvalidMessageSkipped(t *testing.T) {
	_, addr := cluster(t)
	sink := newTestSink(t, fmt.Sprintf("brokers = [%q]\npartitions = 1\nbatch_timeout = \"50ms\"", addr))
	provision(t, sink)
	produce(t, sink, 0, 10)
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: sink.Topic(), BatchSize: 1}
	if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte("this is not a flow")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	produce(t, sink, 10, 10)

	conf := fmt.Sprintf("brokers = [%q]\ngroup = \"g\"\nfrom = \"earliest\"", addr)
	src := newTestSource(t, conf)
	col := newCollector(true)
	stop := runSource(t, src, col)
	waitFor(t, "every valid flow", 30*time.Second, func() bool { return col.count() == 20 })
	if got := testutil.ToFloat64(src.invalid); got != 1 {
		t.Errorf("invalid messages = %v, want 1", got)
	}
	// Everything, the invalid message included, is committed: 21 messages.
	cl := &kafka.Client{Addr: kafka.TCP(addr)}
	waitFor(t, "offsets committed past the invalid message", 30*time.Second, func() bool {
		offs, err := cl.ConsumerOffsets(context.Background(), kafka.TopicAndGroup{Topic: sink.Topic(), GroupId: "g"})
		return err == nil && offs[0] == 21
	})
	stop()
}

func TestBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	port := testenv.FreePort(t, "tcp")
	c1, addr := cluster(t, kfake.Ports(port), kfake.DataDir(dir))
	sink := newTestSink(t, fmt.Sprintf("brokers = [%q]\npartitions = 2\nbatch_timeout = \"20ms\"\nretry_backoff = \"20ms\"\nretry_backoff_max = \"200ms\"", addr))
	provision(t, sink)

	in := make(chan *flow.Batch)
	done := make(chan error, 1)
	go func() { done <- sink.Run(context.Background(), in) }()
	var wg sync.WaitGroup
	// send hands batches to the sink; while the broker is down the sink
	// takes only what its buffers hold, so the sender waits as a router's
	// flows would.
	send := func(first, n int) error {
		for _, b := range flows(first, n) {
			wg.Add(1)
			b.OnDone(wg.Done)
			select {
			case in <- b:
			case <-time.After(2 * time.Minute):
				return fmt.Errorf("the sink took no batch for 2 minutes (retries %v)", testutil.ToFloat64(sink.retries))
			}
		}
		return nil
	}
	if err := send(0, 3000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first flows", 30*time.Second, func() bool { return testutil.ToFloat64(sink.messages) == 3000 })
	c1.Close()
	sent := make(chan error, 1)
	go func() { sent <- send(3000, 3000) }() // written while the broker is down
	waitFor(t, "retries", 30*time.Second, func() bool { return testutil.ToFloat64(sink.retries) >= 2 })
	// The broker comes back on the same port; make sure it listens there
	// before counting on it (a restart that did not bind is tried again).
	for attempt := 1; ; attempt++ {
		c2, _ := cluster(t, kfake.Ports(port), kfake.DataDir(dir))
		if listens(addr, 5*time.Second) {
			break
		}
		if attempt == 3 {
			t.Fatalf("the restarted broker does not listen on %s", addr)
		}
		c2.Close()
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := send(6000, 3000); err != nil {
		t.Fatal(err)
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := testutil.ToFloat64(sink.dropped.WithLabelValues("retries_exhausted")); got != 0 {
		t.Errorf("dropped = %v", got)
	}

	src := newTestSource(t, fmt.Sprintf("brokers = [%q]\ngroup = \"g\"\nfrom = \"earliest\"", addr))
	col := newCollector(true)
	runSource(t, src, col)
	waitFor(t, "every flow", time.Minute, func() bool { return col.count() == 9000 })
	if err := col.has(0, 9000); err != nil {
		t.Fatal(err)
	}
}

func TestWrongCredentials(t *testing.T) {
	_, addr := cluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right"))
	for _, kind := range []engine.Kind{engine.KindSink, engine.KindSource} {
		t.Run(string(kind), func(t *testing.T) {
			st, _ := build(t, kind, fmt.Sprintf(`
brokers = [%q]
sasl {
  mechanism = "PLAIN"
  username  = "admin"
  password  = "wrong-secret"
}`, addr))
			err := st.(engine.Starter).Start(context.Background())
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Start = %v, want ErrAuth", err)
			}
			if strings.Contains(err.Error(), "wrong-secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	t.Run("right password", func(t *testing.T) {
		s := newTestSink(t, fmt.Sprintf("brokers = [%q]\nsasl {\n username = \"admin\"\n password = \"right\"\n}", addr))
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		provision(t, s)
		produce(t, s, 0, 100)
	})
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		kind engine.Kind
		src  string
		want string
	}{
		{engine.KindSink, `brokers = ["nohost"]`, "Invalid Kafka broker address"},
		{engine.KindSink, `brokers = []`, "No Kafka broker"},
		{engine.KindSink, "brokers = [\"k:9092\"]\ncompression = \"zip\"", `"compression"`},
		{engine.KindSink, "brokers = [\"k:9092\"]\npartitions = 0", `"partitions"`},
		{engine.KindSink, "brokers = [\"k:9092\"]\ntls {\n cert_file = \"c.pem\"\n}", "Incomplete client certificate"},
		{engine.KindSource, "brokers = [\"k:9092\"]\nconsumers = 0", `"consumers"`},
		{engine.KindSource, "brokers = [\"k:9092\"]\nfrom = \"first\"", `"from"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			spec, ctor := specFor(tc.kind)
			cfg, diags := dsl.DecodeString(tc.src, spec)
			if !diags.HasErrors() {
				_, diags = ctor(cfg, engine.Env{Logger: logger(t), Metrics: prometheus.NewRegistry()})
			}
			if !strings.Contains(diags.Error(), tc.want) {
				t.Fatalf("diagnostics %q, want %q", diags.Error(), tc.want)
			}
		})
	}
}

// BenchmarkRoundTrip measures sink → kfake → source: flows produced,
// consumed, decoded and committed per second.
func BenchmarkRoundTrip(b *testing.B) {
	_, addr := cluster(b)
	sink := newTestSink(b, fmt.Sprintf("brokers = [%q]\npartitions = 4\nbatch_timeout = \"20ms\"", addr))
	provision(b, sink)
	src := newTestSource(b, fmt.Sprintf("brokers = [%q]\ngroup = \"bench\"\nfrom = \"earliest\"\nconsumers = 2", addr))
	var got atomicCounter
	runSource(b, src, engine.OutputFunc(func(_ context.Context, bt *flow.Batch) bool {
		got.add(bt.Len())
		bt.Release()
		return true
	}))
	const n = 50000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		target := int64(n * (i + 1))
		produce(b, sink, 0, n)
		waitFor(b, "flows", 2*time.Minute, func() bool { return got.load() >= target })
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/flow")
}

// BenchmarkSink measures the sink alone: flows written to kfake per second.
func BenchmarkSink(b *testing.B) {
	_, addr := cluster(b)
	sink := newTestSink(b, fmt.Sprintf("brokers = [%q]\npartitions = 4\nbatch_timeout = \"20ms\"", addr))
	provision(b, sink)
	const n = 50000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		produce(b, sink, 0, n)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/flow")
}

type atomicCounter struct {
	mu sync.Mutex
	n  int64
}

func (c *atomicCounter) add(n int) { c.mu.Lock(); c.n += int64(n); c.mu.Unlock() }
func (c *atomicCounter) load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// listens reports whether something accepts TCP connections on addr within d.
func listens(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
