// Package e2e holds end-to-end tests of the flowengine binary: they build
// `flowengine`, run a pipeline with `flowengine run`, feed it with
// `flowengine exporter` (synthetic NetFlow v5/v9, IPFIX and sFlow exporters
// whose SNMP agents serve their interface names), and check every flow the
// file sink wrote against what the exporters, the GeoIP databases and the
// classification rules say it must hold. The package has no code of its own.
package e2e
