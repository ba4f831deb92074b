package console

import (
	"embed"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// webDist holds the web console built by `make build` (web/dist/app, from
// console/web with Vite) and the page served when it was not built
// (web/dist/placeholder.html), so that a Go build needs no Node.js.
//
//go:embed all:web/dist
var webDist embed.FS

// uiPages are the routes of the web console. Any other path that is not the
// API gets the console's own not-found page, with status 404.
var uiPages = map[string]bool{"/": true, "/visualize": true, "/pipeline": true, "/docs": true}

// ui serves the web console: its pages (all answered with index.html, the
// application routes them with the history API) and its assets.
type ui struct {
	files fs.FS  // the built application; nil when not built
	index []byte // index.html, or the placeholder
}

// newUI reads the application from dist (the content of web/dist).
func newUI(dist fs.FS) *ui {
	u := &ui{}
	if app, err := fs.Sub(dist, "app"); err == nil {
		if b, err := fs.ReadFile(app, "index.html"); err == nil {
			u.files, u.index = app, b
			return u
		}
	}
	u.index, _ = fs.ReadFile(dist, "placeholder.html")
	if u.index == nil {
		u.index = []byte("<!doctype html><title>flowengine</title><p>The web console is not built: run <code>make build</code>.")
	}
	return u
}

var defaultUI = func() *ui {
	sub, err := fs.Sub(webDist, "web/dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return newUI(sub)
}()

// uiHandler serves the web console for GET and HEAD requests outside /api/,
// and hands the rest to next (the API's not-found answer).
func uiHandler(u *ui, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/api/") || p == "/api" {
			next(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Only GET and HEAD are allowed on the console's pages.", http.StatusMethodNotAllowed)
			return
		}
		u.serve(w, r)
	}
}

func (u *ui) serve(w http.ResponseWriter, r *http.Request) {
	p := path.Clean("/" + r.URL.Path)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	name := strings.TrimPrefix(p, "/")
	if u.files != nil && name != "" && name != "index.html" && path.Ext(name) != "" {
		if !strings.HasSuffix(name, ".gz") && u.file(w, r, name) {
			return
		}
		if strings.HasPrefix(name, "assets/") {
			http.Error(w, "No such file: "+p+" (the console was rebuilt: reload the page).", http.StatusNotFound)
			return
		}
	}
	status := http.StatusOK
	page := strings.TrimSuffix(p, "/")
	if page == "" {
		page = "/"
	}
	if !uiPages[page] {
		status = http.StatusNotFound // the application draws its not-found page
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(u.index)
	}
}

// file serves a file of the bundle, its gzip copy when the browser takes
// it. Files under assets/ carry a content hash in their name and are cached
// for good.
func (u *ui) file(w http.ResponseWriter, r *http.Request, name string) bool {
	f, err := u.files.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		return false
	}
	var body io.Reader = f
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		if gz, err := u.files.Open(name + ".gz"); err == nil {
			defer gz.Close()
			body = gz
			w.Header().Set("Content-Encoding", "gzip")
		}
	}
	w.Header().Add("Vary", "Accept-Encoding")
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if strings.HasPrefix(name, "assets/") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, body)
	}
	return true
}
