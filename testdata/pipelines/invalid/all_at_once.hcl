# Graph mistakes (a cycle, an unknown input, two stages on one port) are
# reported together with the attribute mistakes of other stages.
source "generate" "demo" {
  rate = "fast" # ERROR: Invalid value for "rate"
}

source "udp" "a" {
  listen = ":2055"
}

source "udp" "b" {
  listen = "0.0.0.0:2055" # ERROR: Two stages on one port
}

enricher "passthrough" "x" {
  input = [source.generate.demo, enricher.passthrough.y] # ERROR: Cycle in the pipeline
}

enricher "passthrough" "y" {
  input = enricher.passthrough.x
}

sink "blackhole" "null" {
  input = [enricher.passthrough.y, source.udp.a, source.udp.b, source.generate.dmo] # ERROR: Reference to undeclared stage
}

sink "file" "out" {
  input       = source.generate.demo
  path        = "-"
  rotate_size = "lots" # ERROR: Invalid value for "rotate_size"
}
