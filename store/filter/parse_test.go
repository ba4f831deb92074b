package filter

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/google/go-cmp/cmp"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"InIfBoundary = external AND SrcAS IN (AS15169, 13335) AND NOT DstPort = 443 AND SrcAddr << 192.0.2.0/24",
			"InIfBoundary = external AND SrcAS IN (AS15169, AS13335) AND NOT DstPort = 443 AND SrcAddr << 192.0.2.0/24"},
		{"srcas = as65000", "SrcAS = AS65000"},
		{"SRCAS=65000", "SrcAS = AS65000"},
		{"Proto = tcp OR proto = UDP or Proto = 58", "Proto = 6 OR Proto = 17 OR Proto = 58"},
		{"EType = ipv6 AND EType != IPv4", "EType = 34525 AND EType != 2048"},
		{"EType = 0x86dd", "EType = 34525"},
		{"FlowDirection = egress", "FlowDirection = 1"},
		{"ExporterName = 'edge-1' AND ExporterSite = \"par\"", "ExporterName = edge-1 AND ExporterSite = par"},
		{"ExporterName = 'it''s' OR ExporterName = 'a\\'b'", "ExporterName = 'it\\'s' OR ExporterName = 'a\\'b'"},
		{"InIfName = ge-0/0/1.100", "InIfName = ge-0/0/1.100"},
		{"InIfDescription LIKE 'transit%' AND OutIfDescription ILIKE '%PEER%'", "InIfDescription LIKE transit% AND OutIfDescription ILIKE %PEER%"},
		{"InIfProvider UNLIKE 'a_' OR InIfProvider IUNLIKE 'B%'", "InIfProvider UNLIKE a_ OR InIfProvider IUNLIKE B%"},
		{"SrcAddr = 2001:db8::1 AND DstAddr != 192.0.2.1", "SrcAddr = 2001:db8::1 AND DstAddr != 192.0.2.1"},
		{"SrcAddr << 2001:db8::1/32", "SrcAddr << 2001:db8::/32"},
		{"NextHop << 192.0.2.1", "NextHop << 192.0.2.1/32"},
		{"SrcMAC = 00:11:22:AA:bb:cc", "SrcMAC = 00:11:22:aa:bb:cc"},
		{"InIfBoundary IN (external, 'internal', '')", "InIfBoundary IN (external, internal, '')"},
		{"TimeReceived >= '2026-11-30 10:00:00' AND TimeReceived < 2026-11-30T11:00:00Z", "TimeReceived >= 2026-11-30T10:00:00Z AND TimeReceived < 2026-11-30T11:00:00Z"},
		{"SrcPort NOT IN (80, 443) and not (DstPort > 1024 or DstPort <= 10)", "SrcPort NOT IN (80, 443) AND NOT (DstPort > 1024 OR DstPort <= 10)"},
		{"((SrcAS = 1))", "SrcAS = AS1"},
		{"SrcAS = 1 AND (DstAS = 2 OR DstAS = 3) AND SrcAS <> 4", "SrcAS = AS1 AND (DstAS = AS2 OR DstAS = AS3) AND SrcAS != AS4"},
		{"-- comment\nSrcAS = 1 /* inline */ AND /**/DstAS = 2 -- end", "SrcAS = AS1 AND DstAS = AS2"},
		{"SrcCountry = FR AND DstCountry IN ('US','DE')", "SrcCountry = FR AND DstCountry IN (US, DE)"},
		{"ExporterName = 'naïve ünïcode ☃'", "ExporterName = naïve"[:0] + "ExporterName = 'naïve ünïcode ☃'"},
		{"ExporterName = naïve", "ExporterName = naïve"},
		{"Bytes > 1000000 AND Packets >= 0x10", "Bytes > 1000000 AND Packets >= 16"},
		{"SamplingRate = 18446744073709551615", "SamplingRate = 18446744073709551615"},
		{"DstASPath HAS AS3356 AND dstaspath has 174", "DstASPath HAS AS3356 AND DstASPath HAS AS174"},
		{"DstCommunities HAS 65000:100 OR DstCommunities NOT HAS 0:65535", "DstCommunities HAS 65000:100 OR DstCommunities NOT HAS 0:65535"},
		{"NOT DstLargeCommunities HAS 65000:1:2", "NOT DstLargeCommunities HAS 65000:1:2"},
		{"DstLargeCommunities has 4294967295:0:4294967295", "DstLargeCommunities HAS 4294967295:0:4294967295"},
		{"DstASPath = 'AS64500  64501' OR DstASPath = 64502 OR DstASPath != ''", "DstASPath = '64500 64501' OR DstASPath = 64502 OR DstASPath != ''"},
		{"DstCommunities IN ('65000:100 65000:200', '') AND DstLargeCommunities = '1:2:3'", "DstCommunities IN ('65000:100 65000:200', '') AND DstLargeCommunities = 1:2:3"},
		{"DstFirstAS = AS3356 AND dstlastas IN (15169, 13335) AND DstLastAS > 0", "DstFirstAS = AS3356 AND DstLastAS IN (AS15169, AS13335) AND DstLastAS > AS0"},
		{"ExporterName = 'has'", "ExporterName = 'has'"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			e, errs := Parse(tc.in)
			if errs != nil {
				t.Fatalf("Parse(%q): %v", tc.in, errs)
			}
			if got := Format(e); got != tc.want {
				t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
			}
			// The canonical form reads back the same.
			e2, errs := Parse(Format(e))
			if errs != nil || Format(e2) != Format(e) {
				t.Errorf("Format(Parse(%q)) = %q does not read back: %v", tc.in, Format(e), errs)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	e, errs := Parse("SrcAddr = ::ffff:192.0.2.1 AND SrcMAC = 1 AND InIfBoundary = internal AND TimeReceived = 2026-01-02")
	if errs != nil {
		t.Fatal(errs)
	}
	var got []any
	Walk(e, func(c *Compare) { got = append(got, c.Values...) })
	want := []any{netip.MustParseAddr("::ffff:192.0.2.1"), uint64(1), flow.BoundaryInternal, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(fmt.Sprint(want), fmt.Sprint(got)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if got := Columns(e); strings.Join(got, ",") != "SrcAddr,SrcMAC,InIfBoundary,TimeReceived" {
		t.Errorf("Columns = %v", got)
	}
}

func TestParseListValues(t *testing.T) {
	e, errs := Parse("DstASPath HAS AS3356 AND DstCommunities HAS 65000:100 AND DstLargeCommunities NOT HAS 65000:1:2 AND " +
		"DstASPath = '64500 AS64501' AND DstCommunities = '' AND DstLargeCommunities IN ('1:2:3 4:5:6') AND DstLastAS = 15169")
	if errs != nil {
		t.Fatal(errs)
	}
	var got []any
	Walk(e, func(c *Compare) { got = append(got, c.Values...) })
	want := []any{uint64(3356), uint64(65000<<16 | 100), flow.LargeCommunity{ASN: 65000, Local1: 1, Local2: 2},
		flow.MakeUint32s([]uint32{64500, 64501}), flow.Uint32s{},
		flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 1, Local1: 2, Local2: 3}, {ASN: 4, Local1: 5, Local2: 6}}), uint64(15169)}
	if len(got) != len(want) {
		t.Fatalf("values %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: %#v, want %#v", i, got[i], want[i])
		}
	}
	if got := Columns(e); strings.Join(got, ",") != "DstASPath,DstCommunities,DstLargeCommunities,DstLastAS" {
		t.Errorf("Columns = %v", got)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "   ", "-- nothing\n", "/* nothing */"} {
		e, errs := Parse(in)
		if e != nil || errs != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", in, e, errs)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in   string
		want []string // "offset line:column message"
	}{
		{"SrcAS = foo", []string{`8 1:9 expected an AS number (AS15169 or 15169) for SrcAS, got "foo"`}},
		{"SrcAS = ASfoo", []string{`8 1:9 expected an AS number (AS15169 or 15169) for SrcAS, got "ASfoo"`}},
		{"srcas = 1 and", []string{`13 1:14 expected a column name, NOT or "(", got end of filter`}},
		{"(SrcAS = 1", []string{`10 1:11 expected ")" to close the "(" at column 1, got end of filter`}},
		{"SrcAS = 1)", []string{`9 1:10 unexpected ")": no "(" to close`}},
		{"SrcAs2 = 3", []string{`0 1:1 unknown column "SrcAs2"; did you mean SrcAS?`}},
		{"Foo = 3", []string{`0 1:1 unknown column "Foo"`}},
		{"SrcAddr = 192.0.2.0/24", []string{`10 1:11 expected an IP address for SrcAddr, got prefix 192.0.2.0/24: use << to match a prefix`}},
		{"SrcAddr << 192.0.2.0/33", []string{`11 1:12 expected a prefix (192.0.2.0/24, 2001:db8::/32) for SrcAddr, got "192.0.2.0/33"`}},
		{"SrcAddr = 'x'", []string{`10 1:11 expected an IP address for SrcAddr, got quoted string 'x'`}},
		{"ExporterName = 'x", []string{`15 1:16 unterminated string: expected ' to close the string`}},
		{`ExporterName = "x\"`, []string{`15 1:16 unterminated string: expected " to close the string`}},
		{"SrcAS = 1 /* open", []string{`10 1:11 unterminated comment: expected */ to close the /* comment`}},
		{"SrcAS LIKE 'x'", []string{`6 1:7 operator LIKE does not apply to SrcAS (AS number); expected one of =, !=, <, <=, >, >=, IN, NOT IN`}},
		{"ExporterName < 'x'", []string{`13 1:14 operator < does not apply to ExporterName (text); expected one of =, !=, LIKE, ILIKE, UNLIKE, IUNLIKE, IN, NOT IN`}},
		{"SrcAddr << 10.0.0.0/8 AND InIfBoundary << x", []string{`39 1:40 operator << does not apply to InIfBoundary (boundary); expected one of =, !=, IN, NOT IN`}},
		{"DstPort = 70000", []string{`10 1:11 value 70000 out of range for DstPort (0 to 65535)`}},
		{"Bytes = 99999999999999999999", []string{`8 1:9 value 99999999999999999999 out of range for Bytes (0 to 18446744073709551615)`}},
		{"Proto = tcpx", []string{`8 1:9 expected a protocol number or name (tcp, udp, icmp...) for Proto, got "tcpx"`}},
		{"EType = ipx", []string{`8 1:9 expected an Ethernet type (ipv4, ipv6 or a number) for EType, got "ipx"`}},
		{"SrcMAC = 00:11:22", []string{`9 1:10 expected a MAC address (00:11:22:33:44:55) for SrcMAC, got "00:11:22"`}},
		{"InIfBoundary = outside", []string{`15 1:16 expected a boundary (external or internal) for InIfBoundary, got "outside"`}},
		{"TimeReceived > yesterday", []string{`15 1:16 expected a time (2006-01-02T15:04:05Z) for TimeReceived, got "yesterday"`}},
		{"ExporterName = AND", []string{`15 1:16 expected a value, got keyword AND (quote it to use it as text: 'AND')`}},
		{"ExporterName =", []string{`14 1:15 expected a quoted or bare string, got end of filter`}},
		{"SrcPort NOT 3", []string{`12 1:13 expected IN after NOT, got "3"`}},
		{"DstCommunities HAS x", []string{`19 1:20 expected a community (65000:100) for DstCommunities, got "x"`}},
		{"DstCommunities HAS 65536:1", []string{`19 1:20 expected a community (65000:100) for DstCommunities, got "65536:1"`}},
		{"DstASPath HAS 65000:1", []string{`14 1:15 expected an AS number (AS3356 or 3356) for DstASPath, got "65000:1"`}},
		{"DstASPath HAS 4294967296", []string{`14 1:15 expected an AS number (AS3356 or 3356) for DstASPath, got "4294967296"`}},
		{"DstLargeCommunities HAS 1:2", []string{`24 1:25 expected a large community (65000:1:2) for DstLargeCommunities, got "1:2"`}},
		{"DstASPath = '1 x'", []string{`12 1:13 expected an AS path ('64500 64501', '' when empty) for DstASPath, got quoted string '1 x'`}},
		{"DstCommunities = 1", []string{`17 1:18 expected a list of communities ('65000:100 65000:200', '' when empty) for DstCommunities, got "1"`}},
		{"DstASPath NOT 3", []string{`14 1:15 expected IN or HAS after NOT, got "3"`}},
		{"DstASPath < 3", []string{`10 1:11 operator < does not apply to DstASPath (AS path); expected one of HAS, NOT HAS, =, !=, IN, NOT IN`}},
		{"SrcAS HAS 3", []string{`6 1:7 operator HAS does not apply to SrcAS (AS number); expected one of =, !=, <, <=, >, >=, IN, NOT IN`}},
		{"DstFirstAS = x", []string{`13 1:14 expected an AS number (AS15169 or 15169) for DstFirstAS, got "x"`}},
		{"ExporterName = has", []string{`15 1:16 expected a value, got keyword HAS (quote it to use it as text: 'has')`}},
		{"SrcPort IN 3", []string{`11 1:12 expected "(" after IN, got "3"`}},
		{"SrcPort IN (3 4)", []string{`14 1:15 expected "," or ")" in the list of values, got "4"`}},
		{"SrcPort IN ()", []string{`12 1:13 expected a number from 0 to 65535, got ")"`}},
		{"SrcPort", []string{`7 1:8 expected an operator (=, !=, <, <=, >, >=, IN, NOT IN) after SrcPort, got end of filter`}},
		{"SrcPort 3", []string{`8 1:9 expected an operator (=, !=, <, <=, >, >=, IN, NOT IN) after SrcPort, got "3"`}},
		{")", []string{`0 1:1 expected a column name, NOT or "(", got ")"`}},
		{"AND SrcAS = 1", []string{`0 1:1 expected a column name, NOT or "(", got keyword AND`}},
		{"SrcAS = 1 DstAS = 2", []string{`10 1:11 expected AND, OR or end of filter, got "DstAS"`}},
		{"SrcAS ! 1", []string{`6 1:7 unexpected "!": expected != or an operator`}},
		{"x = 3 AND SrcAS = ééé", []string{`0 1:1 unknown column "x"`, `18 1:19 expected an AS number (AS15169 or 15169) for SrcAS, got "ééé"`}},
		{"SrcAS = 1 AND\n  DstAS = ten", []string{`24 2:11 expected an AS number (AS15169 or 15169) for DstAS, got "ten"`}},
		{"ExporterName = 'é' AND\nSrcAS IN (1, é)", []string{`37 2:14 expected an AS number (AS15169 or 15169) for SrcAS, got "é"`}},
		{"SrcAS = 1 AND \xff", []string{`14 1:15 invalid UTF-8 byte`}},
		{"(SrcAS = 1 DstAS", []string{`11 1:12 expected AND, OR or ")", got "DstAS"`}},
		{strings.Repeat("(", 101) + "SrcAS = 1" + strings.Repeat(")", 101), []string{`100 1:101 too deeply nested: at most 100 levels of parentheses and NOT`}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			e, errs := Parse(tc.in)
			if e != nil {
				t.Errorf("Parse(%q) returned an expression with errors", tc.in)
			}
			var got []string
			for _, err := range errs {
				got = append(got, fmt.Sprintf("%d %d:%d %s", err.Offset, err.Line, err.Column, err.Message))
				if err.Offset < 0 || err.Offset > len(tc.in) {
					t.Errorf("offset %d out of the text", err.Offset)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) errors (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"edge-1": "edge-1", "": "''", "and": "'and'", "a b": "'a b'", "it's": `'it\'s'`, `a\b`: `a\b`,
		"x--y": "'x--y'", "a(b": "'a(b'", " 0": "' 0'", "/**/a": "'/**/a'", "a/*b": "'a/*b'", "é": "é", `'`: `'\''`, `\'`: `'\\\''`,
	} {
		got := Literal(in)
		if got != want {
			t.Errorf("Literal(%q) = %s, want %s", in, got, want)
		}
		// It reads back as the same string.
		e, errs := Parse("ExporterName = " + got)
		if errs != nil {
			t.Errorf("Literal(%q) = %s does not parse: %v", in, got, errs)
			continue
		}
		if v := e.(*Compare).Values[0]; v != in {
			t.Errorf("Literal(%q) = %s reads back as %q", in, got, v)
		}
	}
}
