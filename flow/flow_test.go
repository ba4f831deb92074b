package flow

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The schema names every Record field, in order, with a kind that matches
// the field's Go type, and protobuf numbers are unique.
func TestSchemaMatchesRecord(t *testing.T) {
	rt := reflect.TypeOf(Record{})
	if rt.NumField() != len(Columns) {
		t.Fatalf("Record has %d fields, schema %d columns", rt.NumField(), len(Columns))
	}
	protos := map[int]string{}
	for i, c := range Columns {
		f := rt.Field(i)
		if f.Name != c.Name {
			t.Errorf("column %d is %s, field is %s", i, c.Name, f.Name)
		}
		want := map[Kind][]reflect.Kind{
			KindTime: {reflect.Struct}, KindAddr: {reflect.Struct}, KindString: {reflect.String},
			KindUint: {reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64},
			KindMAC:  {reflect.Uint64}, KindBoundary: {reflect.Uint8},
		}[c.Kind]
		ok := false
		for _, k := range want {
			ok = ok || f.Type.Kind() == k
		}
		if !ok {
			t.Errorf("%s: kind %d does not fit Go type %s", c.Name, c.Kind, f.Type)
		}
		if c.Kind == KindUint && int(f.Type.Size())*8 != c.Bits {
			t.Errorf("%s: %d bits in the schema, %d in the struct", c.Name, c.Bits, f.Type.Size()*8)
		}
		if prev, dup := protos[c.Proto]; dup || c.Proto <= 0 {
			t.Errorf("%s: protobuf number %d invalid or used by %s", c.Name, c.Proto, prev)
		}
		protos[c.Proto] = c.Name
		if c.ClickHouse == "" || c.DuckDB == "" || c.Description == "" {
			t.Errorf("%s: missing store type or description", c.Name)
		}
	}
}

func sampleRecord() Record {
	ts := time.Date(2026, 11, 26, 10, 30, 0, 500_000_000, time.FixedZone("CET", 3600))
	return Record{
		TimeReceived: ts, TimeFlowStart: ts.Add(-time.Minute), TimeFlowEnd: ts,
		SamplingRate: 1000, ExporterAddress: netip.MustParseAddr("::ffff:192.0.2.1"), ExporterName: "edge1.par",
		SrcAddr: netip.MustParseAddr("198.51.100.7"), DstAddr: netip.MustParseAddr("2001:db8::1"),
		SrcNetMask: 24, DstNetMask: 32, SrcMAC: 0x0011223344ff, SrcAS: 64500, DstAS: 174,
		SrcCountry: "FR", InIfIndex: 17, InIfName: "Gi0/0/17", InIfDescription: "Transit: \"Cogent\"\n\x01",
		InIfSpeed: 10000, InIfBoundary: BoundaryExternal, OutIfBoundary: BoundaryInternal,
		EType: ETypeIPv4, Proto: 6, SrcPort: 443, DstPort: 51000, TCPFlags: 0x12, Bytes: 1500, Packets: 1,
	}
}

// JSON lines: keys are the column names, addresses text (IPv4 never
// mapped), times RFC 3339 UTC, numbers as numbers, boundaries as words.
func TestAppendJSON(t *testing.T) {
	r := sampleRecord()
	line := AppendJSON(nil, &r)
	if !strings.HasSuffix(string(line), "}\n") {
		t.Fatalf("line does not end with }\\n: %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("invalid JSON %q: %v", line, err)
	}
	if len(got) != len(Columns) {
		t.Errorf("%d keys, want %d", len(got), len(Columns))
	}
	for _, c := range Columns {
		if _, ok := got[c.Name]; !ok {
			t.Errorf("key %s missing", c.Name)
		}
	}
	want := map[string]any{
		"TimeReceived": "2026-11-26T09:30:00.5Z", "ExporterAddress": "192.0.2.1", "SrcAddr": "198.51.100.7",
		"DstAddr": "2001:db8::1", "NextHop": nil, "SamplingRate": 1000.0, "SrcMAC": "00:11:22:33:44:ff",
		"InIfDescription": "Transit: \"Cogent\"\n\x01", "InIfBoundary": "external", "OutIfBoundary": "internal",
		"SrcAS": 64500.0, "Proto": 6.0, "Bytes": 1500.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	empty := AppendJSON(nil, &Record{})
	if err := json.Unmarshal(empty, &got); err != nil || got["TimeReceived"] != nil || got["InIfBoundary"] != "" {
		t.Errorf("empty record: %s (%v)", empty, err)
	}
	// Invalid UTF-8 must still give valid JSON.
	r.InIfName = "bad\xffname"
	if err := json.Unmarshal(AppendJSON(nil, &r), &got); err != nil {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestAppendJSONAllocations(t *testing.T) {
	r := sampleRecord()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &r) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times per flow", n)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := sampleRecord()
	buf := make([]byte, 0, 4096)
	var e JSONEncoder
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0], &r)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
}

// Reference counting: completion fires once, after the last holder, and a
// clone completes its parent.
func TestBatchCompletion(t *testing.T) {
	b := NewBatch()
	b.Append().Bytes = 1
	fired := 0
	b.OnDone(func() { fired++ })
	b.Retain(2) // three consumers
	c := b.Clone()
	if c.Len() != 1 || &c.Records[0] == &b.Records[0] {
		t.Fatal("clone must copy the records")
	}
	b.Release()
	b.Release()
	if fired != 0 {
		t.Fatal("completion fired before every holder released")
	}
	c.Release()
	if fired != 1 {
		t.Fatalf("completion fired %d times, want 1", fired)
	}
	defer func() {
		if recover() == nil {
			t.Error("over-release must panic")
		}
	}()
	b.Release()
}

func TestBatchAppendGrows(t *testing.T) {
	b := NewBatch()
	defer b.Release()
	for i := 0; i < BatchSize+10; i++ {
		b.Append().Packets = uint64(i)
	}
	if b.Len() != BatchSize+10 || b.Records[BatchSize+5].Packets != uint64(BatchSize+5) {
		t.Fatalf("append: len %d", b.Len())
	}
}

// The generated encoder writes every column, in schema order.
func TestJSONEncoderMatchesSchema(t *testing.T) {
	r := sampleRecord()
	line := string(AppendJSON(nil, &r))
	pos := -1
	for _, c := range Columns {
		i := strings.Index(line, `"`+c.Name+`":`)
		if i < 0 || i < pos {
			t.Fatalf("key %s missing or out of order", c.Name)
		}
		pos = i
	}
}

// A failed clone fails its parent; the flag is visible to callbacks and
// cleared when the batch goes back to the pool.
func TestBatchFailPropagates(t *testing.T) {
	b := NewBatch()
	b.Append()
	var failed bool
	b.OnDone(func() { failed = b.Failed() })
	c := b.Clone()
	c.Fail()
	c.Release()
	if !failed {
		t.Fatal("the parent's completion must see the clone's failure")
	}
	if n := NewBatch(); n.Failed() {
		t.Error("a pooled batch kept its failure mark")
	}
}
