package store

import (
	"strings"
	"testing"

	"github.com/flowengine/flowengine/store/filter"
)

// FuzzFilterSQL checks that a filter renders to SQL whose only values are
// parameters: one "?" per argument, and no quoted text the user typed.
func FuzzFilterSQL(f *testing.F) {
	for _, n := range nasty {
		f.Add("ExporterName = " + filter.Literal(n) + " OR SrcAS IN (1, AS2) AND NOT InIfName LIKE " + filter.Literal(n))
	}
	f.Add("SrcAddr << 192.0.2.0/24 AND InIfBoundary = external AND TimeReceived > 2026-01-01")
	f.Add("DstASPath HAS AS3356 AND NOT DstCommunities HAS 65000:100 OR DstLargeCommunities NOT HAS 1:2:3 AND DstFirstAS = 1")
	f.Add("DstASPath IN ('1 2', '') AND DstCommunities != '65000:1 0:0' AND DstLastAS >= AS15169")
	f.Fuzz(func(t *testing.T, text string) {
		e, errs := filter.Parse(text)
		if errs != nil || e == nil {
			return
		}
		var s sqlText
		if err := renderFilter(&s, testDialect{}, e, false); err != nil {
			t.Fatalf("render %q: %v", text, err)
		}
		sql := s.String()
		if strings.Count(sql, "?") != len(s.args) {
			t.Fatalf("%q renders as %s with %d arguments", text, sql, len(s.args))
		}
		// Only identifiers of the schema, operators and placeholders.
		for _, c := range []string{"'", ";", "--", "/*", "\\"} {
			if strings.Contains(sql, c) {
				t.Fatalf("%q renders as %s, which has %q", text, sql, c)
			}
		}
	})
}
