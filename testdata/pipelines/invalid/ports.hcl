source "udp" "a" {
  listen = ":2055"
}

source "udp" "b" {
  listen = "0.0.0.0:2055" # ERROR: Two stages on one port
}

# Addresses declared in a stage's spec are checked from the configuration,
# even for a stage that could not be built, and with their defaults.
source "udpcfg" "c" {
  listen = "127.0.0.1:2055" # ERROR: Two stages on one port
}

source "udpcfg" "d" {
  refuse = true # ERROR: Refused
}

source "udpcfg" "e" { # ERROR: Two stages on one port
}

sink "blackhole" "null" {
  input = [source.udp.a, source.udp.b, source.udpcfg.c, source.udpcfg.d, source.udpcfg.e]
}
