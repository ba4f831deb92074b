source "generate" "demo" {
  rate      = "fast" # ERROR: Invalid value for "rate"
  exporters = ["192.0.2.1", "not-an-address"] # ERROR: Invalid value for "exporters"
  skew      = 0.5 # ERROR: Invalid value for "skew"
}

sink "file" "out" {
  input       = source.generate.demo
  path        = "-"
  rotate_size = "lots" # ERROR: Invalid value for "rotate_size"
}
