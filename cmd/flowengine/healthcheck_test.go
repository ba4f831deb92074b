package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{strings.TrimPrefix(ok.URL, "http://")}, 0, "ok"},
		{[]string{ok.URL + "/"}, 0, "ok"},
		{[]string{strings.TrimPrefix(down.URL, "http://")}, 1, "503"},
		{[]string{strings.TrimPrefix(closed.URL, "http://")}, 1, "refused"},
		{[]string{"a", "b"}, 1, "usage"},
	} {
		var out, errs bytes.Buffer
		code := cmdHealthcheck(tc.args, &out, &errs)
		if code != tc.code || !strings.Contains(out.String()+errs.String(), tc.out) {
			t.Errorf("healthcheck %v: exit %d, %q %q; want exit %d and %q", tc.args, code, out.String(), errs.String(), tc.code, tc.out)
		}
	}
}
