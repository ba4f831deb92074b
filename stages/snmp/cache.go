package snmp

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// iface is what the enricher knows of one interface.
type iface struct {
	Name        string
	Description string
	Speed       uint64 // Mbps
	ok          bool
}

// snapshot is the immutable result of one poll of one exporter. A poll
// replaces it whole, so an ifIndex mapping change on the agent is picked up
// as is at the next poll.
type snapshot struct {
	Polled  time.Time
	SysName string
	dense   []iface           // by ifIndex when indexes are small
	sparse  map[uint32]*iface // the others
	count   int
}

// denseLimit is the largest ifIndex stored in the dense slice.
const denseLimit = 1 << 14

func (s *snapshot) build(ifaces map[uint32]iface) {
	s.count = len(ifaces)
	var maxDense uint32
	for idx := range ifaces {
		if idx < denseLimit && idx > maxDense {
			maxDense = idx
		}
	}
	if len(ifaces) > 0 && maxDense > 0 {
		s.dense = make([]iface, maxDense+1)
	}
	for idx, ifc := range ifaces {
		ifc.ok = true
		if idx < uint32(len(s.dense)) {
			s.dense[idx] = ifc
			continue
		}
		if s.sparse == nil {
			s.sparse = map[uint32]*iface{}
		}
		s.sparse[idx] = &ifc
	}
}

// lookup returns the interface of ifIndex idx, or nil.
func (s *snapshot) lookup(idx uint32) *iface {
	if idx < uint32(len(s.dense)) {
		if ifc := &s.dense[idx]; ifc.ok {
			return ifc
		}
		return nil
	}
	return s.sparse[idx] // nil map or missing: nil
}

// interfaces returns every interface, sorted by ifIndex (state file, tests).
func (s *snapshot) interfaces() []stateInterface {
	var out []stateInterface
	for idx, ifc := range s.dense {
		if ifc.ok {
			out = append(out, stateInterface{Index: uint32(idx), Name: ifc.Name, Description: ifc.Description, Speed: ifc.Speed})
		}
	}
	for idx, ifc := range s.sparse {
		out = append(out, stateInterface{Index: idx, Name: ifc.Name, Description: ifc.Description, Speed: ifc.Speed})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// exporterState is the cache entry of one exporter.
type exporterState struct {
	addr     netip.Addr
	snap     atomic.Pointer[snapshot] // nil until a poll succeeded
	lastSeen atomic.Int64             // unix seconds, coarse (updated at most every few seconds)

	mu          sync.Mutex
	inflight    chan struct{} // closed when the poll in flight ends; nil when none
	lastAttempt time.Time
	failedAt    time.Time // last failed poll
}

// stateFile is the persisted cache. It holds no secret.
type stateFile struct {
	Version   int             `json:"version"`
	Exporters []stateExporter `json:"exporters"`
}

type stateExporter struct {
	Address    netip.Addr       `json:"address"`
	Polled     time.Time        `json:"polled"`
	SysName    string           `json:"sys_name"`
	Interfaces []stateInterface `json:"interfaces"`
}

type stateInterface struct {
	Index       uint32 `json:"index"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Speed       uint64 `json:"speed"`
}

func readState(path string) (*stateFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("%s: unknown state version %d", path, st.Version)
	}
	return &st, nil
}

func writeState(path string, st *stateFile) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %v %v", path, werr, cerr)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func snapshotFromState(e stateExporter) *snapshot {
	s := &snapshot{Polled: e.Polled, SysName: e.SysName}
	m := make(map[uint32]iface, len(e.Interfaces))
	for _, i := range e.Interfaces {
		if i.Index != 0 {
			m[i.Index] = iface{Name: i.Name, Description: i.Description, Speed: i.Speed}
		}
	}
	s.build(m)
	return s
}
