package flowpb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/flowengine/flowengine/flow"
)

// sample returns a record with every column set to a non-zero value.
var (
	ifNames   = []string{"xe-0/0/0", "xe-0/0/1", "xe-0/1/0", "et-1/0/0", "Gi0/1", "Gi0/2", "Te1/1", "Te1/2"}
	countries = []string{"FR", "US", "DE", "GB", "NL", "JP", "BR", "IN", "CN", "ZA", "", "CA"}
	exporters = []string{"edge1.paris", "edge2.paris", "edge1.nyc", "core1.nyc"}
)

// sample returns a record with every column set to a non-zero value; the
// strings vary with i as they do in a stream of flows from a few exporters.
func sample(i int) flow.Record {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC).Add(time.Duration(i) * time.Second)
	return flow.Record{
		TimeReceived: t0, TimeFlowStart: t0.Add(-time.Minute), TimeFlowEnd: t0.Add(-time.Second),
		SamplingRate: 1000, FlowDirection: 1,
		ExporterAddress: netip.MustParseAddr("192.0.2.1"), ExporterName: exporters[i/7%len(exporters)],
		ExporterGroup: "edge", ExporterRole: "peering", ExporterSite: "paris", ExporterRegion: "eu", ExporterTenant: "acme",
		SrcAddr: netip.MustParseAddr("2001:db8::1"), DstAddr: netip.MustParseAddr("198.51.100.7"),
		SrcNetMask: 48, DstNetMask: 24, NextHop: netip.MustParseAddr("203.0.113.254"),
		SrcMAC: 0x001122334455, DstMAC: 0xaabbccddeeff, SrcVlan: 100, DstVlan: 4094,
		SrcAS: 64512, DstAS: 4200000000, SrcCountry: countries[i%len(countries)], DstCountry: countries[i/3%len(countries)],
		SrcNetName: "office", DstNetName: "dc", SrcNetRole: "users", DstNetRole: "servers",
		SrcNetSite: "paris", DstNetSite: "nyc", SrcNetRegion: "eu", DstNetRegion: "us",
		SrcNetTenant: "a", DstNetTenant: "b",
		InIfIndex: 10, OutIfIndex: 4000000, InIfName: ifNames[i%len(ifNames)], OutIfName: ifNames[i/5%len(ifNames)],
		InIfDescription: "Transit: Cogent", OutIfDescription: "core",
		InIfSpeed: 100000, OutIfSpeed: 1 << 40, InIfConnectivity: "transit", OutIfConnectivity: "core",
		InIfProvider: "cogent", OutIfProvider: "", InIfBoundary: flow.BoundaryExternal, OutIfBoundary: flow.BoundaryInternal,
		EType: flow.ETypeIPv6, Proto: 6, SrcPort: 443, DstPort: 65535, TCPFlags: 0x1b, IPTos: 0xb8, IPTTL: 64,
		ICMPType: 3, ICMPCode: 4, ForwardingStatus: 64,
		Bytes: 1 << 50, Packets: uint64(i + 1),
		DstASPath:           paths[i%len(paths)],
		DstCommunities:      flow.MakeUint32s([]uint32{65000<<16 | 100, 65000<<16 | uint32(i%3)}),
		DstLargeCommunities: flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 4200000000, Local1: 1, Local2: uint32(i % 2)}}),
	}
}

var paths = []flow.Uint32s{flow.MakeUint32s([]uint32{174, 3356, 64500}), flow.MakeUint32s([]uint32{6939, 4200000000}), {}}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// valuesOf returns test values for a column: edge cases of its kind.
func valuesOf(c flow.Column) []any {
	switch c.Kind {
	case flow.KindTime:
		return []any{time.Time{}, time.Unix(0, 1).UTC(), time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}
	case flow.KindUint, flow.KindMAC:
		max := uint64(1)<<c.Bits - 1
		if c.Bits == 64 {
			max = ^uint64(0)
		}
		return []any{uint64(0), uint64(1), uint64(127), uint64(128), max}
	case flow.KindBoundary:
		return []any{uint64(flow.BoundaryUndefined), uint64(flow.BoundaryExternal), uint64(flow.BoundaryInternal)}
	case flow.KindString:
		return []any{"", "x", "Ünïcødé ✓", strings.Repeat("long", 100)}
	case flow.KindAddr:
		return []any{netip.Addr{}, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("192.0.2.1"),
			netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::"), netip.MustParseAddr("::ffff:203.0.113.9")}
	case flow.KindASPath, flow.KindCommunities:
		return []any{flow.Uint32s{}, flow.MakeUint32s([]uint32{0}), flow.MakeUint32s([]uint32{64500, 127, 128, 0xffffffff}),
			flow.MakeUint32s(make([]uint32, 300))}
	case flow.KindLargeCommunities:
		return []any{flow.LargeCommunities{}, flow.MakeLargeCommunities([]flow.LargeCommunity{{}}),
			flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 4200000000, Local1: 1, Local2: 2}, {ASN: 65000, Local1: 0xffffffff, Local2: 128}})}
	}
	panic("unknown kind")
}

func set(r *flow.Record, c flow.Column, v any) {
	acc := flow.Access(c.Name)
	switch v := v.(type) {
	case time.Time:
		acc.SetTime(r, v)
	case uint64:
		acc.SetUint(r, v)
	case string:
		acc.SetString(r, v)
	case netip.Addr:
		acc.SetAddr(r, v)
	case flow.Uint32s:
		acc.SetUint32s(r, v)
	case flow.LargeCommunities:
		acc.SetLargeCommunities(r, v)
	}
}

// wireList is the repeated uint32 values a list column value goes on the
// wire as.
func wireList(v any) ([]uint32, bool) {
	switch v := v.(type) {
	case flow.Uint32s:
		return v.AppendTo([]uint32{}), true
	case flow.LargeCommunities:
		out := []uint32{}
		for c := range v.All() {
			out = append(out, c.ASN, c.Local1, c.Local2)
		}
		return out, true
	}
	return nil, false
}

func TestRoundTripEveryColumn(t *testing.T) {
	for _, c := range flow.Columns {
		for i, v := range valuesOf(c) {
			t.Run(fmt.Sprintf("%s/%d", c.Name, i), func(t *testing.T) {
				var in, out flow.Record
				set(&in, c, v)
				buf := AppendRecord(nil, &in)
				if err := DecodeRecord(buf, &out); err != nil {
					t.Fatalf("DecodeRecord: %v", err)
				}
				want := in
				want.ExporterAddress = want.ExporterAddress.Unmap()
				want.SrcAddr, want.DstAddr, want.NextHop = want.SrcAddr.Unmap(), want.DstAddr.Unmap(), want.NextHop.Unmap()
				if diff := cmp.Diff(out, want, cmpAddr); diff != "" {
					t.Errorf("round trip (-got +want):\n%s", diff)
				}
				// A zero value is omitted, as proto3 does.
				var zero flow.Record
				if cmp.Equal(in, zero, cmpAddr) && len(buf) != 0 {
					t.Errorf("zero value encoded as %x", buf)
				}
			})
		}
	}
}

func TestRoundTripFullRecord(t *testing.T) {
	in := sample(3)
	var out flow.Record
	if err := DecodeRecord(AppendRecord(nil, &in), &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(out, in, cmpAddr); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}
	// Decoding into a used record resets it first.
	var empty flow.Record
	if err := DecodeRecord(AppendRecord(nil, &empty), &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(out, empty, cmpAddr); diff != "" {
		t.Errorf("decode into used record (-got +want):\n%s", diff)
	}
}

// TestWireCompatibility checks the hand-written codec against the protobuf
// runtime reading and writing the descriptor built from the schema: what the
// .proto describes is what goes on the wire.
func TestWireCompatibility(t *testing.T) {
	md, err := Descriptor()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := md.FullName(), protoreflect.FullName("flowengine.v1.FlowV1"); got != want {
		t.Errorf("message name %s, want %s", got, want)
	}
	for _, c := range flow.Columns {
		for i, v := range valuesOf(c) {
			t.Run(fmt.Sprintf("%s/%d", c.Name, i), func(t *testing.T) {
				fd := md.Fields().ByNumber(protoreflect.FieldNumber(c.Proto))
				if fd == nil || string(fd.Name()) != c.Name {
					t.Fatalf("field %d is %v, want %s", c.Proto, fd, c.Name)
				}
				var r flow.Record
				set(&r, c, v)

				// Ours → protobuf runtime.
				msg := dynamicpb.NewMessage(md)
				if err := proto.Unmarshal(AppendRecord(nil, &r), msg); err != nil {
					t.Fatalf("dynamicpb unmarshal: %v", err)
				}
				if vals, ok := wireList(v); ok {
					l := msg.Get(fd).List()
					got := []uint32{}
					for i := range l.Len() {
						got = append(got, uint32(l.Get(i).Uint()))
					}
					if !slices.Equal(got, vals) {
						t.Errorf("protobuf runtime read %v, want %v", got, vals)
					}
					msg = dynamicpb.NewMessage(md)
					l = msg.Mutable(fd).List()
					for _, x := range vals {
						l.Append(protoreflect.ValueOfUint32(x))
					}
				} else {
					want := wireValue(c, v)
					if got := msg.Get(fd); !valueEqual(got, want) {
						t.Errorf("protobuf runtime read %v, want %v", got, want)
					}
					// Protobuf runtime → ours.
					msg = dynamicpb.NewMessage(md)
					if want.IsValid() {
						msg.Set(fd, want)
					}
				}
				buf, err := proto.Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				var got flow.Record
				if err := DecodeRecord(buf, &got); err != nil {
					t.Fatalf("DecodeRecord of runtime bytes: %v", err)
				}
				var wantRec flow.Record
				set(&wantRec, c, v)
				wantRec.SrcAddr, wantRec.DstAddr = wantRec.SrcAddr.Unmap(), wantRec.DstAddr.Unmap()
				wantRec.NextHop, wantRec.ExporterAddress = wantRec.NextHop.Unmap(), wantRec.ExporterAddress.Unmap()
				if diff := cmp.Diff(got, wantRec, cmpAddr); diff != "" {
					t.Errorf("decode of runtime bytes (-got +want):\n%s", diff)
				}
			})
		}
	}
}

// wireValue is the protobuf value a column value is expected to have.
func wireValue(c flow.Column, v any) protoreflect.Value {
	switch v := v.(type) {
	case time.Time:
		if v.IsZero() {
			return protoreflect.ValueOfUint64(0)
		}
		return protoreflect.ValueOfUint64(uint64(v.UnixNano()))
	case uint64:
		if c.Kind == flow.KindBoundary {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(v))
		}
		if c.Kind == flow.KindUint && c.Bits < 64 {
			return protoreflect.ValueOfUint32(uint32(v))
		}
		return protoreflect.ValueOfUint64(v)
	case string:
		return protoreflect.ValueOfString(v)
	case netip.Addr:
		switch {
		case !v.IsValid():
			return protoreflect.ValueOfBytes(nil)
		case v.Is4() || v.Is4In6():
			b := v.Unmap().As4()
			return protoreflect.ValueOfBytes(b[:])
		}
		b := v.As16()
		return protoreflect.ValueOfBytes(b[:])
	}
	panic("unknown value")
}

func valueEqual(a, b protoreflect.Value) bool {
	if x, ok := a.Interface().([]byte); ok {
		y, _ := b.Interface().([]byte)
		return string(x) == string(y)
	}
	return a.Equal(b)
}

func TestUnknownFieldsSkipped(t *testing.T) {
	in := sample(1)
	buf := AppendRecord(nil, &in)
	// Fields a newer producer may add, of every wire type, interleaved.
	extra := protowire.AppendTag(nil, 1000, protowire.VarintType)
	extra = protowire.AppendVarint(extra, 42)
	extra = protowire.AppendTag(extra, 1001, protowire.BytesType)
	extra = protowire.AppendBytes(extra, []byte("future"))
	extra = protowire.AppendTag(extra, 1002, protowire.Fixed32Type)
	extra = protowire.AppendFixed32(extra, 7)
	extra = protowire.AppendTag(extra, 1003, protowire.Fixed64Type)
	extra = protowire.AppendFixed64(extra, 7)
	msg := append(append(append([]byte{}, extra...), buf...), extra...)
	var out flow.Record
	if err := DecodeRecord(msg, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(out, in, cmpAddr); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// Lists decode from packed and unpacked fields, in pieces, and a large
// community list must hold whole communities.
func TestDecodeLists(t *testing.T) {
	var msg []byte
	msg = protowire.AppendTag(msg, 62, protowire.VarintType)
	msg = protowire.AppendVarint(msg, 174)
	msg = protowire.AppendTag(msg, 62, protowire.BytesType)
	msg = protowire.AppendBytes(msg, protowire.AppendVarint(protowire.AppendVarint(nil, 3356), 64500))
	msg = protowire.AppendTag(msg, 64, protowire.BytesType)
	msg = protowire.AppendBytes(msg, protowire.AppendVarint(protowire.AppendVarint(nil, 65000), 1))
	msg = protowire.AppendTag(msg, 64, protowire.VarintType)
	msg = protowire.AppendVarint(msg, 2)
	var r flow.Record
	if err := DecodeRecord(msg, &r); err != nil {
		t.Fatal(err)
	}
	if got := r.DstASPath.String(); got != "174 3356 64500" {
		t.Errorf("DstASPath = %q", got)
	}
	if got := r.DstLargeCommunities.String(); got != "65000:1:2" {
		t.Errorf("DstLargeCommunities = %q", got)
	}
	for name, bad := range map[string][]byte{
		"two values of a large community": protowire.AppendBytes(protowire.AppendTag(nil, 64, protowire.BytesType), []byte{1, 2}),
		"a value over 32 bits":            protowire.AppendBytes(protowire.AppendTag(nil, 63, protowire.BytesType), protowire.AppendVarint(nil, 1<<32)),
		"a truncated varint":              protowire.AppendBytes(protowire.AppendTag(nil, 62, protowire.BytesType), []byte{0x80}),
		"a fixed32 value":                 protowire.AppendFixed32(protowire.AppendTag(nil, 62, protowire.Fixed32Type), 1),
	} {
		if err := DecodeRecord(bad, &r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated tag", []byte{0x80}},
		{"field zero", []byte{0x00, 0x01}},
		{"truncated varint", append(tag(4, protowire.VarintType), 0x80)},
		{"truncated fixed64", append(tag(1, protowire.Fixed64Type), 1, 2, 3)},
		{"truncated bytes", append(tag(7, protowire.BytesType), 10, 'a')},
		{"wrong wire type", append(tag(1, protowire.VarintType), 1)},
		{"address of 5 bytes", append(tag(13, protowire.BytesType), 5, 1, 2, 3, 4, 5)},
		{"text", []byte("this is not a flow, just some text")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r flow.Record
			err := DecodeRecord(tc.data, &r)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("DecodeRecord(%x) = %v, want ErrInvalid", tc.data, err)
			}
		})
	}
}

func TestInternAllocationFree(t *testing.T) {
	in := sample(1)
	buf := AppendRecord(nil, &in)
	var out flow.Record
	if err := DecodeRecord(buf, &out); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = DecodeRecord(buf, &out) }); n != 0 {
		t.Errorf("DecodeRecord allocates %v times per flow in steady state", n)
	}
	var d Decoder
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(buf, &out) }); n != 0 {
		t.Errorf("Decoder.Decode allocates %v times per flow in steady state", n)
	}
	dst := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { dst = AppendRecord(dst[:0], &in) }); n != 0 {
		t.Errorf("AppendRecord allocates %v times per flow", n)
	}
}

func TestProto(t *testing.T) {
	p := Proto()
	for _, want := range []string{
		`syntax = "proto3";`, "package flowengine.v1;", "message FlowV1 {",
		"  fixed64 TimeReceived = 1;", "  bytes ExporterAddress = 6;", "  string ExporterName = 7;",
		"  uint64 SrcMAC = 18;", "  uint32 SrcVlan = 20;", "  uint64 Bytes = 60;", "  Boundary InIfBoundary = 48;",
		"    BOUNDARY_EXTERNAL = 1;",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("Proto() lacks %q:\n%s", want, p)
		}
	}
	if strings.Count(p, " = ") != 1+len(flow.Columns)+len(boundaryValues) { // 1 for syntax
		t.Errorf("Proto() has %d fields, want %d", strings.Count(p, " = "), len(flow.Columns)+len(boundaryValues))
	}
	if got := Topic(""); got != "flows-v1" {
		t.Errorf("Topic() = %q", got)
	}
	if got := Topic("lab"); got != "lab-v1" {
		t.Errorf("Topic(lab) = %q", got)
	}
	s := Schemas()
	if s.Current != flow.SchemaVersion || len(s.Versions) != 1 || s.Versions[0].Proto != p || s.Versions[0].Message != "flowengine.v1.FlowV1" {
		t.Errorf("Schemas() = %+v", s)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	in := sample(1)
	f.Add(AppendRecord(nil, &in))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x04, 1, 2, 3, 4})
	var (
		mu sync.Mutex
		d  Decoder
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		checkDecoders(t, &d, data)
		mu.Unlock()
		var r flow.Record
		if err := DecodeRecord(data, &r); err != nil {
			return
		}
		// What decodes re-encodes and decodes to the same record.
		var again flow.Record
		if err := DecodeRecord(AppendRecord(nil, &r), &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if diff := cmp.Diff(again, r, cmpAddr); diff != "" {
			t.Fatalf("re-encode (-got +want):\n%s", diff)
		}
	})
}

func BenchmarkAppendRecord(b *testing.B) {
	recs := make([]flow.Record, 1024)
	for i := range recs {
		recs[i] = sample(i)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = AppendRecord(dst[:0], &recs[i&1023])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
	b.SetBytes(int64(len(dst)))
}

func BenchmarkDecoder(b *testing.B) {
	msgs := make([][]byte, 1024)
	for i := range msgs {
		r := sample(i)
		msgs[i] = AppendRecord(nil, &r)
	}
	var (
		d Decoder
		r flow.Record
	)
	for _, m := range msgs {
		_ = d.Decode(m, &r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(msgs[i&1023], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
	b.SetBytes(int64(len(msgs[0])))
}

func BenchmarkDecodeRecord(b *testing.B) {
	msgs := make([][]byte, 1024)
	for i := range msgs {
		r := sample(i)
		msgs[i] = AppendRecord(nil, &r)
	}
	var r flow.Record
	for _, m := range msgs {
		_ = DecodeRecord(m, &r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := DecodeRecord(msgs[i&1023], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
	b.SetBytes(int64(len(msgs[0])))
}

// typical returns a flow as a NetFlow source with SNMP and GeoIP enrichment
// fills it: about half the columns, no classifier labels.
func typical(i int) flow.Record {
	r := sample(i)
	r.ExporterGroup, r.ExporterRole, r.ExporterSite, r.ExporterRegion, r.ExporterTenant = "", "", "", "", ""
	r.SrcNetName, r.DstNetName, r.SrcNetRole, r.DstNetRole, r.SrcNetSite, r.DstNetSite = "", "", "", "", "", ""
	r.SrcNetRegion, r.DstNetRegion, r.SrcNetTenant, r.DstNetTenant = "", "", "", ""
	r.InIfConnectivity, r.OutIfConnectivity, r.InIfProvider, r.OutIfProvider = "", "", "", ""
	r.InIfBoundary, r.OutIfBoundary, r.SrcMAC, r.DstMAC, r.SrcVlan, r.DstVlan = 0, 0, 0, 0, 0, 0
	r.ICMPType, r.ICMPCode = 0, 0
	return r
}

func benchmarkDecode(b *testing.B, gen func(int) flow.Record, decode func([]byte, *flow.Record) error) {
	msgs := make([][]byte, 1024)
	size := 0
	for i := range msgs {
		r := gen(i)
		msgs[i] = AppendRecord(nil, &r)
		size += len(msgs[i])
	}
	var r flow.Record
	for _, m := range msgs {
		_ = decode(m, &r)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size / len(msgs)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := decode(msgs[i&1023], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
}

func BenchmarkDecoderTypical(b *testing.B) {
	var d Decoder
	benchmarkDecode(b, typical, d.Decode)
}

func BenchmarkAppendRecordTypical(b *testing.B) {
	recs := make([]flow.Record, 1024)
	for i := range recs {
		recs[i] = typical(i)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = AppendRecord(dst[:0], &recs[i&1023])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
}

// decodeGeneric is the reference decoder: the record cleared, then every
// field through the generic loop, strings interned without a memo.
func decodeGeneric(data []byte, r *flow.Record) error {
	*r = flow.Record{}
	return decodeFields(data, r, nil)
}

// splitFields returns the fields of a message, each with its tag.
func splitFields(t testing.TB, msg []byte) [][]byte {
	var fields [][]byte
	for len(msg) > 0 {
		_, _, n := protowire.ConsumeField(msg)
		if n < 0 {
			t.Fatalf("split %x: %v", msg, protowire.ParseError(n))
		}
		fields = append(fields, msg[:n])
		msg = msg[n:]
	}
	return fields
}

// checkDecoders decodes msg with a Decoder, with DecodeRecord and with the
// generic reference, and wants the same record or the same error.
func checkDecoders(t *testing.T, d *Decoder, msg []byte) {
	t.Helper()
	var want, got, got2 flow.Record
	wantErr := decodeGeneric(msg, &want)
	gotErr := d.Decode(msg, &got)
	gotErr2 := DecodeRecord(msg, &got2)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || fmt.Sprint(gotErr2) != fmt.Sprint(wantErr) {
		t.Fatalf("decode %x: errors %v (Decoder), %v (DecodeRecord), want %v", msg, gotErr, gotErr2, wantErr)
	}
	if wantErr != nil {
		return
	}
	if diff := cmp.Diff(got, want, cmpAddr); diff != "" {
		t.Fatalf("Decoder on %x (-got +want):\n%s", msg, diff)
	}
	if diff := cmp.Diff(got2, want, cmpAddr); diff != "" {
		t.Fatalf("DecodeRecord on %x (-got +want):\n%s", msg, diff)
	}
}

// Messages not in the order AppendRecord writes (shuffled, repeated or
// unknown fields, empty addresses, long strings, junk) decode as the generic
// decoder decodes them, whether or not the ordered path takes them.
func TestDecodeOrderVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var d Decoder
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 7)
	emptyAddr := protowire.AppendBytes(protowire.AppendTag(nil, 13, protowire.BytesType), nil)
	longStr := protowire.AppendString(protowire.AppendTag(nil, 40, protowire.BytesType), strings.Repeat("description ", 30))
	badAddr := protowire.AppendBytes(protowire.AppendTag(nil, 17, protowire.BytesType), []byte{1, 2, 3})
	for i := 0; i < 3000; i++ {
		var r flow.Record
		switch i % 3 {
		case 0:
			r = sample(i)
		case 1:
			r = typical(i)
		}
		fields := splitFields(t, AppendRecord(nil, &r))
		variant := i / 3 % 8
		switch variant {
		case 1: // shuffled
			rng.Shuffle(len(fields), func(a, b int) { fields[a], fields[b] = fields[b], fields[a] })
		case 2: // a field repeated later with another value
			other := sample(i + 1)
			more := splitFields(t, AppendRecord(nil, &other))
			fields = append(fields, more[rng.IntN(len(more))])
		case 3: // an unknown field in the middle
			fields = append(fields[:len(fields)/2], append([][]byte{unknown}, fields[len(fields)/2:]...)...)
		case 4: // an empty address in place
			fields = append([][]byte{emptyAddr}, fields...)
		case 5: // a long string
			fields = append(fields, longStr)
		case 6: // an invalid address
			fields = append(fields[:len(fields)/3], append([][]byte{badAddr}, fields[len(fields)/3:]...)...)
		}
		msg := bytes.Join(fields, nil)
		if variant == 7 && len(msg) > 0 { // truncated
			msg = msg[:rng.IntN(len(msg))]
		}
		checkDecoders(t, &d, msg)
		// The same bytes at the end of a buffer with no room past them.
		checkDecoders(t, &d, bytes.Clone(msg))
	}
}

// The string memo tells apart strings that share their length and first and
// last bytes, or their first 16 bytes, and reads strings that end the buffer.
func TestDecoderMemo(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 3)
	values := []string{"a", "b", "ab", "ba", "xe-0/0/0", "xe-0/1/0", "xe-0/0/1", "12345678", "12345679",
		"0123456789abcdef", "0123456789abcdeg", "0123456789abcde", long + "x", long + "y", long + "xy", "Ünïcødé", "\x00", "\x00\x00"}
	var d Decoder
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 5000; i++ {
		var r flow.Record
		for _, c := range flow.Columns {
			if c.Kind == flow.KindString && rng.IntN(2) == 0 {
				flow.Access(c.Name).SetString(&r, values[rng.IntN(len(values))])
			}
		}
		msg := AppendRecord(nil, &r)
		var got flow.Record
		if err := d.Decode(msg, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, r, cmpAddr); diff != "" {
			t.Fatalf("(-got +want):\n%s", diff)
		}
	}
}
