# A sensitive variable flows through locals, templates, functions and
# conditions like any other value.
variable "prefix" {
  default   = "10.1.0.0/16"
  sensitive = true
}

variable "out" {
  default   = "/tmp"
  sensitive = true
}

locals {
  exporter = cidrhost(var.prefix, 1)
  inside   = cidrcontains(var.prefix, local.exporter)
}

source "generate" "demo" {
  exporters = [local.exporter, "${cidrhost(var.prefix, 2)}"]
  count     = local.inside ? 10 : 0
  buffer    = length(split("/", var.out))
}

sink "file" "out" {
  input = source.generate.demo
  path  = "${var.out}/sensitive-test.jsonl"
}
