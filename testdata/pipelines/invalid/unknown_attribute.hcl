source "generate" "demo" {
  rat = 10 # ERROR: Unsupported argument
}

sink "file" "out" { # ERROR: Missing required argument
  input = source.generate.demo
  pth   = "/tmp/x.jsonl" # ERROR: Unsupported argument
}
