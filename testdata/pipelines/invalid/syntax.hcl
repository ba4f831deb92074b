source "generate" "demo" {
  rate = 10
  count = = 3 # ERROR: Invalid expression
}
