source "generate" "demo" {}

enricher "passthrough" "a" {
  input = [source.generate.demo, enricher.passthrough.c] # ERROR: Cycle in the pipeline
}

enricher "passthrough" "b" {
  input = enricher.passthrough.a
}

enricher "passthrough" "c" {
  input = enricher.passthrough.b
}

sink "blackhole" "null" {
  input = enricher.passthrough.c
}
