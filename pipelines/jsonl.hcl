# Add-on to pipelines/default.hcl: also write every flow as a JSON line to
# data/flows.jsonl (rotated at 256 MiB, 4 files kept).
#
#   flowengine run pipelines/default.hcl pipelines/jsonl.hcl

variable "output" { default = "data/flows.jsonl" }

sink "file" "jsonl" {
  input       = classifier.interface.boundary
  path        = var.output
  rotate_size = "256MiB"
  rotate_keep = 4
}
