package sflow

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowengine/flowengine/flow"
)

// FuzzDecode feeds arbitrary datagrams to the decoder: it must never panic,
// never keep records from a datagram it rejects, and never produce more
// records than MaxFlows allows. The seed corpus is in testdata/fuzz/FuzzDecode
// (regenerate it with SFLOW_WRITE_CORPUS=1 go test -run TestWriteCorpus).
func FuzzDecode(f *testing.F) {
	for _, d := range differentialDatagrams() {
		f.Add(d)
	}
	dec := Decoder{DefaultRate: Uniform(1)}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := flow.NewBatch()
		defer b.Release()
		res, err := dec.Decode(data, testSrc, testNow, b)
		if err != nil && b.Len() != 0 {
			t.Fatalf("rejected datagram left %d records", b.Len())
		}
		if res.Flows != b.Len() {
			t.Fatalf("Result.Flows = %d, batch has %d", res.Flows, b.Len())
		}
		if b.Len() > MaxFlows(len(data)) {
			t.Fatalf("%d flows from %d bytes, MaxFlows says %d", b.Len(), len(data), MaxFlows(len(data)))
		}
	})
}

func TestWriteCorpus(t *testing.T) {
	if os.Getenv("SFLOW_WRITE_CORPUS") == "" {
		return // only on demand: it rewrites testdata
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ds := differentialDatagrams()
	names := make([]string, 0, len(ds))
	for n := range ds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", ds[n])
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzSequenceTracking feeds datagrams (each preceded by its length) to the
// decoder and the sequence tracking of the source, with a bound of 4 agent
// and sub-agent pairs: whatever comes, the tracking stays bounded and lost
// datagrams are never negative. The seeds are the hostile sequences: many
// agents and sub-agents, sequence numbers jumping back and forth.
func FuzzSequenceTracking(f *testing.F) {
	frame := func(ds ...[]byte) []byte {
		var out []byte
		for _, d := range ds {
			out = append(out, byte(len(d)>>8), byte(len(d)))
			out = append(out, d...)
		}
		return out
	}
	var agents, chaos [][]byte
	for i := uint32(0); i < 20; i++ {
		agents = append(agents, datagramSeq(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), i, i))
		chaos = append(chaos, datagramSeq(testAgent, i%3, i*2654435761))
	}
	f.Add(frame(agents...))
	f.Add(frame(chaos...))
	f.Add(frame(datagramSeq(testAgent, 0, 1), datagramSeq(testAgent, 0, 5), datagramSeq(testAgent, 0, 3), datagramSeq(testAgent, 0, 0xffffffff), datagramSeq(testAgent, 0, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := newMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		em := m.labelled("x")
		tr := newSequences(4)
		var dec Decoder
		b := flow.NewBatch()
		defer b.Release()
		now := testNow
		for len(data) >= 2 {
			n := min(int(data[0])<<8|int(data[1]), len(data)-2)
			d := data[2 : 2+n]
			data = data[2+n:]
			b.Records = b.Records[:0]
			res, err := dec.Decode(d, testSrc, now, b)
			if err != nil {
				continue
			}
			tr.check(res.Agent, res.SubAgentID, res.SequenceNumber, now, em)
			if len(tr.next) > 4 {
				t.Fatalf("%d pairs tracked, bound 4", len(tr.next))
			}
			now = now.Add(time.Millisecond)
		}
		if v := metricOf(em.lost); v < 0 {
			t.Fatalf("lost %v", v)
		}
	})
}

func metricOf(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
