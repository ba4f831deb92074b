package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
	"github.com/flowengine/flowengine/store/filter"
)

// queryJSON is the body of graph/line, graph/sankey and table.
type queryJSON struct {
	Start          *time.Time     `json:"start"`
	End            *time.Time     `json:"end"`
	Points         int            `json:"points"`
	Dimensions     []string       `json:"dimensions"`
	Truncate       map[string]int `json:"truncate"`
	Limit          *int           `json:"limit"`
	Filter         string         `json:"filter"`
	Metric         string         `json:"metric"`
	Bidirectional  bool           `json:"bidirectional"`
	PreviousPeriod bool           `json:"previous_period"`
}

// Defaults of a query.
const (
	DefaultPoints = 200
	DefaultLimit  = 10
	DefaultMetric = store.MetricL3bps
)

var metrics = []store.Metric{store.MetricL3bps, store.MetricL2bps, store.MetricPPS, store.MetricFlows, store.MetricInL2, store.MetricOutL2}

// badRequest is a mistake in a request, answered with 400.
type badRequest struct {
	msg    string
	status int // 400 when 0
}

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{msg: fmt.Sprintf(format, args...)} }

// decodeJSON reads a request body strictly: one JSON object, no unknown
// field, nothing after it.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			return badf("The body must hold one JSON object and nothing after it.")
		}
		return nil
	}
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &maxErr):
		return &badRequest{fmt.Sprintf("The body is larger than the console accepts (max_body_size, %d bytes).", maxErr.Limit), http.StatusRequestEntityTooLarge}
	case errors.Is(err, io.EOF):
		return badf("The body is empty: send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badf("The body ends in the middle of its JSON.")
	case errors.As(err, &syntaxErr):
		return badf("The body is not valid JSON at byte %d: %s.", syntaxErr.Offset, syntaxErr)
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return badf("%q must be a %s, not a JSON %s.", typeErr.Field, jsonType(typeErr.Type.String()), typeErr.Value)
		}
		return badf("The body must be a JSON object, not a JSON %s.", typeErr.Value)
	case errors.As(err, &timeErr):
		return badf("A time must be written as RFC 3339, like \"2026-11-30T10:00:00Z\": %q is not.", timeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		name, _ = strconv.Unquote(name)
		return badf("Unknown field %q%s.", name, fieldHint(name, v))
	}
	return badf("The body could not be read: %s.", err)
}

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "number"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.HasPrefix(goType, "[]"):
		return "list"
	case strings.HasPrefix(goType, "map"):
		return "object"
	case strings.Contains(goType, "Time"):
		return "time (RFC 3339 string)"
	}
	return "string"
}

// fieldHint suggests the field meant from the JSON names of v's struct.
func fieldHint(name string, v any) string {
	var fields []string
	switch v.(type) {
	case *queryJSON:
		fields = []string{"start", "end", "points", "dimensions", "truncate", "limit", "filter", "metric", "bidirectional", "previous_period"}
	case *filterJSON:
		fields = []string{"filter", "offset"}
	case *savedFilterJSON:
		fields = []string{"name", "filter", "description"}
	}
	if s := dsl.DidYouMean(name, fields); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(fields) > 0 {
		return fmt.Sprintf("; the fields are %s", strings.Join(fields, ", "))
	}
	return ""
}

// dimensionNames are the columns a query may group by, for messages.
func dimensionNames() []string {
	var out []string
	for _, c := range filter.AllColumns() {
		if c.Dimension {
			out = append(out, c.Name)
		}
	}
	return out
}

// column finds a dimension column by name, case-insensitively: a flow
// column or one the store derives (DstFirstAS from DstASPath).
func column(name string) (flow.Column, error) {
	if c, ok := filter.LookupColumn(name); ok {
		if !c.Dimension {
			return c, badf("%s cannot be a dimension (it is a counter or a time); dimensions are columns such as SrcAS, DstCountry, InIfProvider (GET /api/v0/console/columns lists them).", c.Name)
		}
		return c, nil
	}
	msg := fmt.Sprintf("There is no column %q.", name)
	if s := dsl.DidYouMean(name, dimensionNames()); s != "" {
		msg += fmt.Sprintf(" Did you mean %q?", s)
	} else {
		msg += " GET /api/v0/console/columns lists them."
	}
	return flow.Column{}, &badRequest{msg: msg}
}

// toQuery checks a decoded body and turns it into the store's query. Limits
// (range, points, dimensions, top-N) are the store's to check.
func (q *queryJSON) toQuery() (store.Query, error) {
	var out store.Query
	if q.Start == nil || q.End == nil {
		return out, badf("start and end are required, as RFC 3339 times like \"2026-11-30T10:00:00Z\".")
	}
	if !q.End.After(*q.Start) {
		return out, badf("end (%s) must come after start (%s).", q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	}
	out.Start, out.End = q.Start.UTC(), q.End.UTC()
	out.Points = q.Points
	if out.Points == 0 {
		out.Points = DefaultPoints
	}
	if out.Points < 1 {
		return out, badf("points must be at least 1, not %d.", q.Points)
	}
	out.Limit = DefaultLimit
	if q.Limit != nil {
		out.Limit = *q.Limit
		if out.Limit < 1 {
			return out, badf("limit must be at least 1, not %d.", out.Limit)
		}
	}
	out.Metric = store.Metric(q.Metric)
	if q.Metric == "" {
		out.Metric = DefaultMetric
	}
	known := false
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = string(m)
		known = known || m == out.Metric
	}
	if !known {
		return out, badf("Unknown metric %q: use one of %s.", q.Metric, strings.Join(names, ", "))
	}
	out.Filter = q.Filter
	out.Bidirectional = q.Bidirectional
	out.PreviousPeriod = q.PreviousPeriod
	seen := map[string]int{}
	for _, d := range q.Dimensions {
		name, bits, hasBits := strings.Cut(strings.TrimSpace(d), "/")
		c, err := column(strings.TrimSpace(name))
		if err != nil {
			return out, err
		}
		if _, dup := seen[c.Name]; dup {
			return out, badf("Dimension %s is listed twice.", c.Name)
		}
		dim := store.Dimension{Column: c.Name}
		if hasBits {
			n, err := strconv.Atoi(strings.TrimSpace(bits))
			if err != nil {
				return out, badf("In dimension %q, the prefix length after / must be a number, like SrcAddr/24.", d)
			}
			dim.Truncate = n
		}
		seen[c.Name] = len(out.Dimensions)
		out.Dimensions = append(out.Dimensions, dim)
	}
	names = names[:0]
	for name := range q.Truncate {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c, err := column(name)
		if err != nil {
			return out, err
		}
		i, ok := seen[c.Name]
		if !ok {
			return out, badf("truncate names %s, which is not one of the dimensions.", c.Name)
		}
		if out.Dimensions[i].Truncate != 0 && out.Dimensions[i].Truncate != q.Truncate[name] {
			return out, badf("%s is truncated twice, to /%d in dimensions and /%d in truncate.", c.Name, out.Dimensions[i].Truncate, q.Truncate[name])
		}
		out.Dimensions[i].Truncate = q.Truncate[name]
	}
	for _, d := range out.Dimensions {
		if d.Truncate == 0 {
			continue
		}
		c, _ := flow.ColumnByName(d.Column)
		if c.Kind != flow.KindAddr {
			return out, badf("Only addresses can be truncated; %s is not an address.", d.Column)
		}
		if d.Truncate < 0 || d.Truncate > 128 {
			return out, badf("%s/%d: a prefix length is between 0 and 128 (32 for IPv4).", d.Column, d.Truncate)
		}
	}
	return out, nil
}
