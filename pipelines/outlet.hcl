# Outlet: reads flows from Kafka (consumer group "outlet": start several
# outlets to share the partitions), enriches and classifies them, and writes
# them to ClickHouse. Kafka offsets are committed only once the ClickHouse
# INSERT holding the flows succeeded (at-least-once).
#
#   flowengine plan pipelines/outlet.hcl   # preview the ClickHouse tables
#   flowengine run pipelines/outlet.hcl

variable "kafka_brokers" { default = ["127.0.0.1:9092"] }
variable "clickhouse_servers" { default = ["127.0.0.1:9000"] }
variable "clickhouse_username" { default = "default" }
variable "clickhouse_password" { default = "" }
variable "snmp_community" { default = "public" }
variable "snmp_port" { default = 161 }
variable "metrics_listen" { default = "127.0.0.1:9091" }

pipeline {
  listen    = var.metrics_listen
  state_dir = "data/outlet"
}

source "kafka" "flows" {
  brokers = var.kafka_brokers
  group   = "outlet"
  from    = "earliest"
}

# Interface names, descriptions and speeds from the exporters over SNMP.
enricher "snmp" "interfaces" {
  input       = source.kafka.flows
  credentials = { "0.0.0.0/0" = { community = var.snmp_community }, "::/0" = { community = var.snmp_community } }
  port        = var.snmp_port
}

# GeoIP needs MaxMind-format databases; uncomment once they are in place.
# enricher "geoip" "geo" {
#   input            = enricher.snmp.interfaces
#   asn_database     = "/var/lib/flowengine/geoip/asn.mmdb"
#   country_database = "/var/lib/flowengine/geoip/country.mmdb"
# }

classifier "interface" "boundary" {
  input = enricher.snmp.interfaces
  rule {
    when         = imatch("^(transit|pni|ix|peering) *:", interface.description)
    boundary     = "external"
    connectivity = lower(regexcapture("^(\\w+)", interface.description, 1))
    provider     = lower(regexcapture(":\\s*(\\S+)", interface.description, 1))
  }
  rule {
    when     = interface.description != ""
    boundary = "internal"
  }
}

sink "clickhouse" "flows" {
  input     = classifier.interface.boundary
  servers   = var.clickhouse_servers
  database  = "flowengine"
  username  = var.clickhouse_username
  password  = var.clickhouse_password
  retention = "30d"
  # Consolidated tables (the defaults, written out).
  consolidation {
    interval  = "1m"
    retention = "90d"
  }
  consolidation {
    interval  = "5m"
    retention = "365d"
  }
  consolidation {
    interval  = "1h"
    retention = "1825d"
  }
}
