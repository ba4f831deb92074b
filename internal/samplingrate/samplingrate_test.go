package samplingrate

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestParseAndLookup(t *testing.T) {
	tbl, err := Parse(cty.ObjectVal(map[string]cty.Value{
		"0.0.0.0/0":           cty.NumberIntVal(1),
		"192.0.2.0/24":        cty.NumberIntVal(1000),
		"192.0.2.128/25":      cty.NumberIntVal(2000),
		"::ffff:10.0.0.0/104": cty.NumberIntVal(30),
		"2001:db8::/32":       cty.NumberIntVal(4096),
	}))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]uint64{
		"192.0.2.1": 1000, "192.0.2.200": 2000, "::ffff:192.0.2.200": 2000, "198.51.100.1": 1,
		"10.1.2.3": 30, "2001:db8::1": 4096,
	} {
		if got := tbl.Rate(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %d, want %d", addr, got, want)
		}
	}
	if _, ok := tbl.Lookup(netip.MustParseAddr("2001:db9::1")); ok {
		t.Error("an address outside every prefix has no rate")
	}
	if u := Uniform(64); u.Rate(netip.MustParseAddr("::1")) != 64 || u.Rate(netip.MustParseAddr("127.0.0.1")) != 64 {
		t.Error("uniform")
	}
	_, err = Parse(cty.ObjectVal(map[string]cty.Value{"nope": cty.NumberIntVal(1), "10.0.0.0/8": cty.NumberFloatVal(1.5)}))
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "10.0.0.0/8") {
		t.Errorf("errors: %v", err)
	}
	if _, err := Parse(cty.StringVal("x")); err == nil {
		t.Error("a string is not a rate")
	}
}
