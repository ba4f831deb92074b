package console

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/flowengine/flowengine/engine"
)

// exporterNamesTTL is how long the names the store gave are used before
// the store is asked again: the pipeline page polls every 2 seconds, names
// change seldom.
const exporterNamesTTL = 30 * time.Second

// exporterNamesRetry is how soon the store is asked again when an exporter
// has no name yet (a new exporter, or one whose first flows are on their way
// to the store).
const exporterNamesRetry = 5 * time.Second

// exporterNamesTimeout bounds the store query of a pipeline request: a
// slow store must not hold the counters back.
const exporterNamesTimeout = 2 * time.Second

// exporterNames is the cache of the names the store knows of exporters.
// The sources list exporters by address; their names come from enrichers
// (SNMP sysName, metadata) further down the pipeline, so the console asks
// the store what the stored flows were named.
type exporterNames struct {
	mu         sync.Mutex
	names      map[netip.Addr]string
	at         time.Time // of names; zero: never asked
	refreshing bool
	failing    bool // the last ask failed (logged once until it works again)
}

// exporterNames returns the names, asking the store first when they are
// older than exporterNamesTTL (exporterNamesRetry when one of the unnamed
// exporters of st is missing) and no other request is asking already (that
// one waits, the others use the names they have). A store that fails leaves
// the names as they were.
func (s *server) exporterNames(ctx context.Context, st *engine.PipelineStats) map[netip.Addr]string {
	c := &s.names
	c.mu.Lock()
	age := time.Since(c.at)
	if c.refreshing || age < exporterNamesRetry || (age < exporterNamesTTL && !missing(st, c.names)) {
		names := c.names
		c.mu.Unlock()
		return names
	}
	c.refreshing = true
	c.mu.Unlock()

	names, busy, err := s.askExporterNames(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	c.at = time.Now()
	switch {
	case err != nil:
		if !c.failing {
			s.Logger.Warn("console: exporter names from the store", "error", err)
		}
		c.failing = true
	case !busy:
		c.names, c.failing = names, false
	}
	return c.names
}

// askExporterNames runs the store query in a free store slot; busy when
// none is free (the store is busy with the console's queries, and the names
// wait).
func (s *server) askExporterNames(ctx context.Context) (names map[netip.Addr]string, busy bool, err error) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		return nil, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, min(exporterNamesTimeout, s.RequestTimeout))
	defer cancel()
	names, err = s.Store.ExporterNames(ctx)
	return names, false, err
}

// unnamed tells whether a source lists an exporter it does not name.
func unnamed(st *engine.PipelineStats) bool {
	for _, s := range st.Stages {
		for _, e := range s.Exporters {
			if e.Name == "" {
				return true
			}
		}
	}
	return false
}

// missing tells whether an exporter is named neither by its source nor in
// names.
func missing(st *engine.PipelineStats, names map[netip.Addr]string) bool {
	for _, s := range st.Stages {
		for _, e := range s.Exporters {
			if e.Name != "" {
				continue
			}
			if a, err := netip.ParseAddr(e.Address); err == nil && names[a.Unmap()] == "" {
				return true
			}
		}
	}
	return false
}

// nameExporters fills the names of the exporters their source does not name
// with the names the store knows; st is a copy the caller owns, its
// exporter lists are copied before they change.
func nameExporters(st *engine.PipelineStats, names map[netip.Addr]string) {
	if len(names) == 0 {
		return
	}
	for i := range st.Stages {
		list := st.Stages[i].Exporters
		copied := false
		for j, e := range list {
			if e.Name != "" {
				continue
			}
			a, err := netip.ParseAddr(e.Address)
			if err != nil {
				continue
			}
			if name, ok := names[a.Unmap()]; ok {
				if !copied {
					list = slices.Clone(list)
					copied = true
				}
				list[j].Name = name
			}
		}
		st.Stages[i].Exporters = list
	}
}
