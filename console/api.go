package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/flowengine/flowengine/flow/flowpb"
	"github.com/flowengine/flowengine/store"
)

// answer writes a store answer, or its error.
func (s *server) answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		status := bad.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		writeError(w, status, bad.msg)
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *server) query(r *http.Request) (store.Query, error) {
	var q queryJSON
	if err := decodeJSON(r, &q); err != nil {
		return store.Query{}, err
	}
	return q.toQuery()
}

func (s *server) graphLine(w http.ResponseWriter, r *http.Request) {
	q, err := s.query(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	res, err := s.Store.Line(r.Context(), q)
	s.answer(w, r, res, err)
}

func (s *server) graphSankey(w http.ResponseWriter, r *http.Request) {
	q, err := s.query(r)
	if err == nil && len(q.Dimensions) < 2 {
		err = badf("A sankey needs at least two dimensions, like [\"SrcAS\", \"InIfProvider\"].")
	}
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	res, err := s.Store.Sankey(r.Context(), q)
	s.answer(w, r, res, err)
}

func (s *server) table(w http.ResponseWriter, r *http.Request) {
	q, err := s.query(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	res, err := s.Store.Table(r.Context(), q)
	s.answer(w, r, res, err)
}

type filterJSON struct {
	Filter string `json:"filter"`
	Offset *int   `json:"offset"`
}

type validateAnswer struct {
	Valid  bool                `json:"valid"`
	Errors []store.FilterError `json:"errors"`
}

func (s *server) filterValidate(w http.ResponseWriter, r *http.Request) {
	var f filterJSON
	if err := decodeJSON(r, &f); err != nil {
		s.answer(w, r, nil, err)
		return
	}
	if f.Offset != nil {
		s.answer(w, r, nil, badf("Unknown field \"offset\" (it belongs to filter/complete)."))
		return
	}
	errs := s.Store.ValidateFilter(f.Filter)
	if errs == nil {
		errs = []store.FilterError{}
	}
	writeJSON(w, http.StatusOK, validateAnswer{Valid: len(errs) == 0, Errors: errs})
}

type completeAnswer struct {
	Completions []store.Completion `json:"completions"`
}

func (s *server) filterComplete(w http.ResponseWriter, r *http.Request) {
	var f filterJSON
	if err := decodeJSON(r, &f); err != nil {
		s.answer(w, r, nil, err)
		return
	}
	offset := len(f.Filter)
	if f.Offset != nil {
		offset = *f.Offset
		if offset < 0 || offset > len(f.Filter) {
			s.answer(w, r, nil, badf("offset %d is outside the filter, which has %d bytes.", offset, len(f.Filter)))
			return
		}
		if offset < len(f.Filter) && !utf8.RuneStart(f.Filter[offset]) {
			s.answer(w, r, nil, badf("offset %d is in the middle of a character: it counts bytes of the UTF-8 filter.", offset))
			return
		}
	}
	res, err := s.Store.Complete(r.Context(), f.Filter, offset)
	if res == nil {
		res = []store.Completion{}
	}
	s.answer(w, r, completeAnswer{Completions: res}, err)
}

func (s *server) widgetFlowRate(w http.ResponseWriter, r *http.Request) {
	res, err := s.Store.FlowRate(r.Context())
	s.answer(w, r, res, err)
}

func (s *server) widgetExporters(w http.ResponseWriter, r *http.Request) {
	res, err := s.Store.Exporters(r.Context())
	s.answer(w, r, res, err)
}

func (s *server) widgetTop(w http.ResponseWriter, r *http.Request) {
	c, err := column(chi.URLParam(r, "dimension"))
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	f, err := s.topFilter(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	res, err := s.Store.Top(r.Context(), c.Name, f)
	s.answer(w, r, res, err)
}

// topFilter is the one parameter widgets/top takes: filter, in the filter
// language (the store parses it and passes its values as parameters), no
// longer than a request body may be.
func (s *server) topFilter(r *http.Request) (string, error) {
	q := r.URL.Query()
	for k := range q {
		if k != "filter" {
			return "", badf("Unknown parameter %q: widgets/top takes only filter (e.g. ?filter=DstASPath%%20!%%3D%%20'').", k)
		}
	}
	fs := q["filter"]
	switch {
	case len(fs) > 1:
		return "", badf("filter is given %d times: give it once (join conditions with AND).", len(fs))
	case len(fs) == 0:
		return "", nil
	case int64(len(fs[0])) > s.MaxBodySize:
		return "", badf("The filter has %d bytes, more than max_body_size, %d bytes.", len(fs[0]), s.MaxBodySize)
	case !utf8.ValidString(fs[0]):
		return "", badf("The filter is not valid UTF-8.")
	}
	return fs[0], nil
}

func (s *server) widgetLastFlow(w http.ResponseWriter, r *http.Request) {
	res, err := s.Store.LastFlow(r.Context())
	if err == nil && res == nil {
		writeError(w, http.StatusNotFound, "No flow is stored yet: check that exporters send flows to the pipeline (GET /api/v0/pipeline shows its counters).")
		return
	}
	s.answer(w, r, res, err)
}

type columnsAnswer struct {
	Columns []store.ColumnInfo `json:"columns"`
}

func (s *server) columns(w http.ResponseWriter, _ *http.Request) {
	cols := s.Store.Columns()
	if cols == nil {
		cols = []store.ColumnInfo{}
	}
	writeJSON(w, http.StatusOK, columnsAnswer{Columns: cols})
}

type savedAnswer struct {
	Filters []store.SavedFilter `json:"filters"`
}

func (s *server) savedFilters(w http.ResponseWriter, r *http.Request) {
	res, err := s.Store.SavedFilters(r.Context())
	if res == nil {
		res = []store.SavedFilter{}
	}
	s.answer(w, r, savedAnswer{Filters: res}, err)
}

// savedFilterJSON is the body of PUT filters/saved.
type savedFilterJSON struct {
	Name        string `json:"name"`
	Filter      string `json:"filter"`
	Description string `json:"description"`
}

func (s *server) saveFilter(w http.ResponseWriter, r *http.Request) {
	var f savedFilterJSON
	if err := decodeJSON(r, &f); err != nil {
		s.answer(w, r, nil, err)
		return
	}
	if strings.TrimSpace(f.Name) == "" {
		s.answer(w, r, nil, badf("A saved filter needs a name."))
		return
	}
	sf := store.SavedFilter{Name: f.Name, Filter: f.Filter, Description: f.Description}
	if err := s.Store.SaveFilter(r.Context(), sf); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sf)
}

func (s *server) deleteFilter(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if q := r.URL.Query().Get("name"); name == "" {
		name = q
	}
	if strings.TrimSpace(name) == "" {
		s.answer(w, r, nil, badf("Name the filter to delete: DELETE /api/v0/console/filters/saved/<name> or ?name=<name>."))
		return
	}
	if err := s.Store.DeleteFilter(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) pipeline(w http.ResponseWriter, r *http.Request) {
	if s.Pipeline == nil {
		writeError(w, http.StatusServiceUnavailable, "No pipeline is running in this process.")
		return
	}
	st := s.Pipeline.Stats()
	if s.Store != nil && unnamed(&st) {
		nameExporters(&st, s.exporterNames(r.Context(), &st))
	}
	writeIndented(w, st)
}

func serveSchemas(w http.ResponseWriter, _ *http.Request) {
	writeIndented(w, flowpb.Schemas())
}

func writeIndented(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
