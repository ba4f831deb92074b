package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowengine/flowengine/console"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/store"
)

// recordingStore answers the HTTP layer's calls and records the queries it
// was given; what it answers is set per test. The queries themselves are
// tested against real stores in cmd/flowengine (TestConsoleAPI).
type recordingStore struct {
	mu         sync.Mutex
	queries    []store.Query
	err        error
	block      bool          // wait for the request's context to end
	hold       chan struct{} // wait for this to close, whatever the context
	panics     bool
	saved      map[string]store.SavedFilter
	names      map[netip.Addr]string // ExporterNames answers these
	askedNames int
}

func (s *recordingStore) record(ctx context.Context, q store.Query) error {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	if s.panics {
		panic("induced")
	}
	if s.hold != nil {
		<-s.hold
	}
	if s.block {
		<-ctx.Done()
		return fmt.Errorf("query: %w", ctx.Err())
	}
	return s.err
}

func (s *recordingStore) Line(ctx context.Context, q store.Query) (*store.LineResult, error) {
	if err := s.record(ctx, q); err != nil {
		return nil, err
	}
	return &store.LineResult{Start: q.Start, End: q.End, Step: 60, Table: "flows_1m0s", Time: []time.Time{q.Start},
		Series: []store.Series{{Dimensions: []string{"AS64501"}, Axis: store.AxisDirect, Values: []float64{1}}}}, nil
}

func (s *recordingStore) Sankey(ctx context.Context, q store.Query) (*store.SankeyResult, error) {
	if err := s.record(ctx, q); err != nil {
		return nil, err
	}
	return &store.SankeyResult{Table: "flows", Nodes: []string{"0:a", "1:b"}, Links: []store.SankeyLink{{Source: "0:a", Target: "1:b", Value: 2}}}, nil
}

func (s *recordingStore) Table(ctx context.Context, q store.Query) (*store.TableResult, error) {
	if err := s.record(ctx, q); err != nil {
		return nil, err
	}
	return &store.TableResult{Table: "flows", Rows: []store.Row{{Dimensions: []string{"Other"}, Axis: store.AxisDirect, Stats: store.Stats{Total: 3}}}}, nil
}

func (s *recordingStore) ValidateFilter(text string) []store.FilterError {
	if strings.Contains(text, "!!") {
		i := strings.Index(text, "!!")
		return []store.FilterError{{Offset: i, Line: 1, Column: i + 1, Message: "unexpected !"}}
	}
	return nil
}

func (s *recordingStore) Complete(_ context.Context, text string, offset int) ([]store.Completion, error) {
	return []store.Completion{{Label: fmt.Sprintf("%s|%d", text, offset), Kind: "column"}}, nil
}

func (s *recordingStore) Columns() []store.ColumnInfo {
	return []store.ColumnInfo{{Name: "SrcAS", Type: "uint", Dimension: true}}
}

func (s *recordingStore) FlowRate(context.Context) (*store.FlowRate, error) {
	return &store.FlowRate{}, nil
}

func (s *recordingStore) Exporters(ctx context.Context) (*store.TableResult, error) {
	return s.Table(ctx, store.Query{})
}

func (s *recordingStore) ExporterNames(ctx context.Context) (map[netip.Addr]string, error) {
	s.mu.Lock()
	s.askedNames++
	s.mu.Unlock()
	if err := s.record(ctx, store.Query{}); err != nil {
		return nil, err
	}
	return s.names, nil
}

func (s *recordingStore) Top(ctx context.Context, dimension, filter string) (*store.TableResult, error) {
	return s.Table(ctx, store.Query{Dimensions: []store.Dimension{{Column: dimension}}, Filter: filter})
}

func (s *recordingStore) LastFlow(context.Context) (map[string]any, error) {
	if len(s.queries) == 0 {
		return nil, nil
	}
	return map[string]any{"SrcAS": 64501}, nil
}

func (s *recordingStore) SavedFilters(context.Context) ([]store.SavedFilter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.SavedFilter
	for _, f := range s.saved {
		out = append(out, f)
	}
	return out, nil
}

func (s *recordingStore) SaveFilter(_ context.Context, f store.SavedFilter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved == nil {
		s.saved = map[string]store.SavedFilter{}
	}
	s.saved[f.Name] = f
	return nil
}

func (s *recordingStore) DeleteFilter(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.saved, name)
	return nil
}

type stats struct{}

func (stats) Stats() engine.PipelineStats {
	return engine.PipelineStats{Uptime: "1s", Stages: []engine.StageStats{{ID: "source.generate.g"}}}
}

func serve(t *testing.T, o console.Options) *httptest.Server {
	t.Helper()
	if o.Pipeline == nil {
		o.Pipeline = stats{}
	}
	srv := httptest.NewServer(console.Handler(o))
	t.Cleanup(srv.Close)
	return srv
}

// call sends a request and decodes the JSON answer into a map (nil for an
// empty body).
func call(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(data)) == 0 {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q: %s", method, path, ct, data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, data)
	}
	return resp.StatusCode, m
}

const api = "/api/v0/console"

func TestQueryDecoding(t *testing.T) {
	st := &recordingStore{}
	srv := serve(t, console.Options{Store: st})
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	code, body := call(t, srv, "POST", api+"/graph/line", `{"start": "2026-11-30T11:00:00+01:00", "end": "2026-11-30T11:00:00Z",
		"points": 120, "dimensions": ["srcas", "SrcAddr/24", "DstAddr"], "truncate": {"DstAddr": 64}, "limit": 5,
		"filter": "InIfBoundary = external", "metric": "pps", "bidirectional": true, "previous_period": true}`)
	if code != 200 || body["table"] != "flows_1m0s" {
		t.Fatalf("%d %v", code, body)
	}
	want := store.Query{Start: start, End: start.Add(time.Hour), Points: 120,
		Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "SrcAddr", Truncate: 24}, {Column: "DstAddr", Truncate: 64}},
		Filter:     "InIfBoundary = external", Limit: 5, Metric: store.MetricPPS, Bidirectional: true, PreviousPeriod: true}
	if got := st.queries[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("query\n got %+v\nwant %+v", got, want)
	}
	// Defaults.
	code, _ = call(t, srv, "POST", api+"/table", `{"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T11:00:00Z"}`)
	if got := st.queries[1]; code != 200 || got.Points != console.DefaultPoints || got.Limit != console.DefaultLimit || got.Metric != console.DefaultMetric || got.Dimensions != nil {
		t.Errorf("defaults: %d %+v", code, got)
	}
	code, body = call(t, srv, "POST", api+"/graph/sankey", `{"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T11:00:00Z", "dimensions": ["SrcAS", "InIfProvider"]}`)
	if code != 200 || len(body["links"].([]any)) != 1 {
		t.Errorf("sankey: %d %v", code, body)
	}
	// The list columns and those the store derives from DstASPath.
	code, _ = call(t, srv, "POST", api+"/graph/sankey", `{"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T11:00:00Z",
		"dimensions": ["dstfirstas", "DstLastAS", "DstASPath", "dstcommunities", "DstLargeCommunities"]}`)
	wantDims := []store.Dimension{{Column: "DstFirstAS"}, {Column: "DstLastAS"}, {Column: "DstASPath"}, {Column: "DstCommunities"}, {Column: "DstLargeCommunities"}}
	if got := st.queries[len(st.queries)-1].Dimensions; code != 200 || !reflect.DeepEqual(got, wantDims) {
		t.Errorf("BGP dimensions: %d %+v", code, got)
	}
}

// TestTopFilter: widgets/top passes its filter, as text, to the store,
// which parses it and renders its values as parameters; a filter the store
// refuses is a 400 with its errors.
func TestTopFilter(t *testing.T) {
	st := &recordingStore{}
	srv := serve(t, console.Options{Store: st})
	for _, f := range []string{"", "DstASPath != ''", "DstASPath HAS AS3356 AND DstFirstAS != 0", `ExporterName = "x'; DROP TABLE flows; --"`} {
		n := len(st.queries)
		code, body := call(t, srv, "GET", api+"/widgets/top/dstfirstas?filter="+url.QueryEscape(f), "")
		if code != 200 || len(st.queries) != n+1 {
			t.Fatalf("filter %q: %d %v", f, code, body)
		}
		q := st.queries[n]
		if q.Filter != f || len(q.Dimensions) != 1 || q.Dimensions[0].Column != "DstFirstAS" {
			t.Errorf("filter %q: the store was asked %+v", f, q)
		}
	}
	st.err = fmt.Errorf("query: %w", &store.InvalidFilterError{Errors: []store.FilterError{{Offset: 13, Line: 1, Column: 14, Message: "expected a value"}}})
	code, body := call(t, srv, "GET", api+"/widgets/top/DstASPath?filter="+url.QueryEscape("DstASPath != "), "")
	if errs, _ := body["errors"].([]any); code != 400 || len(errs) != 1 {
		t.Errorf("refused filter: %d %v", code, body)
	}
}

func TestBadRequests(t *testing.T) {
	st := &recordingStore{}
	srv := serve(t, console.Options{Store: st, MaxBodySize: 4096})
	const rng = `"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T11:00:00Z"`
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string // in the message
	}{
		{"empty body", "/table", ``, 400, "body is empty"},
		{"bad JSON", "/table", `{"start": `, 400, "ends in the middle"},
		{"syntax", "/table", `{"start" "x"}`, 400, "not valid JSON at byte 10: invalid character"},
		{"not an object", "/table", `[1, 2]`, 400, "must be a JSON object"},
		{"two objects", "/table", `{` + rng + `} {}`, 400, "nothing after it"},
		{"unknown field", "/table", `{` + rng + `, "dimension": ["SrcAS"]}`, 400, `Unknown field "dimension" (did you mean "dimensions"?)`},
		{"wrong type", "/table", `{` + rng + `, "points": "many"}`, 400, `"points" must be a number`},
		{"bad time", "/table", `{"start": "yesterday", "end": "2026-11-30T11:00:00Z"}`, 400, "RFC 3339"},
		{"no start", "/table", `{"end": "2026-11-30T11:00:00Z"}`, 400, "start and end are required"},
		{"end before start", "/table", `{"start": "2026-11-30T11:00:00Z", "end": "2026-11-30T10:00:00Z"}`, 400, "must come after start"},
		{"unknown metric", "/graph/line", `{` + rng + `, "metric": "bps"}`, 400, `Unknown metric "bps": use one of l3bps, l2bps, pps, flows, inl2%, outl2%`},
		{"unknown column", "/table", `{` + rng + `, "dimensions": ["SrcASN"]}`, 400, `There is no column "SrcASN". Did you mean "SrcAS"?`},
		{"misspelt derived column", "/table", `{` + rng + `, "dimensions": ["DstFirstASN"]}`, 400, `Did you mean "DstFirstAS"?`},
		{"truncated list", "/table", `{` + rng + `, "dimensions": ["DstASPath/8"]}`, 400, "Only addresses can be truncated"},
		{"counter as dimension", "/table", `{` + rng + `, "dimensions": ["Bytes"]}`, 400, "Bytes cannot be a dimension"},
		{"duplicate dimension", "/table", `{` + rng + `, "dimensions": ["SrcAS", "srcas"]}`, 400, "listed twice"},
		{"bad prefix", "/table", `{` + rng + `, "dimensions": ["SrcAddr/x"]}`, 400, "must be a number"},
		{"truncate not an address", "/table", `{` + rng + `, "dimensions": ["SrcAS/8"]}`, 400, "Only addresses can be truncated"},
		{"prefix too long", "/table", `{` + rng + `, "dimensions": ["SrcAddr/129"]}`, 400, "between 0 and 128"},
		{"truncate of no dimension", "/table", `{` + rng + `, "truncate": {"SrcAddr": 24}}`, 400, "not one of the dimensions"},
		{"negative limit", "/table", `{` + rng + `, "limit": -1}`, 400, "limit must be at least 1"},
		{"sankey of one dimension", "/graph/sankey", `{` + rng + `, "dimensions": ["SrcAS"]}`, 400, "at least two dimensions"},
		{"injection in a dimension", "/table", `{` + rng + `, "dimensions": ["SrcAS; DROP TABLE flows"]}`, 400, "There is no column"},
		{"quote in a dimension", "/table", `{` + rng + `, "dimensions": ["SrcAS\"--"]}`, 400, "There is no column"},
		{"body too large", "/table", `{"filter": "` + strings.Repeat("a", 5000) + `"}`, 413, "max_body_size, 4096 bytes"},
		{"offset outside", "/filter/complete", `{"filter": "SrcAS", "offset": 6}`, 400, "outside the filter"},
		{"offset in a character", "/filter/complete", `{"filter": "é", "offset": 1}`, 400, "middle of a character"},
		{"offset on validate", "/filter/validate", `{"filter": "SrcAS", "offset": 1}`, 400, "filter/complete"},
		{"unnamed saved filter", "/filters/saved", `{"filter": "SrcAS = 1"}`, 400, "needs a name"},
		{"unknown top dimension", "/widgets/top/Nope", ``, 400, "There is no column"},
		{"unknown top parameter", "/widgets/top/DstASPath?where=1", ``, 400, `Unknown parameter "where"`},
		{"top filter twice", "/widgets/top/DstASPath?filter=SrcAS+%3D+1&filter=DstAS+%3D+2", ``, 400, "given 2 times"},
		{"top filter too long", "/widgets/top/DstASPath?filter=" + strings.Repeat("a", 5000), ``, 400, "max_body_size, 4096 bytes"},
		{"top filter not UTF-8", "/widgets/top/DstASPath?filter=%ff", ``, 400, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			switch {
			case strings.HasPrefix(tc.path, "/filters/saved"):
				method = "PUT"
			case strings.HasPrefix(tc.path, "/widgets"):
				method = "GET"
			}
			n := len(st.queries)
			code, body := call(t, srv, method, api+tc.path, tc.body)
			msg, _ := body["message"].(string)
			if code != tc.status || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %q, want %d with %q", code, msg, tc.status, tc.want)
			}
			if len(st.queries) != n {
				t.Errorf("the store was asked: %+v", st.queries[n:])
			}
		})
	}
}

func TestStoreErrors(t *testing.T) {
	const q = `{"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T11:00:00Z"}`
	for _, tc := range []struct {
		name   string
		st     *recordingStore
		status int
		want   map[string]any
	}{
		{"limit", &recordingStore{err: fmt.Errorf("query: %w", &store.LimitError{Limit: "points", Max: 2000, Got: 5000})}, 400,
			map[string]any{"limit": "points", "max": 2000.0, "got": 5000.0}},
		{"invalid", &recordingStore{err: fmt.Errorf("%w: filter: at line 1, column 7: expected a value", store.ErrInvalid)}, 400,
			map[string]any{"message": fmt.Errorf("%w: filter: at line 1, column 7: expected a value", store.ErrInvalid).Error()}},
		{"filter", &recordingStore{err: fmt.Errorf("query: %w", &store.InvalidFilterError{Errors: []store.FilterError{{Offset: 6, Line: 1, Column: 7, Message: "expected a value"}}})}, 400,
			map[string]any{"errors": []any{map[string]any{"offset": 6.0, "line": 1.0, "column": 7.0, "message": "expected a value"}}}},
		{"store down", &recordingStore{err: errors.New("connection refused")}, 500,
			map[string]any{"message": "The store failed to answer: connection refused."}},
		{"timeout", &recordingStore{block: true}, 503, nil},
		{"panic", &recordingStore{panics: true}, 500, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, console.Options{Store: tc.st, RequestTimeout: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			code, body := call(t, srv, "POST", api+"/graph/line", q)
			if code != tc.status || body["message"] == "" {
				t.Fatalf("got %d %v, want %d", code, body, tc.status)
			}
			for k, v := range tc.want {
				if !reflect.DeepEqual(body[k], v) {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			// The server is still up.
			if code, _ := call(t, srv, "GET", api+"/columns", ""); code != 200 {
				t.Errorf("columns after the error: %d", code)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	st := &recordingStore{}
	srv := serve(t, console.Options{Store: st})
	code, body := call(t, srv, "POST", api+"/filter/validate", `{"filter": "SrcAS = 1"}`)
	if code != 200 || body["valid"] != true || body["errors"] == nil || len(body["errors"].([]any)) != 0 {
		t.Errorf("validate: %d %v", code, body)
	}
	code, body = call(t, srv, "POST", api+"/filter/validate", `{"filter": "SrcAS !! 1"}`)
	if code != 200 || body["valid"] != false || !reflect.DeepEqual(body["errors"], []any{map[string]any{"offset": 6.0, "line": 1.0, "column": 7.0, "message": "unexpected !"}}) {
		t.Errorf("validate: %d %v", code, body)
	}
	code, body = call(t, srv, "POST", api+"/filter/complete", `{"filter": "Src"}`)
	if code != 200 || body["completions"].([]any)[0].(map[string]any)["label"] != "Src|3" {
		t.Errorf("complete: %d %v", code, body)
	}
	code, body = call(t, srv, "POST", api+"/filter/complete", `{"filter": "SrcAS = 1", "offset": 2}`)
	if code != 200 || body["completions"].([]any)[0].(map[string]any)["label"] != "SrcAS = 1|2" {
		t.Errorf("complete: %d %v", code, body)
	}
	if code, body = call(t, srv, "GET", api+"/widgets/last-flow", ""); code != 404 || !strings.Contains(body["message"].(string), "No flow is stored yet") {
		t.Errorf("last flow before any: %d %v", code, body)
	}
	for _, path := range []string{"/widgets/flow-rate", "/widgets/exporters", "/widgets/top/dstcountry", "/widgets/last-flow", "/columns"} {
		if code, body := call(t, srv, "GET", api+path, ""); code != 200 || body == nil {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
	if got := st.queries[len(st.queries)-1].Dimensions; got[0].Column != "DstCountry" {
		t.Errorf("top asked for %+v", got)
	}
	// Saved filters.
	if code, body = call(t, srv, "PUT", api+"/filters/saved", `{"name": "web", "filter": "DstPort = 443", "description": "HTTPS"}`); code != 200 || body["name"] != "web" {
		t.Errorf("save: %d %v", code, body)
	}
	call(t, srv, "PUT", api+"/filters/saved", `{"name": "dns", "filter": "DstPort = 53"}`)
	if code, body = call(t, srv, "GET", api+"/filters/saved", ""); code != 200 || len(body["filters"].([]any)) != 2 {
		t.Errorf("list: %d %v", code, body)
	}
	if code, _ = call(t, srv, "DELETE", api+"/filters/saved?name=web", ""); code != 204 {
		t.Errorf("delete ?name=: %d", code)
	}
	if code, _ = call(t, srv, "DELETE", api+"/filters/saved/dns", ""); code != 204 {
		t.Errorf("delete /name: %d", code)
	}
	if code, body = call(t, srv, "DELETE", api+"/filters/saved", ""); code != 400 {
		t.Errorf("delete without a name: %d %v", code, body)
	}
	if code, body = call(t, srv, "GET", api+"/filters/saved", ""); code != 200 || len(body["filters"].([]any)) != 0 {
		t.Errorf("list after deletes: %d %v", code, body)
	}
	// The engine's endpoints.
	if code, body = call(t, srv, "GET", "/api/v0/pipeline", ""); code != 200 || body["uptime"] != "1s" {
		t.Errorf("pipeline: %d %v", code, body)
	}
	if code, body = call(t, srv, "GET", "/api/v0/schemas.json", ""); code != 200 || body["versions"] == nil {
		t.Errorf("schemas: %d %v", code, body)
	}
	// Unknown paths and methods answer JSON.
	if code, body = call(t, srv, "GET", api+"/nope", ""); code != 404 || !strings.Contains(body["message"].(string), "No such endpoint") {
		t.Errorf("404: %d %v", code, body)
	}
	if code, body = call(t, srv, "GET", api+"/table", ""); code != 405 {
		t.Errorf("405: %d %v", code, body)
	}
	// The page.
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<div id="app">`) && !strings.Contains(string(page), "make build") {
		t.Errorf("index: %s", page)
	}
}

func TestNoStore(t *testing.T) {
	srv := serve(t, console.Options{})
	if code, body := call(t, srv, "GET", api+"/columns", ""); code != 503 || !strings.Contains(body["message"].(string), "no store") {
		t.Errorf("%d %v", code, body)
	}
}

func TestAuth(t *testing.T) {
	const token = "0123456789abcdef0123"
	st := &recordingStore{}
	srv := serve(t, console.Options{Store: st, Auth: console.Auth{Token: token}})
	for _, tc := range []struct {
		name   string
		header []string
		status int
	}{
		{"no header", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer 0123456789abcdef0124"}, 401},
		{"prefix of the token", []string{"Authorization", "Bearer 0123456789"}, 401},
		{"basic", []string{"Authorization", "Basic " + token}, 401},
		{"token alone", []string{"Authorization", token}, 401},
		{"right token", []string{"Authorization", "Bearer " + token}, 200},
		{"scheme in lower case", []string{"Authorization", "bearer " + token}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{api + "/columns", "/api/v0/pipeline"} {
				code, body := call(t, srv, "GET", path, "", tc.header...)
				if code != tc.status {
					t.Errorf("%s: %d %v, want %d", path, code, body, tc.status)
				}
				if code == 401 && (strings.Contains(fmt.Sprint(body), token) || !strings.Contains(body["message"].(string), "Bearer")) {
					t.Errorf("%s: %v", path, body)
				}
			}
		})
	}
	// The page and /healthz need no token.
	for _, path := range []string{"/healthz", "/"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}

	srv = serve(t, console.Options{Store: st, Auth: console.Auth{UserHeader: "Remote-User"}})
	if code, body := call(t, srv, "GET", api+"/columns", ""); code != 401 || !strings.Contains(body["message"].(string), "Remote-User") {
		t.Errorf("without the header: %d %v", code, body)
	}
	if code, _ := call(t, srv, "GET", api+"/columns", "", "Remote-User", " "); code != 401 {
		t.Errorf("with an empty header: %d", code)
	}
	if code, _ := call(t, srv, "GET", api+"/columns", "", "remote-user", "alice"); code != 200 {
		t.Errorf("with the header: %d", code)
	}
}

// A secret never shows when formatted, logged or marshalled.
func TestSecret(t *testing.T) {
	const tok = "0123456789abcdef0123"
	a := console.Auth{Token: tok}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("auth", "token", a.Token, "auth", a)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("auth", "token", a.Token, "auth", a)
	js, _ := json.Marshal(a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v %#v %v %s %q", a, a, a.Token, a.Token, a.Token), buf.String(), string(js)} {
		if strings.Contains(s, tok) {
			t.Errorf("the token shows: %s", s)
		}
	}
}

// Requests over MaxQueries wait for a slot, and give up at the timeout.
func TestBusy(t *testing.T) {
	st := &recordingStore{hold: make(chan struct{})}
	srv := serve(t, console.Options{Store: st, MaxQueries: 1, RequestTimeout: 300 * time.Millisecond})
	const q = `{"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T11:00:00Z"}`
	first := make(chan int)
	go func() {
		code, _ := call(t, srv, "POST", api+"/table", q)
		first <- code
	}()
	for {
		st.mu.Lock()
		n := len(st.queries)
		st.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	code, body := call(t, srv, "POST", api+"/table", q)
	if code != 503 || !strings.Contains(body["message"].(string), "busy") {
		t.Errorf("second request: %d %v", code, body)
	}
	close(st.hold)
	if code := <-first; code != 200 {
		t.Errorf("first request: %d", code)
	}
}

// exporterStats is a pipeline whose source lists exporters, one of them
// named by the source itself.
type exporterStats struct{}

func (exporterStats) Stats() engine.PipelineStats {
	return engine.PipelineStats{Uptime: "1s", Stages: []engine.StageStats{{ID: "source.netflow.n", Exporters: []engine.ExporterStats{
		{Address: "192.0.2.1"}, {Address: "2001:db8::9"}, {Address: "192.0.2.7", Name: "from-source"}, {Address: "192.0.2.8"},
	}}}}
}

// TestPipelineExporterNames checks that /api/v0/pipeline names the
// exporters with the names the store knows, asks the store once per TTL,
// and answers without names when the store fails.
func TestPipelineExporterNames(t *testing.T) {
	names := func(body map[string]any) []string {
		var out []string
		for _, e := range body["stages"].([]any)[0].(map[string]any)["exporters"].([]any) {
			n, _ := e.(map[string]any)["name"].(string)
			out = append(out, n)
		}
		return out
	}
	st := &recordingStore{names: map[netip.Addr]string{
		netip.MustParseAddr("192.0.2.1"):   "edge1",
		netip.MustParseAddr("2001:db8::9"): "v6-core",
		netip.MustParseAddr("192.0.2.7"):   "from-store",
	}}
	srv := serve(t, console.Options{Store: st, Pipeline: exporterStats{}})
	for range 3 {
		code, body := call(t, srv, "GET", "/api/v0/pipeline", "")
		if want := []string{"edge1", "v6-core", "from-source", ""}; code != 200 || !reflect.DeepEqual(names(body), want) {
			t.Errorf("names %d %q, want %q", code, names(body), want)
		}
	}
	if st.askedNames != 1 {
		t.Errorf("the store was asked %d times in the TTL, want once", st.askedNames)
	}

	failing := &recordingStore{err: errors.New("induced")}
	srv = serve(t, console.Options{Store: failing, Pipeline: exporterStats{}})
	if code, body := call(t, srv, "GET", "/api/v0/pipeline", ""); code != 200 || !reflect.DeepEqual(names(body), []string{"", "", "from-source", ""}) {
		t.Errorf("failing store: %d %q", code, names(body))
	}
	srv = serve(t, console.Options{Pipeline: exporterStats{}})
	if code, body := call(t, srv, "GET", "/api/v0/pipeline", ""); code != 200 || names(body)[0] != "" {
		t.Errorf("no store: %d %v", code, body)
	}
}
