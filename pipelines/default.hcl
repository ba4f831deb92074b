# The default pipeline: one machine, no external service.
#
# Point your routers' NetFlow v5/v9 or IPFIX export at UDP port 2055 and your
# switches' sFlow at UDP port 6343, and their BMP (BGP Monitoring Protocol,
# RFC 7854) at TCP port 10179, from the address they export flows from (or
# map it with `exporters` in enricher "bmp"). Interface names come from SNMP
# (community "public" unless you change it), BGP routes (AS paths,
# communities, prefix lengths) from BMP, interfaces are classified from their
# descriptions ("Transit: Cogent", "PNI: Google", "IX: FranceIX"), and flows are
# stored in DuckDB (data/flows.duckdb, an embedded database: no server), which
# the console queries.
#
#   make run          # this pipeline fed by synthetic exporters that answer SNMP and speak BMP
#   make run DEMO=0   # this pipeline alone, for your routers
#   flowengine run pipelines/default.hcl pipelines/jsonl.hcl   # also JSON lines
#
# Console: http://127.0.0.1:8080/ (API: /api/v0/console/..., e.g. widgets/flow-rate).
# Metrics: http://127.0.0.1:9090/metrics, live graph: /api/v0/pipeline.

variable "netflow_listen" { default = ":2055" }
variable "sflow_listen" { default = ":6343" }
variable "bmp_listen" { default = ":10179" }
variable "snmp_community" { default = "public" }
variable "snmp_port" { default = 161 }
variable "duckdb_path" { default = "data/flows.duckdb" }
variable "console_listen" { default = "127.0.0.1:8080" }

pipeline {
  listen    = "127.0.0.1:9090"
  state_dir = "data/state"
}

source "netflow" "routers" {
  listen = var.netflow_listen
}

source "sflow" "switches" {
  listen = var.sflow_listen
}

enricher "snmp" "interfaces" {
  input       = [source.netflow.routers, source.sflow.switches]
  credentials = { "0.0.0.0/0" = { community = var.snmp_community }, "::/0" = { community = var.snmp_community } }
  port        = var.snmp_port
  wait        = "50ms"
}

# BGP routes from the routers' BMP sessions: each flow gets the route of its
# destination in its own router's table (AS path, communities, large
# communities; prefix lengths and next hop when the flow has none). AS
# numbers stay the flow's own unless 0 (asn_source = "flow-else-routing").
enricher "bmp" "routes" {
  input      = enricher.snmp.interfaces
  listen     = var.bmp_listen
  asn_source = "flow-else-routing"
}

enricher "networks" "private" {
  input = enricher.bmp.routes
  networks = {
    "10.0.0.0/8"     = { name = "rfc1918", role = "private" }
    "172.16.0.0/12"  = { name = "rfc1918", role = "private" }
    "192.168.0.0/16" = { name = "rfc1918", role = "private" }
    "100.64.0.0/10"  = { name = "cgnat", role = "private" }
    "fc00::/7"       = { name = "ula", role = "private" }
  }
}

classifier "exporter" "sites" {
  input = enricher.networks.private
  # An exporter named like "edge1.par" gets site "par" and role "edge".
  rule {
    when = can(regex("^[a-z]+[0-9]*\\.[a-z]+", exporter.name))
    role = regexcapture("^([a-z]+)", exporter.name, 1)
    site = regexcapture("^[a-z]+[0-9]*\\.([a-z]+)", exporter.name, 1)
  }
}

classifier "interface" "boundary" {
  input = classifier.exporter.sites
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

# Raw flows 15 days, 1-minute rollups 7 days, 5-minute 90 days, hourly 2 years.
sink "duckdb" "local" {
  input = classifier.interface.boundary
  path  = var.duckdb_path
}

console {
  listen = var.console_listen
  store  = sink.duckdb.local
  # Require a token (Authorization: Bearer <token>) before listening beyond
  # this machine, or put an authenticating proxy in front:
  # auth { token = "at least 16 characters" }
  # auth { trust_user_header = "Remote-User" }
}
