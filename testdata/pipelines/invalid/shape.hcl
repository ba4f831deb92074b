source "generate" "demo" {
  input = source.generate.other # ERROR: A source takes no input
}

source "generate" "other" {}

enricher "passthrough" "lonely" {} # ERROR: Missing input

sink "blackhole" "null" {
  input     = [source.generate.demo, source.generate.other]
  when_full = "wait" # ERROR: Invalid value for "when_full"
  buffer    = 0 # ERROR: Invalid value for "buffer"
}

sink "blackhole" "null" {} # ERROR: Duplicate stage
