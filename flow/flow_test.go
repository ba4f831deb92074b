package flow

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
			KindASPath: {reflect.Struct}, KindCommunities: {reflect.Struct}, KindLargeCommunities: {reflect.Struct},
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
		if c.Description == "" {
			t.Errorf("%s: missing description", c.Name)
		}
		if c.Kind.String() == fmt.Sprintf("Kind(%d)", c.Kind) {
			t.Errorf("%s: unknown kind %d", c.Name, c.Kind)
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

// goldenRecords are records whose JSON lines are frozen in TestAppendJSONGolden.
func goldenRecords() []Record {
	full := Record{
		TimeReceived:  time.Date(2025, 3, 1, 23, 59, 59, 999_999_999, time.UTC),
		TimeFlowStart: time.Date(2025, 3, 1, 23, 58, 0, 1000, time.UTC),
		TimeFlowEnd:   time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC),
		SamplingRate:  ^uint64(0), FlowDirection: 1,
		ExporterAddress: netip.MustParseAddr("10.0.0.255"), ExporterName: "r1", ExporterGroup: "edge",
		ExporterRole: "peering", ExporterSite: "paris", ExporterRegion: "eu", ExporterTenant: "acme",
		SrcAddr: netip.MustParseAddr("::ffff:0.0.0.0"), DstAddr: netip.MustParseAddr("fe80::1%eth0"),
		SrcNetMask: 128, DstNetMask: 9, NextHop: netip.MustParseAddr("2001:db8:0:1:2:3:4:5"),
		SrcMAC: 0xffffffffffff, DstMAC: 0x0a0b0c0d0e0f, SrcVlan: 4095, DstVlan: 1,
		SrcAS: 4294967295, DstAS: 10, SrcCountry: "FR", DstCountry: "US",
		SrcNetName: "Ünïcødé ✓", DstNetName: "tab\there", SrcNetRole: `back\slash`, DstNetRole: "\u2028\u2029",
		SrcNetSite: "\x00\x1f\x7f", DstNetSite: "<html>&", SrcNetRegion: "bad\xff\xfeutf8\xe2\x82", DstNetRegion: "r",
		SrcNetTenant: "t1", DstNetTenant: "t2",
		InIfIndex: 99, OutIfIndex: 100, InIfName: "xe-0/0/0", OutIfName: "et-1/0/0",
		InIfDescription: "Transit: Cogent", OutIfDescription: "core\r\n",
		InIfSpeed: 100000, OutIfSpeed: 400000, InIfConnectivity: "transit", OutIfConnectivity: "core",
		InIfProvider: "cogent", OutIfProvider: "x", InIfBoundary: BoundaryInternal, OutIfBoundary: Boundary(7),
		EType: ETypeIPv6, Proto: 58, SrcPort: 65535, DstPort: 10, TCPFlags: 255, IPTos: 0xb8, IPTTL: 255,
		ICMPType: 128, ICMPCode: 1, ForwardingStatus: 64, Bytes: 1 << 50, Packets: 12345678901234567890,
		DstASPath:           MakeUint32s([]uint32{64500, 4294967295, 0, 10}),
		DstCommunities:      MakeUint32s([]uint32{65000<<16 | 100, 0xffffffff}),
		DstLargeCommunities: MakeLargeCommunities([]LargeCommunity{{4200000000, 1, 2}}),
	}
	return []Record{sampleRecord(), {}, full}
}

// The JSON lines of a few records are frozen: a faster encoder must write the
// same bytes.
func TestAppendJSONGolden(t *testing.T) {
	want := []string{
		"{\"TimeReceived\":\"2026-11-26T09:30:00.5Z\",\"TimeFlowStart\":\"2026-11-26T09:29:00.5Z\",\"TimeFlowEnd\":\"2026-11-26T09:30:00.5Z\",\"SamplingRate\":1000,\"FlowDirection\":0,\"ExporterAddress\":\"192.0.2.1\",\"ExporterName\":\"edge1.par\",\"ExporterGroup\":\"\",\"ExporterRole\":\"\",\"ExporterSite\":\"\",\"ExporterRegion\":\"\",\"ExporterTenant\":\"\",\"SrcAddr\":\"198.51.100.7\",\"DstAddr\":\"2001:db8::1\",\"SrcNetMask\":24,\"DstNetMask\":32,\"NextHop\":null,\"SrcMAC\":\"00:11:22:33:44:ff\",\"DstMAC\":\"00:00:00:00:00:00\",\"SrcVlan\":0,\"DstVlan\":0,\"SrcAS\":64500,\"DstAS\":174,\"SrcCountry\":\"FR\",\"DstCountry\":\"\",\"SrcNetName\":\"\",\"DstNetName\":\"\",\"SrcNetRole\":\"\",\"DstNetRole\":\"\",\"SrcNetSite\":\"\",\"DstNetSite\":\"\",\"SrcNetRegion\":\"\",\"DstNetRegion\":\"\",\"SrcNetTenant\":\"\",\"DstNetTenant\":\"\",\"InIfIndex\":17,\"OutIfIndex\":0,\"InIfName\":\"Gi0/0/17\",\"OutIfName\":\"\",\"InIfDescription\":\"Transit: \\\"Cogent\\\"\\n\\u0001\",\"OutIfDescription\":\"\",\"InIfSpeed\":10000,\"OutIfSpeed\":0,\"InIfConnectivity\":\"\",\"OutIfConnectivity\":\"\",\"InIfProvider\":\"\",\"OutIfProvider\":\"\",\"InIfBoundary\":\"external\",\"OutIfBoundary\":\"internal\",\"EType\":2048,\"Proto\":6,\"SrcPort\":443,\"DstPort\":51000,\"TCPFlags\":18,\"IPTos\":0,\"IPTTL\":0,\"ICMPType\":0,\"ICMPCode\":0,\"ForwardingStatus\":0,\"Bytes\":1500,\"Packets\":1,\"DstASPath\":[],\"DstCommunities\":[],\"DstLargeCommunities\":[]}",
		"{\"TimeReceived\":null,\"TimeFlowStart\":null,\"TimeFlowEnd\":null,\"SamplingRate\":0,\"FlowDirection\":0,\"ExporterAddress\":null,\"ExporterName\":\"\",\"ExporterGroup\":\"\",\"ExporterRole\":\"\",\"ExporterSite\":\"\",\"ExporterRegion\":\"\",\"ExporterTenant\":\"\",\"SrcAddr\":null,\"DstAddr\":null,\"SrcNetMask\":0,\"DstNetMask\":0,\"NextHop\":null,\"SrcMAC\":\"00:00:00:00:00:00\",\"DstMAC\":\"00:00:00:00:00:00\",\"SrcVlan\":0,\"DstVlan\":0,\"SrcAS\":0,\"DstAS\":0,\"SrcCountry\":\"\",\"DstCountry\":\"\",\"SrcNetName\":\"\",\"DstNetName\":\"\",\"SrcNetRole\":\"\",\"DstNetRole\":\"\",\"SrcNetSite\":\"\",\"DstNetSite\":\"\",\"SrcNetRegion\":\"\",\"DstNetRegion\":\"\",\"SrcNetTenant\":\"\",\"DstNetTenant\":\"\",\"InIfIndex\":0,\"OutIfIndex\":0,\"InIfName\":\"\",\"OutIfName\":\"\",\"InIfDescription\":\"\",\"OutIfDescription\":\"\",\"InIfSpeed\":0,\"OutIfSpeed\":0,\"InIfConnectivity\":\"\",\"OutIfConnectivity\":\"\",\"InIfProvider\":\"\",\"OutIfProvider\":\"\",\"InIfBoundary\":\"\",\"OutIfBoundary\":\"\",\"EType\":0,\"Proto\":0,\"SrcPort\":0,\"DstPort\":0,\"TCPFlags\":0,\"IPTos\":0,\"IPTTL\":0,\"ICMPType\":0,\"ICMPCode\":0,\"ForwardingStatus\":0,\"Bytes\":0,\"Packets\":0,\"DstASPath\":[],\"DstCommunities\":[],\"DstLargeCommunities\":[]}",
		"{\"TimeReceived\":\"2025-03-01T23:59:59.999999999Z\",\"TimeFlowStart\":\"2025-03-01T23:58:00.000001Z\",\"TimeFlowEnd\":\"2025-03-02T00:00:00Z\",\"SamplingRate\":18446744073709551615,\"FlowDirection\":1,\"ExporterAddress\":\"10.0.0.255\",\"ExporterName\":\"r1\",\"ExporterGroup\":\"edge\",\"ExporterRole\":\"peering\",\"ExporterSite\":\"paris\",\"ExporterRegion\":\"eu\",\"ExporterTenant\":\"acme\",\"SrcAddr\":\"0.0.0.0\",\"DstAddr\":\"fe80::1%eth0\",\"SrcNetMask\":128,\"DstNetMask\":9,\"NextHop\":\"2001:db8:0:1:2:3:4:5\",\"SrcMAC\":\"ff:ff:ff:ff:ff:ff\",\"DstMAC\":\"0a:0b:0c:0d:0e:0f\",\"SrcVlan\":4095,\"DstVlan\":1,\"SrcAS\":4294967295,\"DstAS\":10,\"SrcCountry\":\"FR\",\"DstCountry\":\"US\",\"SrcNetName\":\"Ünïcødé ✓\",\"DstNetName\":\"tab\\there\",\"SrcNetRole\":\"back\\\\slash\",\"DstNetRole\":\"\u2028\u2029\",\"SrcNetSite\":\"\\u0000\\u001f\x7f\",\"DstNetSite\":\"<html>&\",\"SrcNetRegion\":\"bad\\ufffd\\ufffdutf8\\ufffd\\ufffd\",\"DstNetRegion\":\"r\",\"SrcNetTenant\":\"t1\",\"DstNetTenant\":\"t2\",\"InIfIndex\":99,\"OutIfIndex\":100,\"InIfName\":\"xe-0/0/0\",\"OutIfName\":\"et-1/0/0\",\"InIfDescription\":\"Transit: Cogent\",\"OutIfDescription\":\"core\\r\\n\",\"InIfSpeed\":100000,\"OutIfSpeed\":400000,\"InIfConnectivity\":\"transit\",\"OutIfConnectivity\":\"core\",\"InIfProvider\":\"cogent\",\"OutIfProvider\":\"x\",\"InIfBoundary\":\"internal\",\"OutIfBoundary\":\"\",\"EType\":34525,\"Proto\":58,\"SrcPort\":65535,\"DstPort\":10,\"TCPFlags\":255,\"IPTos\":184,\"IPTTL\":255,\"ICMPType\":128,\"ICMPCode\":1,\"ForwardingStatus\":64,\"Bytes\":1125899906842624,\"Packets\":12345678901234567890,\"DstASPath\":[64500,4294967295,0,10],\"DstCommunities\":[\"65000:100\",\"65535:65535\"],\"DstLargeCommunities\":[\"4200000000:1:2\"]}",
	}
	var e JSONEncoder
	for i, r := range goldenRecords() {
		for pass := 0; pass < 2; pass++ { // cache miss, then hit
			got := string(e.Append(nil, &r))
			if got != want[i]+"\n" {
				t.Errorf("record %d, pass %d:\n got %s\nwant %s", i, pass, got, want[i])
			}
		}
	}
}

// refAppendJSON is a plain encoder of the JSON-lines format, driven by the
// schema: the fast generated encoder must agree with it byte for byte.
func refAppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, '{')
	for i, c := range Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, c.Name...)
		dst = append(dst, '"', ':')
		acc := ColumnAccessors[i]
		switch c.Kind {
		case KindTime:
			if v := acc.Time(r); v.IsZero() {
				dst = append(dst, "null"...)
			} else {
				dst = strconv.AppendQuote(dst, v.UTC().Format(time.RFC3339Nano))
			}
		case KindUint:
			dst = strconv.AppendUint(dst, acc.Uint(r), 10)
		case KindMAC:
			m := acc.Uint(r)
			dst = fmt.Appendf(dst, `"%02x:%02x:%02x:%02x:%02x:%02x"`, byte(m>>40), byte(m>>32), byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
		case KindBoundary:
			dst = strconv.AppendQuote(dst, Boundary(acc.Uint(r)).String())
		case KindAddr:
			if v := acc.Addr(r); v.IsValid() {
				dst = strconv.AppendQuote(dst, v.Unmap().String())
			} else {
				dst = append(dst, "null"...)
			}
		case KindString:
			dst = refAppendJSONString(dst, acc.String(r))
		case KindASPath, KindCommunities:
			var vals []any
			for v := range acc.Uint32s(r).All() {
				if c.Kind == KindASPath {
					vals = append(vals, v)
				} else {
					vals = append(vals, fmt.Sprintf("%d:%d", v>>16, v&0xffff))
				}
			}
			dst = refAppendJSONList(dst, vals)
		case KindLargeCommunities:
			var vals []any
			for v := range acc.LargeCommunities(r).All() {
				vals = append(vals, fmt.Sprintf("%d:%d:%d", v.ASN, v.Local1, v.Local2))
			}
			dst = refAppendJSONList(dst, vals)
		}
	}
	return append(dst, '}', '\n')
}

// refAppendJSONList writes vals as a JSON array through encoding/json.
func refAppendJSONList(dst []byte, vals []any) []byte {
	if vals == nil {
		vals = []any{}
	}
	b, err := json.Marshal(vals)
	if err != nil {
		panic(err)
	}
	return append(dst, b...)
}

// refAppendJSONString quotes s rune by rune: ", \ and control characters
// escaped, invalid UTF-8 bytes replaced by \ufffd, everything else as is.
func refAppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

var jsonTestStrings = []string{
	"", "", "", "a", "edge1.paris", "FR", "Transit: \"Cogent\"", "Ünïcødé ✓", "\x00\x01\x1f\x7f",
	"bad\xffname", "\xe2\x82", "tail\xe2", "\\\\", "line\nfeed\rtab\t", "\u2028", "😀 emoji", strings.Repeat("long ", 40),
}

// randomRecord fills each column with a random value, zero one time in three.
func randomRecord(rng *rand.Rand) Record {
	var r Record
	base := time.Date(2025, 6, 30, 23, 59, 0, 0, time.UTC).Unix()
	for i, c := range Columns {
		if rng.IntN(3) == 0 {
			continue
		}
		acc := ColumnAccessors[i]
		switch c.Kind {
		case KindTime:
			sec := base + rng.Int64N(180) - 90
			if rng.IntN(10) == 0 { // from year 1 to 9999
				sec = rng.Int64N(253402300800+62135596800) - 62135596800
			}
			var nsec int64
			switch rng.IntN(4) {
			case 1:
				nsec = rng.Int64N(1000) * 1_000_000
			case 2:
				nsec = rng.Int64N(1_000_000_000)
			case 3:
				nsec = rng.Int64N(10) * 100_000_000
			}
			zones := []*time.Location{time.UTC, time.FixedZone("X", -7*3600), time.FixedZone("Y", 5*3600+1800)}
			acc.SetTime(&r, time.Unix(sec, nsec).In(zones[rng.IntN(len(zones))]))
		case KindUint, KindMAC:
			bits := c.Bits
			switch rng.IntN(3) {
			case 0:
				acc.SetUint(&r, rng.Uint64N(10))
			case 1:
				acc.SetUint(&r, rng.Uint64N(1000))
			default:
				acc.SetUint(&r, rng.Uint64()>>(64-bits))
			}
		case KindBoundary:
			acc.SetUint(&r, rng.Uint64N(4))
		case KindString:
			acc.SetString(&r, jsonTestStrings[rng.IntN(len(jsonTestStrings))])
		case KindAddr:
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			switch rng.IntN(4) {
			case 0:
				acc.SetAddr(&r, netip.AddrFrom4([4]byte(b[:4])))
			case 1:
				acc.SetAddr(&r, netip.AddrFrom16(netip.AddrFrom4([4]byte(b[:4])).As16()))
			case 2: // zero groups, in runs of any length
				for g := 0; g < 8; g++ {
					if rng.IntN(2) == 0 {
						b[2*g], b[2*g+1] = 0, 0
					} else if rng.IntN(2) == 0 {
						b[2*g] = 0 // fewer digits
					}
				}
				acc.SetAddr(&r, netip.AddrFrom16(b))
			default:
				acc.SetAddr(&r, netip.AddrFrom16(b))
			}
		case KindASPath, KindCommunities:
			v := make([]uint32, rng.IntN(12))
			for i := range v {
				v[i] = rng.Uint32() >> (rng.IntN(4) * 8)
			}
			acc.SetUint32s(&r, MakeUint32s(v))
		case KindLargeCommunities:
			v := make([]LargeCommunity, rng.IntN(4))
			for i := range v {
				v[i] = LargeCommunity{rng.Uint32(), rng.Uint32N(100), rng.Uint32() >> 8}
			}
			acc.SetLargeCommunities(&r, MakeLargeCommunities(v))
		}
	}
	return r
}

// Random records, through one encoder so that its time cache sees hits,
// misses and collisions: the output agrees with the reference encoder.
func TestAppendJSONMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var e JSONEncoder
	var buf []byte
	for i := 0; i < 20000; i++ {
		r := randomRecord(rng)
		buf = e.Append(buf[:0], &r)
		if want := refAppendJSON(nil, &r); string(buf) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, buf, want)
		}
		if !json.Valid(buf) {
			t.Fatalf("record %d: invalid JSON %s", i, buf)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonTestStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		if want := refAppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}

var genJSON = flag.Bool("gen-json", false, "rewrite json_fields.go from the schema")

// jsonZeroGroups are runs of columns that one optional stage fills, so that
// they are often all zero together: the generated encoder writes such a run
// with one copy of constant text when it is.
var jsonZeroGroups = [][]string{
	{"ExporterGroup", "ExporterRole", "ExporterSite", "ExporterRegion", "ExporterTenant"},
	{"SrcMAC", "DstMAC", "SrcVlan", "DstVlan"},
	{"SrcNetName", "DstNetName", "SrcNetRole", "DstNetRole", "SrcNetSite", "DstNetSite",
		"SrcNetRegion", "DstNetRegion", "SrcNetTenant", "DstNetTenant"},
	{"InIfConnectivity", "OutIfConnectivity", "InIfProvider", "OutIfProvider", "InIfBoundary", "OutIfBoundary"},
	{"ICMPType", "ICMPCode"},
	{"DstASPath", "DstCommunities", "DstLargeCommunities"},
}

// jsonGen writes the generated encoder. Constant text (keys and punctuation)
// is held in pending until a value must be written, so that each column
// costs one append of constant text at most.
type jsonGen struct {
	b       strings.Builder
	pending string
	times   int
}

func goLiteral(s string) string {
	if strings.ContainsAny(s, "`\n") {
		return strconv.Quote(s)
	}
	return "`" + s + "`"
}

// take returns pending followed by s as a Go literal, and empties pending.
func (g *jsonGen) take(s string) string {
	s = g.pending + s
	g.pending = ""
	return goLiteral(s)
}

func jsonZeroText(c Column) string {
	switch c.Kind {
	case KindUint:
		return "0"
	case KindString, KindBoundary:
		return `""`
	case KindMAC:
		return `"00:00:00:00:00:00"`
	case KindASPath, KindCommunities, KindLargeCommunities:
		return `[]`
	}
	panic("column " + c.Name + " can not be in a zero group")
}

func (g *jsonGen) column(c Column, first bool) {
	key := `,"` + c.Name + `":`
	if first {
		key = key[1:]
	}
	f := "r." + c.Name
	w := func(format string, args ...any) { fmt.Fprintf(&g.b, format, args...) }
	switch c.Kind {
	case KindTime:
		w("\tdst = append(dst, %s...)\n\tdst = e.appendTime(dst, %s, %d)\n", g.take(key), f, g.times)
		g.times++
	case KindUint:
		zero, nonZero := goLiteral(g.pending+key+"0"), g.take(key)
		w("\tif %s == 0 {\n\t\tdst = append(dst, %s...)\n\t} else {\n\t\tdst = append(dst, %s...)\n\t\tdst = appendUint(dst, uint64(%s))\n\t}\n",
			f, zero, nonZero, f)
	case KindString:
		w("\tdst = append(dst, %s...)\n\tif %s != \"\" {\n\t\tdst = appendJSONStringBody(dst, %s)\n\t}\n", g.take(key+`"`), f, f)
		g.pending = `"`
	case KindAddr:
		valid, null := goLiteral(g.pending+key), g.take(key+"null")
		w("\tif %s.IsValid() {\n\t\tdst = append(dst, %s...)\n\t\tdst = appendJSONAddr(dst, %s)\n\t} else {\n\t\tdst = append(dst, %s...)\n\t}\n", f, valid, f, null)
	case KindMAC:
		zero, nonZero := goLiteral(g.pending+key+`"00:00:00:00:00:00"`), g.take(key)
		w("\tif %s == 0 {\n\t\tdst = append(dst, %s...)\n\t} else {\n\t\tdst = append(dst, %s...)\n\t\tdst = appendJSONMAC(dst, %s)\n\t}\n", f, zero, nonZero, f)
	case KindBoundary:
		in := g.pending
		g.pending = ""
		w("\tswitch %s {\n", f)
		for _, b := range []struct {
			name string
			v    Boundary
		}{{"BoundaryExternal", BoundaryExternal}, {"BoundaryInternal", BoundaryInternal}} {
			w("\tcase %s:\n\t\tdst = append(dst, %s...)\n", b.name, goLiteral(in+key+`"`+b.v.String()+`"`))
		}
		w("\tdefault:\n\t\tdst = append(dst, %s...)\n\t}\n", goLiteral(in+key+`""`))
	case KindASPath, KindCommunities, KindLargeCommunities:
		fn := map[Kind]string{KindASPath: "appendJSONASPath", KindCommunities: "appendJSONCommunities",
			KindLargeCommunities: "appendJSONLargeCommunities"}[c.Kind]
		w("\tdst = append(dst, %s...)\n\tdst = %s(dst, %s)\n", g.take(key), fn, f)
	default:
		panic(fmt.Sprintf("column %s: unknown kind %d", c.Name, c.Kind))
	}
}

// generateJSONFields returns the source of json_fields.go.
func generateJSONFields() ([]byte, error) {
	group := map[string][]string{}
	for _, names := range jsonZeroGroups {
		group[names[0]] = names
	}
	g := &jsonGen{pending: "{"}
	g.b.WriteString(`// Code generated by TestJSONFieldsGenerated from the schema; DO NOT EDIT.
// After changing the columns, run: go test ./flow -run TestJSONFieldsGenerated -gen-json

package flow

func (e *JSONEncoder) appendFields(dst []byte, r *Record) []byte {
`)
	for i := 0; i < len(Columns); i++ {
		names, ok := group[Columns[i].Name]
		if !ok {
			g.column(Columns[i], i == 0)
			continue
		}
		in := g.pending
		var zero string
		var cond []string
		sub := &jsonGen{pending: in, times: g.times}
		for j, name := range names {
			c := Columns[i+j]
			if c.Name != name {
				return nil, fmt.Errorf("zero group %v: %s is not column %d", names, name, i+j)
			}
			zero += `,"` + c.Name + `":` + jsonZeroText(c)
			if c.Kind == KindString {
				cond = append(cond, "uint64(len(r."+c.Name+"))")
			} else if c.Kind.IsList() {
				cond = append(cond, "uint64(len(r."+c.Name+".Key()))")
			} else {
				cond = append(cond, "uint64(r."+c.Name+")")
			}
			sub.column(c, i+j == 0)
		}
		if !strings.HasSuffix(zero, sub.pending) {
			return nil, fmt.Errorf("zero group %v: text %q does not end with %q", names, zero, sub.pending)
		}
		fmt.Fprintf(&g.b, "\t// %s to %s, all zero or not.\n\tif %s == 0 {\n\t\tdst = append(dst, %s...)\n\t} else {\n%s\t}\n",
			names[0], names[len(names)-1], strings.Join(cond, "|"), goLiteral(in+strings.TrimSuffix(zero, sub.pending)),
			indent(sub.b.String()))
		g.pending = sub.pending
		i += len(names) - 1
	}
	fmt.Fprintf(&g.b, "\treturn append(dst, %s...)\n}\n\n", g.take("}\n"))
	fmt.Fprintf(&g.b, "// jsonTimeColumns is the number of time columns, each with its cache slot.\nconst jsonTimeColumns = %d\n", g.times)
	return format.Source([]byte(splitAppends(g.b.String())))
}

var appendLiteral = regexp.MustCompile("(?m)^(\t+)dst = append\\(dst, `([^`]{17,48})`\\.\\.\\.\\)$")

// splitAppends cuts appends of constant text of 17 to 48 bytes into appends
// of 16 bytes at most: the compiler copies those inline, and calls memmove
// for longer ones, which costs more for short texts.
func splitAppends(code string) string {
	return appendLiteral.ReplaceAllStringFunc(code, func(line string) string {
		m := appendLiteral.FindStringSubmatch(line)
		indent, text := m[1], m[2]
		var out []string
		for len(text) > 0 {
			n := min(len(text), 16)
			out = append(out, indent+"dst = append(dst, `"+text[:n]+"`...)")
			text = text[n:]
		}
		return strings.Join(out, "\n")
	})
}

func indent(code string) string {
	lines := strings.SplitAfter(code, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "")
}

// json_fields.go is what the generator writes from the current schema.
func TestJSONFieldsGenerated(t *testing.T) {
	src, err := generateJSONFields()
	if err != nil {
		t.Fatal(err)
	}
	if *genJSON {
		if err := os.WriteFile("json_fields.go", src, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile("json_fields.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != string(src) {
		t.Error("json_fields.go is stale: run go test ./flow -run TestJSONFieldsGenerated -gen-json")
	}
}

// BenchmarkAppendJSONRandom encodes records of random content and times, so
// that the time cache misses often and strings take the escaping path (a
// worst case: real flows repeat their strings and seconds).
func BenchmarkAppendJSONRandom(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]Record, 1024)
	for i := range recs {
		recs[i] = randomRecord(rng)
	}
	buf := make([]byte, 0, 8192)
	var e JSONEncoder
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = e.Append(buf[:0], &recs[i&1023])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
}

func TestAppendUint(t *testing.T) {
	values := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 10001, 99999, 100000,
		1<<16 - 1, 1<<32 - 1, 1<<63 - 1, 1 << 63, ^uint64(0) - 1, ^uint64(0)}
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 10000; i++ {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	for _, v := range values {
		if got, want := string(appendUint(nil, v)), strconv.FormatUint(v, 10); got != want {
			t.Errorf("appendUint(%d) = %s", v, got)
		}
	}
}
