package netflow

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
)

// The state file keeps templates and sampling rates across restarts, so that
// data arriving right after a restart decodes without waiting for the
// exporters to resend their templates.
type stateFile struct {
	Version   int             `json:"version"`
	Exporters []stateExporter `json:"exporters"`
}

type stateExporter struct {
	Address    netip.Addr      `json:"address"`
	Templates  []stateTemplate `json:"templates,omitempty"`
	Samplers   []stateSampler  `json:"samplers,omitempty"`
	DomainRate []stateDomain   `json:"domain_rates,omitempty"`
	SysInit    []stateDomain   `json:"system_init,omitempty"`
}

type stateTemplate struct {
	Version uint16  `json:"version"`
	Domain  uint32  `json:"domain"`
	ID      uint16  `json:"id"`
	Options bool    `json:"options,omitempty"`
	Scopes  int     `json:"scopes,omitempty"`
	Fields  []field `json:"fields"`
}

type stateSampler struct {
	Version uint16 `json:"version"`
	Domain  uint32 `json:"domain"`
	Sampler uint64 `json:"sampler"`
	Rate    uint64 `json:"rate"`
}

type stateDomain struct {
	Version uint16 `json:"version"`
	Domain  uint32 `json:"domain"`
	Value   uint64 `json:"value"`
}

const stateVersion = 1

// Dirty reports whether templates or rates changed since the last Snapshot.
func (d *Decoder) Dirty() bool { return d.dirty.Load() }

// Snapshot returns the templates and sampling rates as JSON, and clears Dirty.
func (d *Decoder) Snapshot() ([]byte, error) {
	d.dirty.Store(false)
	d.mu.RLock()
	list := make([]*exporter, 0, len(d.exporters))
	for _, e := range d.exporters {
		list = append(list, e)
	}
	d.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].addr.Less(list[j].addr) })
	st := stateFile{Version: stateVersion}
	for _, e := range list {
		e.mu.Lock()
		se := stateExporter{Address: e.addr}
		for _, t := range e.templates {
			se.Templates = append(se.Templates, stateTemplate{Version: t.version, Domain: t.domain, ID: t.id,
				Options: t.options, Scopes: t.scopes, Fields: t.fields})
		}
		for k, r := range e.samplers {
			se.Samplers = append(se.Samplers, stateSampler{Version: uint16(k.domain >> 32), Domain: uint32(k.domain),
				Sampler: k.sampler, Rate: r})
		}
		for k, r := range e.domainRate {
			se.DomainRate = append(se.DomainRate, stateDomain{uint16(k >> 32), uint32(k), r})
		}
		for k, v := range e.sysInit {
			se.SysInit = append(se.SysInit, stateDomain{uint16(k >> 32), uint32(k), v})
		}
		e.mu.Unlock()
		sort.Slice(se.Templates, func(i, j int) bool {
			a, b := se.Templates[i], se.Templates[j]
			return tkey(a.Version, a.Domain, a.ID) < tkey(b.Version, b.Domain, b.ID)
		})
		if len(se.Templates)+len(se.Samplers)+len(se.SysInit) > 0 {
			st.Exporters = append(st.Exporters, se)
		}
	}
	return json.MarshalIndent(st, "", " ")
}

// Restore loads templates and sampling rates saved by Snapshot.
func (d *Decoder) Restore(data []byte) error {
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("state version %d, want %d", st.Version, stateVersion)
	}
	for _, se := range st.Exporters {
		if !se.Address.IsValid() {
			continue
		}
		e := d.exporter(se.Address.Unmap())
		if e == nil {
			break
		}
		e.mu.Lock()
		for _, t := range se.Templates {
			k := tkey(t.Version, t.Domain, t.ID)
			if len(e.templates) >= d.cfg.MaxTemplates || d.templates.Load() >= int64(d.cfg.MaxTemplatesTotal) ||
				t.Version != 9 && t.Version != 10 || e.templates[k] != nil {
				continue
			}
			if ct, ok := d.compile(t.Version, t.Domain, t.ID, t.Fields, t.Scopes, t.Options); ok {
				put(&e.templates, k, ct)
				d.templates.Add(1)
			}
		}
		for _, s := range se.Samplers {
			if len(e.samplers) < d.cfg.MaxTemplates {
				put(&e.samplers, samplerKey{dkey(s.Version, s.Domain), s.Sampler}, s.Rate)
			}
		}
		for _, s := range se.DomainRate {
			put(&e.domainRate, dkey(s.Version, s.Domain), s.Value)
		}
		for _, s := range se.SysInit {
			put(&e.sysInit, dkey(s.Version, s.Domain), s.Value)
		}
		e.c.templates.Set(float64(len(e.templates)))
		e.st.templates.Store(int64(len(e.templates)))
		e.mu.Unlock()
	}
	return nil
}

// saveState writes the decoder's state to path atomically.
func saveState(d *Decoder, path string) error {
	data, err := d.Snapshot()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".netflow-state-*")
	if err != nil {
		d.dirty.Store(true)
		return fmt.Errorf("write state: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		d.dirty.Store(true)
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// loadState reads a state file; a missing file is not an error.
func loadState(d *Decoder, path string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	return d.Restore(data)
}
