package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/exporter"
)

// columns is one flow as a JSON line holds it, column by column.
type columns map[string]json.RawMessage

// readColumns reads a JSON lines file of flows (the file sink's output,
// or the truth `flowengine exporter -truth` writes).
func readColumns(t *testing.T, path string) []columns {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []columns
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var c columns
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s line %d: %v", path, len(out)+1, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pipelineColumns are the columns the pipeline fills after decoding
// (enrichers, classifiers) or that the collector stamps (TimeReceived):
// the truth knows nothing of them. SrcAS and DstAS are compared unless an
// enricher "geoip" may replace them.
var pipelineColumns = map[string]bool{
	"TimeReceived": true, "ExporterName": true, "ExporterGroup": true, "ExporterRole": true, "ExporterSite": true,
	"ExporterRegion": true, "ExporterTenant": true, "SrcCountry": true, "DstCountry": true,
	"SrcNetName": true, "DstNetName": true, "SrcNetRole": true, "DstNetRole": true, "SrcNetSite": true, "DstNetSite": true,
	"SrcNetRegion": true, "DstNetRegion": true, "SrcNetTenant": true, "DstNetTenant": true,
	"InIfName": true, "OutIfName": true, "InIfDescription": true, "OutIfDescription": true, "InIfSpeed": true, "OutIfSpeed": true,
	"InIfConnectivity": true, "OutIfConnectivity": true, "InIfProvider": true, "OutIfProvider": true,
	"InIfBoundary": true, "OutIfBoundary": true, "DstASPath": true, "DstCommunities": true, "DstLargeCommunities": true,
}

// timeColumns are compared within the precision each protocol gives.
var timeColumns = []string{"TimeFlowStart", "TimeFlowEnd"}

// timeSlack is how far a decoded time may be from the truth: NetFlow v9
// headers have whole seconds (flow times come out up to 1 s early); an
// sFlow sample has no time, the collector stamps its arrival (later than
// the generator's clock by the time the datagram took).
func timeSlack(protocol string) (early, late time.Duration) {
	switch protocol {
	case exporter.SFlow:
		return 0, 10 * time.Second
	case exporter.NetFlow9:
		return time.Second, 10 * time.Millisecond
	}
	return 10 * time.Millisecond, 10 * time.Millisecond
}

// matchTruth pairs every decoded flow with a flow of the truth holding the
// same value in every column but the pipeline's, times within the
// protocol's precision; it reports decoded flows with no such flow in the
// truth, flows of the truth never decoded, and returns for each decoded
// flow the index of its truth (-1 when there is none).
func matchTruth(t *testing.T, decoded, truth []columns, protocol string, compareAS bool) []int {
	t.Helper()
	var keys []string
	for k := range truth[0] {
		if !pipelineColumns[k] && !slices.Contains(timeColumns, k) && (compareAS || (k != "SrcAS" && k != "DstAS")) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	key := func(c columns) string {
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s ", k, c[k])
		}
		return b.String()
	}
	pending := map[string][]int{}
	for j, c := range truth {
		k := key(c)
		pending[k] = append(pending[k], j)
	}
	early, late := timeSlack(protocol)
	match := make([]int, len(decoded))
	var unmatched, badTimes int
	for i, c := range decoded {
		k := key(c)
		js := pending[k]
		if len(js) == 0 {
			match[i] = -1
			if unmatched++; unmatched <= 5 {
				t.Errorf("decoded flow %d is not in the truth: %s", i+1, k)
			}
			continue
		}
		j := js[0]
		pending[k] = js[1:]
		match[i] = j
		for _, col := range timeColumns {
			var got, want time.Time
			if err := json.Unmarshal(c[col], &got); err != nil {
				t.Fatalf("decoded flow %d: %s: %v", i+1, col, err)
			}
			if err := json.Unmarshal(truth[j][col], &want); err != nil {
				t.Fatalf("truth flow %d: %s: %v", j+1, col, err)
			}
			if d := got.Sub(want); d < -early || d > late {
				if badTimes++; badTimes <= 5 {
					t.Errorf("decoded flow %d: %s %v, sent %v (%v off, allowed -%v..+%v)", i+1, col, got, want, d, early, late)
				}
			}
		}
	}
	var lost []string
	for k, js := range pending {
		for range js {
			if len(lost) < 5 {
				lost = append(lost, k)
			}
		}
	}
	slices.Sort(lost)
	for _, k := range lost {
		t.Errorf("a flow sent was not decoded: %s", k)
	}
	if unmatched > 0 || badTimes > 0 {
		t.Errorf("%d of %d decoded flows differ from every flow sent, %d have times off", unmatched, len(decoded), badTimes)
	}
	t.Logf("%d decoded flows compared with the truth on %d columns and %d times", len(decoded), len(keys), len(timeColumns))
	return match
}
