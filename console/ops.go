package console

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OpsHandler serves what operators expect on the pipeline's listen address:
// /metrics (Prometheus), /healthz, and, without authentication, the running
// pipeline (/api/v0/pipeline) and the flow schemas (/api/v0/schemas.json).
func OpsHandler(p Pipeline, metrics prometheus.Gatherer) http.Handler {
	s := &server{Options: Options{Pipeline: p}}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", serveHealthz)
	mux.HandleFunc("GET /api/v0/pipeline", s.pipeline)
	mux.HandleFunc("GET /api/v0/schemas.json", serveSchemas)
	return mux
}
