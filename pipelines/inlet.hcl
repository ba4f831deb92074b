# Inlet: receives NetFlow v5/v9, IPFIX and sFlow and writes the flows to Kafka,
# keyed by exporter. Run as many inlets as needed; outlets (outlet.hcl) read
# the topic in a consumer group and write to ClickHouse.
#
#   flowengine run pipelines/inlet.hcl
#   FLOWENGINE_VAR_kafka_brokers='["kafka:9092"]' flowengine run pipelines/inlet.hcl

variable "kafka_brokers" { default = ["127.0.0.1:9092"] }
variable "netflow_listen" { default = ":2055" }
variable "sflow_listen" { default = ":6343" }
variable "metrics_listen" { default = "127.0.0.1:9090" }

pipeline {
  listen    = var.metrics_listen
  state_dir = "data/inlet"
}

source "netflow" "routers" {
  listen = var.netflow_listen
}

source "sflow" "switches" {
  listen = var.sflow_listen
}

sink "kafka" "flows" {
  input       = [source.netflow.routers, source.sflow.switches]
  brokers     = var.kafka_brokers
  compression = "zstd"
  partitions  = 8
}
