package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/store"
)

// Store is what the console asks of a flow store; *store.Store implements it.
type Store interface {
	Line(ctx context.Context, q store.Query) (*store.LineResult, error)
	Sankey(ctx context.Context, q store.Query) (*store.SankeyResult, error)
	Table(ctx context.Context, q store.Query) (*store.TableResult, error)
	ValidateFilter(text string) []store.FilterError
	Complete(ctx context.Context, text string, offset int) ([]store.Completion, error)
	Columns() []store.ColumnInfo
	FlowRate(ctx context.Context) (*store.FlowRate, error)
	Exporters(ctx context.Context) (*store.TableResult, error)
	ExporterNames(ctx context.Context) (map[netip.Addr]string, error)
	Top(ctx context.Context, dimension, filter string) (*store.TableResult, error)
	LastFlow(ctx context.Context) (map[string]any, error)
	SavedFilters(ctx context.Context) ([]store.SavedFilter, error)
	SaveFilter(ctx context.Context, f store.SavedFilter) error
	DeleteFilter(ctx context.Context, name string) error
}

var _ Store = (*store.Store)(nil)

// Pipeline is the running pipeline the console shows; *engine.Runtime
// implements it.
type Pipeline interface {
	Stats() engine.PipelineStats
}

var _ Pipeline = (*engine.Runtime)(nil)

// Options are what a console serves and how.
type Options struct {
	Store          Store    // nil: the console endpoints answer 503
	Pipeline       Pipeline // nil: /api/v0/pipeline answers 503
	Auth           Auth
	RequestTimeout time.Duration // DefaultRequestTimeout when 0
	MaxBodySize    int64         // DefaultMaxBodySize when 0
	MaxQueries     int           // store requests running at once (DefaultMaxQueries when 0); more wait
	Logger         *slog.Logger
}

// NewOptions returns the options a decoded console block asks for, over
// the store of its sink.
func (c *Config) NewOptions(p Pipeline, logger *slog.Logger) Options {
	o := Options{Pipeline: p, Auth: c.Auth, RequestTimeout: c.RequestTimeout, MaxBodySize: c.MaxBodySize,
		MaxQueries: c.MaxQueries, Logger: logger}
	if c.Backend != nil {
		o.Store = store.New(c.Backend)
	}
	return o
}

type server struct {
	Options
	slots chan struct{} // one per store request running
	names exporterNames // of the pipeline's exporters, from the store
}

// Handler returns the console: the web console (its pages and assets),
// /healthz, and the API under /api/v0/ (authenticated when Auth says so).
func Handler(o Options) http.Handler {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = DefaultMaxBodySize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxQueries <= 0 {
		o.MaxQueries = DefaultMaxQueries
	}
	s := &server{Options: o, slots: make(chan struct{}, o.MaxQueries)}
	r := chi.NewRouter()
	r.Use(s.recoverer)
	// Paths outside /api/ are the web console's (ui.go): its pages, its
	// assets, its not-found page.
	r.NotFound(uiHandler(defaultUI, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("No such endpoint: %s %s.", r.Method, r.URL.Path))
	}))
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s.", r.Method, r.URL.Path))
	})
	r.Get("/healthz", serveHealthz)
	r.Route("/api/v0", func(r chi.Router) {
		r.Use(s.authenticate, s.limit)
		r.Get("/pipeline", s.pipeline)
		r.Get("/schemas.json", serveSchemas)
		r.Route("/console", func(r chi.Router) {
			r.Use(s.needStore)
			r.Post("/graph/line", s.graphLine)
			r.Post("/graph/sankey", s.graphSankey)
			r.Post("/table", s.table)
			r.Post("/filter/validate", s.filterValidate)
			r.Post("/filter/complete", s.filterComplete)
			r.Get("/widgets/flow-rate", s.widgetFlowRate)
			r.Get("/widgets/exporters", s.widgetExporters)
			r.Get("/widgets/top/{dimension}", s.widgetTop)
			r.Get("/widgets/last-flow", s.widgetLastFlow)
			r.Get("/columns", s.columns)
			r.Get("/filters/saved", s.savedFilters)
			r.Put("/filters/saved", s.saveFilter)
			r.Delete("/filters/saved", s.deleteFilter)
			r.Delete("/filters/saved/{name}", s.deleteFilter)
		})
	})
	return r
}

func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
}

type userKey struct{}

// authenticate refuses requests without the token or the proxy's header.
func (s *server) authenticate(next http.Handler) http.Handler {
	a := s.Auth
	switch {
	case a.Token != "":
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			scheme, tok, ok := strings.Cut(h, " ")
			if h == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="flowengine"`)
				writeError(w, http.StatusUnauthorized, "This console needs a token: send the header Authorization: Bearer <token> (the token of the console's auth block).")
				return
			}
			if !ok || !strings.EqualFold(scheme, "Bearer") || !a.Token.matches(strings.TrimSpace(tok)) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="flowengine", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "The token is not the console's: send Authorization: Bearer <token> with the token of the console's auth block.")
				return
			}
			next.ServeHTTP(w, r)
		})
	case a.UserHeader != "":
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user := strings.TrimSpace(r.Header.Get(a.UserHeader))
			if user == "" {
				writeError(w, http.StatusUnauthorized, fmt.Sprintf("This console trusts the %s header of an authenticating proxy, and the request has none: go through the proxy.", a.UserHeader))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
		})
	}
	return next
}

// limit bounds the request body and the time a request may run.
func (s *server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodySize)
		ctx, cancel := context.WithTimeout(r.Context(), s.RequestTimeout)
		defer cancel()
		start := time.Now()
		next.ServeHTTP(w, r.WithContext(ctx))
		if user, ok := r.Context().Value(userKey{}).(string); ok {
			s.Logger.Debug("console request", "method", r.Method, "path", r.URL.Path, "user", user, "duration", time.Since(start))
		} else {
			s.Logger.Debug("console request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
		}
	})
}

func (s *server) needStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Store == nil {
			writeError(w, http.StatusServiceUnavailable, "The console has no store: set store = sink.<type>.<name> in the console block.")
			return
		}
		select {
		case s.slots <- struct{}{}:
		case <-r.Context().Done():
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("The store is busy with %d other requests and this one waited for the request timeout of %s: try again.", cap(s.slots), s.RequestTimeout))
			return
		}
		defer func() { <-s.slots }()
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a logged 500, so that one bad request does
// not take the process down.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("console handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, "The console failed on this request (a bug: the server log has the details).")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// apiError is the body of every error answer.
type apiError struct {
	Message string `json:"message"`
	Limit   string `json:"limit,omitempty"` // the limit a request went over
	Max     int    `json:"max,omitempty"`
	Got     int    `json:"got,omitempty"`
	// Errors are a refused filter's mistakes, each with its position.
	Errors []store.FilterError `json:"errors,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// fail answers an error from the store: the user's mistakes are 400 with
// the store's message, limits are 400 naming the limit, a request that ran
// out of time is 503, the rest 500.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var le *store.LimitError
	var fe *store.InvalidFilterError
	switch {
	case errors.As(err, &le):
		writeJSON(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("The request is %s.", le.Error()), Limit: le.Limit, Max: le.Max, Got: le.Got})
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, apiError{Message: err.Error(), Errors: fe.Errors})
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("The store did not answer within the request timeout of %s: narrow the time range, use fewer dimensions or a coarser step.", s.RequestTimeout))
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "The request was cancelled.")
	default:
		s.Logger.Error("console query failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("The store failed to answer: %v.", err))
	}
}
