// Package all imports every stage package so that their types are registered
// in engine.DefaultRegistry.
package all

import (
	_ "github.com/flowengine/flowengine/stages/blackhole"
	_ "github.com/flowengine/flowengine/stages/file"
	_ "github.com/flowengine/flowengine/stages/generate"
)
