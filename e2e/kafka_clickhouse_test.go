package e2e

// At-least-once delivery through real processes: an inlet (`source
// "generate"` → `sink "kafka"`) writes to a kfake broker in the test
// process, outlets (`source "kafka"` → `sink "clickhouse"`) read the topic
// in a consumer group and insert into a private clickhouse-server. One test
// kills an outlet with SIGKILL mid-run, the other stops ClickHouse for a
// while; at the end, every flow the inlet produced must be in ClickHouse
// (duplicates are allowed, losses are not).
//
// How flows are counted exactly. `source "generate"` cycles through 16384
// flow templates per source and stamps them with the time of their batch, so
// a flow has no serial number. The inlet therefore runs 16 generate sources,
// each with exporter addresses of its own and a count below 16384: within a
// source no template is used twice, and across sources the exporter address
// differs. A flow is then identified by its content at the resolution
// ClickHouse keeps (flowKey: TimeReceived in seconds, exporter, addresses,
// ports, protocol, interfaces, TTL, bytes, packets). The test does not
// predict the flows: it reads back the topic the inlet wrote (the ledger),
// checks that it holds exactly N messages and N distinct keys (so every key
// names one generated flow, and the inlet lost nothing), and then checks that
// every ledger key is in ClickHouse, and nothing else is.

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/flow/flowpb"
	"github.com/flowengine/flowengine/internal/testenv"
)

const (
	alTopic      = "flows-v1" // the default topic of sink and source "kafka"
	alPartitions = 4
	alGroup      = "outlet"
	alSources    = 16 // generate sources of the inlet, each below 16384 flows
)

// flowKey identifies a generated flow at the resolution ClickHouse keeps
// (see the comment at the top of the file).
type flowKey struct {
	time                  uint32
	exporter, src, dst    string // hex of the 16-byte (IPv4-mapped) address, as ClickHouse's hex()
	srcPort, dstPort      uint16
	proto, ttl            uint8
	inIfIndex, outIfIndex uint32
	bytes, packets        uint64
}

func (k flowKey) String() string {
	addr := func(h string) netip.Addr {
		b, _ := hex.DecodeString(h)
		a, _ := netip.AddrFromSlice(b)
		return a.Unmap()
	}
	return fmt.Sprintf("{time %s exporter %s %s -> %s proto %d ifindex %d->%d ttl %d bytes %d packets %d}",
		time.Unix(int64(k.time), 0).UTC().Format(time.RFC3339), addr(k.exporter),
		netip.AddrPortFrom(addr(k.src), k.srcPort), netip.AddrPortFrom(addr(k.dst), k.dstPort),
		k.proto, k.inIfIndex, k.outIfIndex, k.ttl, k.bytes, k.packets)
}

func keyOf(r *flow.Record) flowKey {
	addr := func(a [16]byte) string { return strings.ToUpper(hex.EncodeToString(a[:])) }
	return flowKey{
		time: uint32(r.TimeReceived.Unix()), exporter: addr(r.ExporterAddress.As16()),
		src: addr(r.SrcAddr.As16()), dst: addr(r.DstAddr.As16()),
		srcPort: r.SrcPort, dstPort: r.DstPort, proto: r.Proto, ttl: r.IPTTL,
		inIfIndex: r.InIfIndex, outIfIndex: r.OutIfIndex, bytes: r.Bytes, packets: r.Packets,
	}
}

// alKeyColumns selects a flowKey from the flows table, in its field order.
const alKeyColumns = "toUInt32(TimeReceived), hex(ExporterAddress), hex(SrcAddr), hex(DstAddr), " +
	"toUInt16(SrcPort), toUInt16(DstPort), toUInt8(Proto), toUInt8(IPTTL), " +
	"toUInt32(InIfIndex), toUInt32(OutIfIndex), toUInt64(Bytes), toUInt64(Packets)"

// alEnv is the test's world: a kfake broker, a ClickHouse server, the
// processes it started, and a client of each.
type alEnv struct {
	t       *testing.T
	dir     string
	broker  string
	ch      *testenv.ClickHouseServer
	conn    driver.Conn
	db      string
	procs   map[string]*engineProc // by role, for failure messages
	started time.Time
}

func newALEnv(t *testing.T, ch *testenv.ClickHouseServer, db string) *alEnv {
	t.Helper()
	e := &alEnv{t: t, dir: t.TempDir(), db: db, procs: map[string]*engineProc{}, started: time.Now(), ch: ch}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	e.broker = c.ListenAddrs()[0]
	e.conn, err = clickhouse.Open(&clickhouse.Options{Addr: []string{e.ch.Addr}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close() })
	t.Logf("ClickHouse %s at %s, Kafka %s (ready after %s)", e.ch.Version, e.ch.Addr, e.broker, time.Since(e.started).Round(time.Millisecond))
	return e
}

// elapsed is the time since the test started, for the log.
func (e *alEnv) elapsed() time.Duration { return time.Since(e.started).Round(100 * time.Millisecond) }

// output returns the last lines of every process's output and of the
// ClickHouse server's error log, for failure messages.
func (e *alEnv) output() string {
	var b strings.Builder
	roles := make([]string, 0, len(e.procs))
	for r := range e.procs {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, r := range roles {
		fmt.Fprintf(&b, "\n--- %s output (last lines) ---\n%s\n", r, tail(e.procs[r].log.String(), 40))
	}
	fmt.Fprintf(&b, "--- ClickHouse %s server log (last lines) ---\n%s\n", e.ch.Version, e.ch.Log(10))
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// start starts `flowengine run` of pipeline (written to role.hcl) and waits
// until its pipeline runs.
func (e *alEnv) start(role, pipeline string) *engineProc {
	e.t.Helper()
	path := filepath.Join(e.dir, role+".hcl")
	if err := os.WriteFile(path, []byte(pipeline), 0o644); err != nil {
		e.t.Fatal(err)
	}
	p := &engineProc{t: e.t, done: make(chan error, 1)}
	p.cmd = exec.Command(binary, "run", path)
	p.cmd.Dir = e.dir
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.procs[role] = p
	go func() { p.done <- p.cmd.Wait() }()
	e.t.Cleanup(func() {
		if !p.exited {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	e.waitProc(p, role+" to run its pipeline", 30*time.Second, func() bool {
		s := p.log.String()
		return strings.Contains(s, "pipeline running") && strings.Contains(s, "serving metrics and API")
	})
	return p
}

// waitProc polls cond until it holds; it fails after timeout or if p exits,
// with the output of every process.
func (e *alEnv) waitProc(p *engineProc, what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-p.done:
			p.exited = true
			e.t.Fatalf("a flowengine process exited (%v) while waiting for %s:%s", err, what, e.output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s after %s:%s", what, timeout, e.output())
		}
	}
}

// waitExit waits until p exits by itself and fails unless it exits 0.
func (e *alEnv) waitExit(p *engineProc, role string, timeout time.Duration) {
	e.t.Helper()
	select {
	case err := <-p.done:
		p.exited = true
		if err != nil {
			e.t.Fatalf("%s exited with %v:%s", role, err, e.output())
		}
	case <-time.After(timeout):
		e.t.Fatalf("%s did not exit within %s:%s", role, timeout, e.output())
	}
}

// stop sends SIGTERM to p and waits for a clean exit.
func (e *alEnv) stop(p *engineProc, role string) {
	e.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	e.waitExit(p, role+" (after SIGTERM)", 45*time.Second)
}

// kill kills p with SIGKILL: no shutdown, no last commit.
func (e *alEnv) kill(p *engineProc) {
	e.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		e.t.Fatal(err)
	}
	<-p.done
	p.exited = true
}

// inletPipeline generates n flows at rate flows/s in alSources sources
// (exporters 10.0.<i>.1 and 10.0.<i>.2 for source i) and writes them to Kafka.
func (e *alEnv) inletPipeline(n, rate int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline {\n  listen = \"127.0.0.1:0\"\n  state_dir = %q\n}\n\n", filepath.Join(e.dir, "inlet-state"))
	var inputs []string
	for i := range alSources {
		count := n / alSources
		if i < n%alSources {
			count++
		}
		fmt.Fprintf(&b, `source "generate" "g%02[1]d" {
  rate       = %[2]d
  count      = %[3]d
  seed       = %[4]d
  exporters  = ["10.0.%[1]d.1", "10.0.%[1]d.2"]
  protocols  = ["tcp", "udp"]
  interfaces = 16
}

`, i, max(1, rate/alSources), count, 1000+i)
		inputs = append(inputs, fmt.Sprintf("source.generate.g%02d", i))
	}
	fmt.Fprintf(&b, `sink "kafka" "flows" {
  input         = [%s]
  brokers       = [%q]
  partitions    = %d
  batch_timeout = "200ms"
}
`, strings.Join(inputs, ", "), e.broker, alPartitions)
	return b.String()
}

// outletPipeline reads the topic in the group and inserts into ClickHouse.
func (e *alEnv) outletPipeline(role string) string {
	return fmt.Sprintf(`pipeline {
  listen    = "127.0.0.1:0"
  state_dir = %q
}

source "kafka" "flows" {
  brokers = [%q]
  group   = %q
  from    = "earliest"
}

sink "clickhouse" "flows" {
  input             = source.kafka.flows
  servers           = [%q]
  database          = %q
  batch_size        = 5000
  batch_timeout     = "500ms"
  consolidate       = false
  retry_backoff     = "200ms"
  retry_max_backoff = "1s"
  dial_timeout      = "2s"
}
`, filepath.Join(e.dir, role+"-state"), e.broker, alGroup, e.ch.Addr, e.db)
}

// rows returns the number of rows of the flows table (0 while it does not
// exist or the server is down).
func (e *alEnv) rows() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n uint64
	if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db+".flows").Scan(&n); err != nil {
		return 0
	}
	return n
}

// distinctKeys returns the number of distinct flowKeys in the flows table.
func (e *alEnv) distinctKeys() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	if err := e.conn.QueryRow(ctx, "SELECT uniqExact("+alKeyColumns+") FROM "+e.db+".flows").Scan(&n); err != nil {
		return 0
	}
	return n
}

// stored returns every flowKey of the flows table with its number of rows.
func (e *alEnv) stored() map[flowKey]uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := e.conn.Query(ctx, "SELECT "+alKeyColumns+", count() FROM "+e.db+".flows GROUP BY "+alKeyColumns)
	if err != nil {
		e.t.Fatalf("query the flows: %v%s", err, e.output())
	}
	defer rows.Close()
	out := map[flowKey]uint64{}
	for rows.Next() {
		var k flowKey
		var n uint64
		if err := rows.Scan(&k.time, &k.exporter, &k.src, &k.dst, &k.srcPort, &k.dstPort, &k.proto, &k.ttl,
			&k.inIfIndex, &k.outIfIndex, &k.bytes, &k.packets, &n); err != nil {
			e.t.Fatalf("scan the flows: %v", err)
		}
		out[k] += n
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("read the flows: %v", err)
	}
	return out
}

// ledger reads back every message of the topic and returns the flows' keys
// and the high watermarks of the partitions.
func (e *alEnv) ledger() (map[flowKey]int, map[int]int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := map[flowKey]int{}
	hwms := map[int]int64{}
	var dec flowpb.Decoder
	var r flow.Record
	for p := range alPartitions {
		c, err := kafka.DialLeader(ctx, "tcp", e.broker, alTopic, p)
		if err != nil {
			e.t.Fatalf("dial partition %d: %v", p, err)
		}
		last, err := c.ReadLastOffset()
		c.Close()
		if err != nil {
			e.t.Fatalf("high watermark of partition %d: %v", p, err)
		}
		hwms[p] = last
		if last == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.broker}, Topic: alTopic, Partition: p,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				rd.Close()
				e.t.Fatalf("read partition %d at offset %d of %d: %v", p, rd.Offset(), last, err)
			}
			r = flow.Record{}
			if err := dec.Decode(m.Value, &r); err != nil {
				e.t.Fatalf("partition %d offset %d: not a flow: %v", p, m.Offset, err)
			}
			keys[keyOf(&r)]++
			if m.Offset >= last-1 {
				break
			}
		}
		rd.Close()
	}
	return keys, hwms
}

// checkLedger checks that the topic holds exactly the n flows the inlet
// generated, each with a key of its own.
func (e *alEnv) checkLedger(keys map[flowKey]int, hwms map[int]int64, n int) {
	e.t.Helper()
	var msgs int64
	for p, h := range hwms {
		if h == 0 {
			e.t.Errorf("partition %d of the topic is empty: the exporters should spread over every partition", p)
		}
		msgs += h
	}
	if msgs != int64(n) {
		e.t.Fatalf("the topic holds %d messages, want the %d flows the inlet generated (partitions %v)%s", msgs, n, hwms, e.output())
	}
	if len(keys) != n {
		var dup []string
		for k, c := range keys {
			if c > 1 && len(dup) < 5 {
				dup = append(dup, fmt.Sprintf("%dx %s", c, k))
			}
		}
		e.t.Fatalf("%d distinct flows among the %d of the topic: flows are not identifiable, the test can not count them exactly; e.g.\n%s",
			len(keys), n, strings.Join(dup, "\n"))
	}
}

// waitComplete waits until ClickHouse holds as many distinct flows as the
// ledger (for at most timeout, or until their number stalled for stall),
// then checks that each ledger flow is there and nothing else is. It returns
// the number of rows.
func (e *alEnv) waitComplete(ledger map[flowKey]int, timeout, stall time.Duration, running ...*engineProc) uint64 {
	e.t.Helper()
	start := time.Now()
	want := uint64(len(ledger))
	var got uint64
	changed := time.Now()
	for {
		n := e.distinctKeys()
		if n != got {
			got, changed = n, time.Now()
		}
		if got >= want {
			break
		}
		for _, p := range running {
			select {
			case err := <-p.done:
				p.exited = true
				e.t.Fatalf("an outlet exited (%v) with %d of %d flows in ClickHouse:%s", err, got, want, e.output())
			default:
			}
		}
		if time.Since(start) > timeout || time.Since(changed) > stall {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	waited := time.Since(start).Round(100 * time.Millisecond)
	stored := e.stored()
	var missing []string
	nMissing := 0
	for k := range ledger {
		if stored[k] == 0 {
			if nMissing < 10 {
				missing = append(missing, k.String())
			}
			nMissing++
		}
	}
	var foreign []string
	var total uint64
	for k, c := range stored {
		total += c
		if ledger[k] == 0 && len(foreign) < 10 {
			foreign = append(foreign, k.String())
		}
	}
	if nMissing > 0 {
		e.t.Fatalf("%d of the %d flows the inlet wrote to Kafka are not in ClickHouse after waiting %s (%d rows, %d distinct flows); the first ones:\n%s%s",
			nMissing, want, waited, total, len(stored), strings.Join(missing, "\n"), e.output())
	}
	if len(foreign) > 0 {
		e.t.Errorf("ClickHouse holds flows the inlet never wrote, e.g.:\n%s", strings.Join(foreign, "\n"))
	}
	return total
}

// committed returns the group's committed offset of every partition.
func (e *alEnv) committed() map[int]int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parts := make([]int, alPartitions)
	for i := range parts {
		parts[i] = i
	}
	c := &kafka.Client{Addr: kafka.TCP(e.broker), Timeout: 10 * time.Second}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: alGroup, Topics: map[string][]int{alTopic: parts}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		e.t.Fatalf("fetch the group's offsets: %v", err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[alTopic] {
		if p.Error != nil {
			e.t.Fatalf("offset of partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// metric sums the samples of a metric over its label sets.
func metric(samples map[string]float64, name string) float64 {
	var sum float64
	for k, v := range samples {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// checkInletTotals checks the inlet's stage totals: every generate source
// produced its count and the Kafka sink received n flows, none dropped.
func (e *alEnv) checkInletTotals(log string, n int) {
	e.t.Helper()
	want := map[string][2]int{"sink.kafka.flows": {n, 0}}
	for i := range alSources {
		count := n / alSources
		if i < n%alSources {
			count++
		}
		want[fmt.Sprintf("source.generate.g%02d", i)] = [2]int{0, count}
	}
	checkTotals(e.t, log, want)
}

// outletTotals returns the [flows in, flows out] of the outlet's stages and
// fails on drops, errors and restarts.
func (e *alEnv) outletTotals(log, role string) map[string][2]int {
	e.t.Helper()
	got := map[string][2]int{}
	for _, m := range stageTotals.FindAllStringSubmatch(log, -1) {
		in, _ := strconv.Atoi(m[2])
		out, _ := strconv.Atoi(m[3])
		got[m[1]] = [2]int{in, out}
		if m[4] != "0" || m[5] != "0" || m[6] != "0" {
			e.t.Errorf("%s: stage %s: %s flows dropped, %s errors, %s restarts", role, m[1], m[4], m[5], m[6])
		}
	}
	if len(got) != 2 {
		e.t.Errorf("%s logged the totals of %d stages, want 2:\n%s", role, len(got), tail(log, 40))
	}
	return got
}

// TestKafkaClickHouseOutletKilled runs an inlet and two outlets sharing the
// partitions, kills one outlet with SIGKILL while flows stream, and checks
// that the survivor takes its partitions over: every generated flow ends in
// ClickHouse, and the group's offsets reach the end of every partition.
func TestKafkaClickHouseOutletKilled(t *testing.T) {
	// Against Debian's server only: the 26.7 test server is ClickHouse built
	// as a library (libchdb), which aborts now and then when a client it is
	// answering is killed, as this test does to an outlet. That is the test
	// server's limit, not the engine's; the 26.7 server still runs every
	// other Kafka -> ClickHouse test, the server stop among them.
	t.Run(testenv.ClickHouse18, func(t *testing.T) {
		testKafkaClickHouseOutletKilled(t, testenv.SharedClickHouse(t, testenv.ClickHouse18))
	})
}

func testKafkaClickHouseOutletKilled(t *testing.T, ch *testenv.ClickHouseServer) {
	const (
		n    = 200000
		rate = 20000
	)
	e := newALEnv(t, ch, "e2e_outlet_killed")

	inlet := e.start("inlet", e.inletPipeline(n, rate))
	outlets := []*engineProc{e.start("outlet-a", e.outletPipeline("outlet-a")), e.start("outlet-b", e.outletPipeline("outlet-b"))}
	t.Logf("%s: inlet and two outlets running", e.elapsed())

	// Kill, mid-run, an outlet that is consuming, once ClickHouse holds
	// about 30% of the flows.
	e.waitProc(outlets[0], "30% of the flows in ClickHouse", 60*time.Second, func() bool { return e.rows() >= n*3/10 })
	e.waitProc(outlets[1], "both outlets consuming", 30*time.Second, func() bool {
		a := metric(outlets[0].scrape(), "flowengine_kafka_messages_consumed_total")
		b := metric(outlets[1].scrape(), "flowengine_kafka_messages_consumed_total")
		return a > 0 && b > 0
	})
	victim, survivor := outlets[0], outlets[1]
	before := victim.scrape()
	victimConsumed := metric(before, "flowengine_kafka_messages_consumed_total")
	victimLag := metric(before, "flowengine_kafka_consumer_lag")
	rowsAtKill := e.rows()
	e.kill(victim)
	inletRunning := true
	select {
	case err := <-inlet.done:
		inlet.exited, inletRunning = true, false
		if err != nil {
			t.Fatalf("inlet exited with %v:%s", err, e.output())
		}
	default:
	}
	t.Logf("%s: outlet-a killed (SIGKILL) after consuming %v messages, with %v messages of its partitions not committed; %d rows in ClickHouse; inlet still producing: %v",
		e.elapsed(), victimConsumed, victimLag, rowsAtKill, inletRunning)
	if victimLag == 0 && !inletRunning {
		t.Errorf("outlet-a was killed with nothing left to do: the test does not show a takeover")
	}

	if inletRunning {
		e.waitExit(inlet, "inlet", 60*time.Second)
	}
	e.checkInletTotals(inlet.log.String(), n)
	keys, hwms := e.ledger()
	e.checkLedger(keys, hwms, n)
	t.Logf("%s: inlet done; the topic holds %d flows, each identifiable (partitions %v)", e.elapsed(), n, hwms)

	rows := e.waitComplete(keys, 90*time.Second, 20*time.Second, survivor)
	t.Logf("%s: every flow in ClickHouse: %d rows for %d flows (%d duplicates)", e.elapsed(), rows, n, rows-n)

	metrics := survivor.scrape()
	consumed := metric(metrics, "flowengine_kafka_messages_consumed_total")
	commits := metric(metrics, "flowengine_kafka_commits_total")
	inserted := metric(metrics, "flowengine_clickhouse_rows_inserted_total")
	t.Logf("survivor: %v messages consumed, %v commits, %v rows inserted, %v commit errors", consumed, commits, inserted,
		metric(metrics, "flowengine_kafka_commit_errors_total"))
	if commits == 0 {
		t.Errorf("the surviving outlet committed no offsets")
	}
	if consumed+victimConsumed < n {
		t.Errorf("the outlets consumed %v + %v messages, fewer than the %d of the topic", victimConsumed, consumed, n)
	}
	e.stop(survivor, "outlet-b")
	totals := e.outletTotals(survivor.log.String(), "outlet-b")
	if got := totals["sink.clickhouse.flows"][0]; float64(got) != consumed {
		t.Errorf("outlet-b: sink.clickhouse.flows received %d flows, its source consumed %v", got, consumed)
	}

	// The killed outlet did not commit the end of its partitions (it died
	// with messages left in them): the survivor did, so it took them over.
	offsets := e.committed()
	for p, h := range hwms {
		if offsets[p] != h {
			t.Errorf("partition %d: the group committed offset %d, want the end of the partition %d", p, offsets[p], h)
		}
	}
	if t.Failed() {
		t.Log(e.output())
	}
}

// TestKafkaClickHouseServerDown runs an inlet and an outlet and stops
// ClickHouse while flows stream, until the outlet has retried several times: the outlet retries, Kafka
// holds the flows, and after the restart every flow ends in ClickHouse.
func TestKafkaClickHouseServerDown(t *testing.T) {
	testenv.ForEachClickHouse(t, testKafkaClickHouseServerDown)
}

func testKafkaClickHouseServerDown(t *testing.T, ch *testenv.ClickHouseServer) {
	const (
		n    = 100000
		rate = 10000
	)
	e := newALEnv(t, ch, "e2e_server_down")
	inlet := e.start("inlet", e.inletPipeline(n, rate))
	outlet := e.start("outlet", e.outletPipeline("outlet"))

	e.waitProc(outlet, "20% of the flows in ClickHouse", 60*time.Second, func() bool { return e.rows() >= n/5 })
	rowsAtStop := e.rows()
	t.Logf("%s: stopping ClickHouse", e.elapsed())
	e.ch.Stop()
	t.Logf("%s: ClickHouse stopped with %d rows", e.elapsed(), rowsAtStop)
	// Down until the outlet has retried its INSERT several times (it
	// must not exit meanwhile).
	e.waitProc(outlet, "3 insert retries while ClickHouse is down", 60*time.Second, func() bool {
		return metric(outlet.scrape(), "flowengine_clickhouse_insert_retries_total") >= 3
	})
	retries := metric(outlet.scrape(), "flowengine_clickhouse_insert_retries_total")
	if err := e.ch.Start(); err != nil {
		t.Fatalf("restart ClickHouse: %v%s", err, e.output())
	}
	t.Logf("%s: ClickHouse restarted; %v insert retries while it was down", e.elapsed(), retries)
	if retries == 0 {
		t.Errorf("flowengine_clickhouse_insert_retries_total = 0 while ClickHouse was down")
	}

	e.waitExit(inlet, "inlet", 60*time.Second)
	e.checkInletTotals(inlet.log.String(), n)
	keys, hwms := e.ledger()
	e.checkLedger(keys, hwms, n)

	rows := e.waitComplete(keys, 60*time.Second, 20*time.Second, outlet)
	t.Logf("%s: every flow in ClickHouse: %d rows for %d flows (%d duplicates)", e.elapsed(), rows, n, rows-n)
	metrics := outlet.scrape()
	if c := metric(metrics, "flowengine_kafka_commits_total"); c == 0 {
		t.Errorf("the outlet committed no offsets")
	}
	e.stop(outlet, "outlet")
	t.Logf("%s: outlet stopped", e.elapsed())
	e.outletTotals(outlet.log.String(), "outlet")
	offsets := e.committed()
	for p, h := range hwms {
		if offsets[p] != h {
			t.Errorf("partition %d: the group committed offset %d, want the end of the partition %d", p, offsets[p], h)
		}
	}
	if t.Failed() {
		t.Log(e.output())
	}
}
