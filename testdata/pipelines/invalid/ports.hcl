source "udp" "a" {
  listen = ":2055"
}

source "udp" "b" {
  listen = "0.0.0.0:2055" # ERROR: Two stages on one port
}

sink "blackhole" "null" {
  input = [source.udp.a, source.udp.b]
}
