# Console: serves the console API over the ClickHouse tables that the outlets
# (pipelines/outlet.hcl) fill. It receives no flows itself: its sink has
# `input = []` and is only queried; the process runs until it is stopped.
#
#   flowengine run pipelines/console.hcl
#   curl http://127.0.0.1:8080/api/v0/console/columns
#
# Keep the sink's tables (database, retention, consolidation) as in
# outlet.hcl: both provision the same tables.

variable "clickhouse_servers" { default = ["127.0.0.1:9000"] }
variable "clickhouse_username" { default = "default" }
variable "clickhouse_password" { default = "" }
variable "clickhouse_database" { default = "flowengine" }
variable "console_listen" { default = "127.0.0.1:8080" }
variable "metrics_listen" { default = "127.0.0.1:9092" }

pipeline {
  listen    = var.metrics_listen
  state_dir = "data/console"
}

sink "clickhouse" "flows" {
  input     = []
  servers   = var.clickhouse_servers
  database  = var.clickhouse_database
  username  = var.clickhouse_username
  password  = var.clickhouse_password
  retention = "30d"
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

console {
  listen = var.console_listen
  store  = sink.clickhouse.flows
  # Require a token (Authorization: Bearer <token>, at least 16 characters),
  # or trust the user header of an authenticating reverse proxy in front:
  # auth { token = var.console_token }
  # auth { trust_user_header = "Remote-User" }
}
