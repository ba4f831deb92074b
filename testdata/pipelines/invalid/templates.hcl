# A mistake inside a string template is reported as it is outside one; the
# stage does not blame the attribute whose value could not be computed.
variable "out_dir" { default = "/tmp" }
variable "needed" {} # ERROR: No value for required variable

source "generate" "demo" {}

sink "file" "typo" {
  input = source.generate.demo
  path  = "${var.outdir}/x.jsonl" # ERROR: Reference to undeclared variable
}

sink "file" "typo_outside" {
  input = source.generate.demo
  path  = var.outdir # ERROR: Reference to undeclared variable
}

sink "file" "unset" {
  input  = source.generate.demo
  path   = "${var.needed}/x.jsonl"
  buffer = var.needed
}

sink "file" "function" {
  input = source.generate.demo
  path  = "${upper(var.out_dirr)}/x.jsonl" # ERROR: Reference to undeclared variable
}
