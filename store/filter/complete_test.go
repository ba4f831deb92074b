package filter

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func labels(cs []Completion) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind+":"+c.Label)
	}
	return out
}

func TestComplete(t *testing.T) {
	cases := []struct {
		text   string
		offset int // -1: end
		want   []string
		values string // column whose store values are wanted
		prefix string
		start  int
		op     string
	}{
		{text: "SrcAS", offset: -1, want: []string{"column:SrcAS"}, prefix: "SrcAS"},
		{text: "inifb", offset: -1, want: []string{"column:InIfBoundary"}, prefix: "inifb"},
		{text: "SrcAS ", offset: -1, start: 6, want: []string{"operator:=", "operator:!=", "operator:<", "operator:<=", "operator:>", "operator:>=", "operator:IN", "operator:NOT IN"}},
		{text: "SrcAddr <", offset: -1, start: 8, prefix: "<", want: []string{"operator:<<"}},
		{text: "ExporterName i", offset: -1, start: 13, prefix: "i", want: []string{"operator:ILIKE", "operator:IUNLIKE", "operator:IN"}},
		{text: "SrcPort NOT ", offset: -1, start: 12, want: []string{"operator:IN"}},
		{text: "DstCommunities ", offset: -1, start: 15, want: []string{"operator:HAS", "operator:NOT HAS", "operator:=", "operator:!=", "operator:IN", "operator:NOT IN"}},
		{text: "DstASPath NOT ", offset: -1, start: 14, want: []string{"operator:IN", "operator:HAS"}},
		{text: "DstASPath h", offset: -1, start: 10, prefix: "h", want: []string{"operator:HAS"}},
		{text: "DstASPath HAS ", offset: -1, start: 14, values: "DstASPath", op: "HAS"},
		{text: "DstCommunities NOT HAS 65", offset: -1, start: 23, prefix: "65", values: "DstCommunities", op: "NOT HAS"},
		{text: "DstASPath HAS 1 ", offset: -1, start: 16, want: []string{"operator:AND", "operator:OR"}},
		{text: "DstFir", offset: -1, prefix: "DstFir", want: []string{"column:DstFirstAS"}},
		{text: "Proto = ", offset: -1, start: 8, values: "Proto", want: []string{"value:icmp", "value:igmp", "value:ipip", "value:tcp", "value:egp", "value:udp", "value:ipv6", "value:rsvp", "value:gre", "value:esp", "value:ah", "value:ipv6-icmp", "value:icmpv6", "value:eigrp", "value:ospf", "value:pim", "value:vrrp", "value:l2tp", "value:sctp"}},
		{text: "Proto = ic", offset: -1, start: 8, prefix: "ic", values: "Proto", want: []string{"value:icmp", "value:icmpv6"}},
		{text: "EType IN (ipv4, i", offset: -1, start: 16, prefix: "i", values: "EType", want: []string{"value:ipv4", "value:ipv6"}},
		{text: "InIfBoundary != ", offset: -1, start: 16, values: "InIfBoundary", want: []string{"value:external", "value:internal"}},
		{text: "ExporterName = 'ed", offset: -1, start: 15, prefix: "ed", values: "ExporterName"},
		{text: "SrcAS = AS1", offset: -1, start: 8, prefix: "AS1", values: "SrcAS"},
		{text: "SrcAS = 1 ", offset: -1, start: 10, want: []string{"operator:AND", "operator:OR"}},
		{text: "SrcAS = 1 o", offset: -1, start: 10, prefix: "o", want: []string{"operator:OR"}},
		{text: "SrcAS IN (1 ", offset: -1, start: 12, want: []string{"operator:,", "operator:)"}},
		{text: "SrcAS IN ", offset: -1, start: 9, want: []string{"operator:("}},
		{text: "(SrcAS = 1) AND (DstP", offset: -1, start: 17, prefix: "DstP", want: []string{"column:DstPort"}},
		{text: "NOT dstpo", offset: -1, start: 4, prefix: "dstpo", want: []string{"column:DstPort"}},
		// In the middle of the text: what is before the offset counts.
		{text: "SrcAS = 1 AND DstAS = 2", offset: 14, start: 14, want: nil},
		{text: "Foo = ", offset: -1, start: 6},
		{text: "SrcAS = 1 /* open", offset: -1, start: 17},
		{text: "SrcAS = = ", offset: -1, start: 10},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			off := tc.offset
			if off < 0 {
				off = len(tc.text)
			}
			sg := Complete(tc.text, off)
			if tc.text == "SrcAS = 1 AND DstAS = 2" {
				// Every column is offered there.
				if len(sg.Completions) < 60 {
					t.Errorf("got %d completions, want every column", len(sg.Completions))
				}
				return
			}
			if diff := cmp.Diff(tc.want, labels(sg.Completions)); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
			values := ""
			if sg.Values != nil {
				values = sg.Values.Name
			}
			if values != tc.values || sg.Prefix != tc.prefix || sg.Start != tc.start {
				t.Errorf("values %q, prefix %q, start %d; want %q, %q, %d", values, sg.Prefix, sg.Start, tc.values, tc.prefix, tc.start)
			}
			if tc.op != "" && sg.Op != tc.op {
				t.Errorf("op %q, want %q", sg.Op, tc.op)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"InIfBoundary = external AND SrcAS IN (AS15169, 13335) AND NOT DstPort = 443 AND SrcAddr << 192.0.2.0/24",
		"ExporterName = 'it''s' OR ExporterName = \"a\\\"b\" -- c\n AND /* d */ Proto = tcp",
		"SrcMAC = 00:11:22:33:44:55 AND TimeReceived > 2026-11-30T10:00:00Z",
		"(((SrcAS = 1) OR NOT (DstAS = 2)) AND SrcPort NOT IN (1, 2, 3))",
		"SrcAS = foo", "'", "/*", "--", "SrcAddr << ::ffff:1.2.3.4/120", "ExporterName LIKE '%☃%'",
		"InIfBoundary IN ('', external)", "EType = 0x86DD", "\xff\xfe", "SrcAS = 1 AND\n\tDstAS = 2)",
	} {
		f.Add(s, uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, s string, off uint16) {
		e, errs := Parse(s)
		if e == nil && errs == nil {
			// Empty filter: only blanks and comments.
			if strings.TrimSpace(s) != "" && !strings.Contains(s, "--") && !strings.Contains(s, "/*") {
				t.Fatalf("Parse(%q) = nil, nil", s)
			}
		}
		for _, err := range errs {
			if err.Offset < 0 || err.Offset > len(s) {
				t.Fatalf("Parse(%q): offset %d out of range", s, err.Offset)
			}
			if l, c := Position(s, err.Offset); l != err.Line || c != err.Column || l < 1 || c < 1 {
				t.Fatalf("Parse(%q): position %d:%d, offset says %d:%d", s, err.Line, err.Column, l, c)
			}
			if err.Message == "" {
				t.Fatalf("Parse(%q): empty message", s)
			}
		}
		if e != nil {
			text := Format(e)
			e2, errs := Parse(text)
			if errs != nil {
				t.Fatalf("Parse(%q) formats as %q, which fails: %v", s, text, errs)
			}
			if got := Format(e2); got != text {
				t.Fatalf("Parse(%q) formats as %q, then as %q", s, text, got)
			}
		}
		sg := Complete(s, int(off))
		if sg.Start < 0 || sg.Start > len(s) {
			t.Fatalf("Complete(%q, %d): start %d", s, off, sg.Start)
		}
		for _, c := range sg.Completions {
			if !utf8.ValidString(c.Label) {
				t.Fatalf("Complete(%q, %d): label %q", s, off, c.Label)
			}
		}
	})
}
