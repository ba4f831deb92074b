variable "rate" { default = 10 }
variable "needed" {} # ERROR: No value for required variable

locals {
  count = var.rat * 2 # ERROR: Reference to undeclared variable
}

source "generate" "demo" {
  rate  = var.rate
  count = local.cont # ERROR: Reference to undeclared local value
}

sink "blackhole" "null" {
  input = source.generate.demo
}
