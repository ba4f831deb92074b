// Package all imports every stage package so that their types are registered
// in engine.DefaultRegistry.
package all

import (
	_ "github.com/flowengine/flowengine/stages/blackhole"
	"github.com/flowengine/flowengine/stages/bmp"
	_ "github.com/flowengine/flowengine/stages/classify"
	_ "github.com/flowengine/flowengine/stages/clickhouse"
	_ "github.com/flowengine/flowengine/stages/duckdb"
	_ "github.com/flowengine/flowengine/stages/file"
	_ "github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/stages/geoip"
	_ "github.com/flowengine/flowengine/stages/kafka"
	_ "github.com/flowengine/flowengine/stages/metadata"
	_ "github.com/flowengine/flowengine/stages/netflow"
	_ "github.com/flowengine/flowengine/stages/networks"
	_ "github.com/flowengine/flowengine/stages/sflow"
	_ "github.com/flowengine/flowengine/stages/snmp"
)

// The geoip enricher's routing step asks the bmp enricher.
var _ geoip.Routing = (*bmp.Enricher)(nil)
