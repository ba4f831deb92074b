# Variables, locals and network functions.
variable "prefix" { default = "10.1.0.0/16" }

locals {
  exporter = cidrhost(var.prefix, 1)
  subnet   = cidrsubnet(var.prefix, 8, 2)
  inside   = cidrcontains(var.prefix, local.exporter)
}

source "generate" "demo" {
  exporters = [local.exporter, cidrhost(local.subnet, 5)]
  count     = local.inside ? 10 : 0
}

sink "blackhole" "null" {
  input = source.generate.demo
}
