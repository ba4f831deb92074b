source "generate" "demo" {}

sink "blackhole" "a" {
  input = source.generate.dmo # ERROR: Reference to undeclared stage
}

sink "blackhole" "b" {
  input = "source.generate.demo" # ERROR: Invalid stage reference
}

sink "blackhole" "c" {
  input = [source.generate.demo, sinks.blackhole.a] # ERROR: Invalid stage reference
}

sink "blackhole" "d" {
  input = sink.blackhole.a # ERROR: A sink cannot be an input
}
