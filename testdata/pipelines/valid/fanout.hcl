# One source, a chain of enrichers, and a fan-out to two sinks.
variable "rate" { default = 0 }

locals {
  out_dir = "/tmp/flowengine-valid"
  files   = { a = "${local.out_dir}/a.jsonl", b = "${local.out_dir}/b.jsonl" }
}

pipeline {
  buffer           = 8
  shutdown_timeout = "10s"
}

source "generate" "demo" {
  rate  = var.rate
  count = 1000
}

enricher "passthrough" "one" {
  input = source.generate.demo
}

enricher "passthrough" "two" {
  input     = enricher.passthrough.one
  workers   = 2
  when_full = "drop"
}

sink "file" "a" {
  input = enricher.passthrough.two
  path  = local.files.a
}

sink "blackhole" "b" {
  input  = [enricher.passthrough.two, source.generate.demo]
  buffer = 4
}
