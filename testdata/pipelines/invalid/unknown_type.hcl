source "generat" "demo" { # ERROR: Unknown source type
  rate = 10
}

sink "blackhole" "null" {
  input = source.generat.demo
}
