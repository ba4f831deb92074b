package dialecttest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// ExporterNameRecords are flows of exporters named, renamed, never named
// and named too long before now, for CheckExporterNames.
func ExporterNameRecords(now time.Time) *flow.Batch {
	at := func(ago time.Duration, addr, name string) flow.Record {
		return flow.Record{TimeReceived: now.Add(-ago), ExporterAddress: netip.MustParseAddr(addr), ExporterName: name,
			SamplingRate: 1, Bytes: 100, Packets: 1}
	}
	b := flow.NewBatch()
	for _, r := range []flow.Record{
		at(40*time.Minute, "192.0.2.1", "old-name"),
		at(10*time.Minute, "192.0.2.1", "edge1"),
		at(20*time.Minute, "192.0.2.1", "old-name"),
		at(5*time.Minute, "192.0.2.2", ""),   // never named
		at(2*time.Hour, "192.0.2.3", "gone"), // named before the hour
		at(3*time.Minute, "2001:db8::9", "v6-core"),
	} {
		*b.Append() = r
	}
	return b
}

// CheckExporterNames checks that a backend holding ExporterNameRecords(now)
// names each exporter after its latest name of the last hour.
func CheckExporterNames(t *testing.T, b store.Backend, now time.Time) {
	t.Helper()
	st := store.New(b)
	st.Now = func() time.Time { return now }
	got, err := st.ExporterNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Addr]string{
		netip.MustParseAddr("192.0.2.1"):   "edge1",
		netip.MustParseAddr("2001:db8::9"): "v6-core",
	}
	if len(got) != len(want) {
		t.Errorf("names %v, want %v", got, want)
	}
	for a, n := range want {
		if got[a] != n {
			t.Errorf("names %v, want %v", got, want)
			break
		}
	}
}

// RawOnly hides a backend's rollups from the store: queries read the raw
// table.
type RawOnly struct{ store.Backend }

// Tables returns the raw table only.
func (r RawOnly) Tables() []store.Table { return r.Backend.Tables()[:1] }
