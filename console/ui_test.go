package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b strings.Builder
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

func apiNotFound(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, `{"message":"No such endpoint"}`, http.StatusNotFound)
}

func TestUIBuilt(t *testing.T) {
	js := strings.Repeat("console.log(1);", 100)
	dist := fstest.MapFS{
		"placeholder.html":           {Data: []byte("placeholder")},
		"app/index.html":             {Data: []byte("<div id=app></div>")},
		"app/assets/index-abc.js":    {Data: []byte(js)},
		"app/assets/index-abc.js.gz": {Data: gz(t, js)},
		"app/assets/index-abc.css":   {Data: []byte("body{}")},
	}
	h := uiHandler(newUI(dist), apiNotFound)
	tests := []struct {
		method, path, acceptEncoding string
		status                       int
		body, contentType, encoding  string
		cache                        string
	}{
		{"GET", "/", "", 200, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/visualize", "", 200, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/visualize/", "", 200, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/pipeline", "", 200, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/docs", "", 200, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/no/such/page", "", 404, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/index.html", "", 404, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"GET", "/assets/index-abc.js", "", 200, js, "text/javascript; charset=utf-8", "", "public, max-age=31536000, immutable"},
		{"GET", "/assets/index-abc.js", "gzip, deflate", 200, js, "text/javascript; charset=utf-8", "gzip", "public, max-age=31536000, immutable"},
		{"GET", "/assets/index-abc.css", "gzip", 200, "body{}", "text/css; charset=utf-8", "", "public, max-age=31536000, immutable"},
		{"GET", "/assets/index-old.js", "", 404, "No such file: /assets/index-old.js (the console was rebuilt: reload the page).\n", "text/plain; charset=utf-8", "", ""},
		{"GET", "/assets/index-abc.js.gz", "", 404, "No such file", "text/plain; charset=utf-8", "", ""},
		{"GET", "/../app/index.html", "", 404, "<div id=app></div>", "text/html; charset=utf-8", "", "no-cache"},
		{"HEAD", "/visualize", "", 200, "", "text/html; charset=utf-8", "", "no-cache"},
		{"POST", "/visualize", "", 405, "Only GET and HEAD", "text/plain; charset=utf-8", "", ""},
		{"GET", "/api/v0/nothing", "", 404, `{"message":"No such endpoint"}`, "text/plain; charset=utf-8", "", ""},
		{"POST", "/api/v0/nothing", "", 404, `{"message":"No such endpoint"}`, "text/plain; charset=utf-8", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.acceptEncoding, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.acceptEncoding != "" {
				r.Header.Set("Accept-Encoding", tt.acceptEncoding)
			}
			w := httptest.NewRecorder()
			h(w, r)
			res := w.Result()
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			var body io.Reader = res.Body
			if res.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			b, _ := io.ReadAll(body)
			if !strings.HasPrefix(string(b), tt.body) || (tt.body == "" && len(b) != 0) {
				t.Errorf("body %q, want %q", b, tt.body)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.encoding)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
		})
	}
}

func TestUINotBuilt(t *testing.T) {
	dist := fstest.MapFS{"placeholder.html": {Data: []byte("run make build")}}
	h := uiHandler(newUI(dist), apiNotFound)
	for _, p := range []string{"/", "/visualize", "/assets/index-abc.js"} {
		r := httptest.NewRequest("GET", p, nil)
		w := httptest.NewRecorder()
		h(w, r)
		if !strings.Contains(w.Body.String(), "run make build") {
			t.Errorf("%s: body %q, want the placeholder", p, w.Body.String())
		}
	}
}

// TestUIEmbedded checks what this binary embeds: the built application, or
// the placeholder saying how to build it.
func TestUIEmbedded(t *testing.T) {
	if defaultUI.files == nil {
		if !strings.Contains(string(defaultUI.index), "make build") {
			t.Fatalf("placeholder %q does not say how to build the console", defaultUI.index)
		}
		t.Log("web console not built: the placeholder is embedded")
		return
	}
	if !strings.Contains(string(defaultUI.index), `<div id="app">`) {
		t.Fatalf("embedded index.html is not the console's: %.200q", defaultUI.index)
	}
}

// TestHandlerServesUI checks the routing of Handler: pages and assets go to
// the web console, unknown API paths answer JSON, with or without auth.
func TestHandlerServesUI(t *testing.T) {
	h := Handler(Options{Auth: Auth{Token: "0123456789abcdef0123"}})
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/visualize", 200, "text/html; charset=utf-8"},
		{"GET", "/pipeline", 200, "text/html; charset=utf-8"},
		{"GET", "/docs", 200, "text/html; charset=utf-8"},
		{"GET", "/healthz", 200, "text/plain"},
		{"POST", "/", 405, "text/plain; charset=utf-8"},
		{"GET", "/api/v0/nope", 401, "application/json"},
		{"GET", "/api/nope", 404, "application/json"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("Content-Type") != tc.contentType {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, w.Code, w.Header().Get("Content-Type"), tc.status, tc.contentType)
		}
	}
	// Unknown pages answer 404 with the application, which shows its own
	// not-found page (or the placeholder when the console is not built).
	r := httptest.NewRequest("GET", "/no/such/page", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 404 || !strings.Contains(w.Body.String(), "<html") && !strings.Contains(w.Body.String(), "<!doctype html>") {
		t.Errorf("GET /no/such/page: %d %.100q", w.Code, w.Body.String())
	}
}
