# The default pipeline: one machine, no external service.
#
# Synthetic flows stand in for routers until you point real exporters at a
# netflow or sflow source; flows are written as JSON lines to data/flows.jsonl.
# Run it with `make run`, or `flowengine run pipelines/default.hcl`.

variable "rate" {
  default     = 1000
  description = "synthetic flows per second"
}

variable "output" {
  default = "data/flows.jsonl"
}

pipeline {
  listen    = "127.0.0.1:9090" # /metrics, /healthz, /api/v0/pipeline
  state_dir = "data/state"
}

source "generate" "demo" {
  rate       = var.rate
  exporters  = ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
  interfaces = 16
}

sink "file" "jsonl" {
  input       = source.generate.demo
  path        = var.output
  rotate_size = "256MiB"
  rotate_keep = 4
}
