// Package snmpagent is a small SNMP v2c agent (UDP) that answers GET, GETNEXT
// and GETBULK for the system group (sysDescr, sysName) and the ifTable/ifXTable
// columns of a list of interfaces (ifDescr, ifSpeed, ifName, ifHighSpeed,
// ifAlias). The synthetic exporter runs it beside its flows so that a demo
// shows SNMP enrichment end to end; tests use it as a controllable agent.
package snmpagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gosnmp/gosnmp"
)

// Interface is one row of the interface tables the agent serves.
type Interface struct {
	Index       uint32 // ifIndex, > 0
	Name        string // ifName, "Gi0/0/17"
	Description string // ifAlias, "Transit: Cogent"
	Descr       string // ifDescr; Name when empty
	SpeedMbps   uint64 // ifHighSpeed; ifSpeed is derived (capped at 2^32-1 bit/s)
}

// Data is what the agent serves.
type Data struct {
	SysName    string
	SysDescr   string
	Interfaces []Interface
}

// Well-known OIDs served by the agent.
const (
	OIDSysDescr    = "1.3.6.1.2.1.1.1.0"
	OIDSysName     = "1.3.6.1.2.1.1.5.0"
	OIDIfDescr     = "1.3.6.1.2.1.2.2.1.2"
	OIDIfSpeed     = "1.3.6.1.2.1.2.2.1.5"
	OIDIfName      = "1.3.6.1.2.1.31.1.1.1.1"
	OIDIfHighSpeed = "1.3.6.1.2.1.31.1.1.1.15"
	OIDIfAlias     = "1.3.6.1.2.1.31.1.1.1.18"
)

// maxResponse bounds the size of an encoded response (one UDP datagram).
const maxResponse = 65000

// maxBulkVarbinds bounds the varbinds of one GETBULK response.
const maxBulkVarbinds = 2000

type object struct {
	oid  []uint32
	name string
	typ  gosnmp.Asn1BER
	val  any
}

// table is an immutable, sorted view of the data.
type table []object

// Agent answers SNMP requests from its data. It is safe for concurrent use;
// SetData replaces what it serves atomically.
type Agent struct {
	community string
	tbl       atomic.Pointer[table]

	requests atomic.Uint64
	rejected atomic.Uint64
}

// New returns an agent serving data to clients that present community.
func New(community string, data Data) *Agent {
	a := &Agent{community: community}
	a.SetData(data)
	return a
}

// SetData replaces the data served (an ifIndex mapping change, say).
func (a *Agent) SetData(d Data) {
	var t table
	add := func(oid string, typ gosnmp.Asn1BER, val any) {
		t = append(t, object{oid: mustParseOID(oid), name: oid, typ: typ, val: val})
	}
	add(OIDSysDescr, gosnmp.OctetString, d.SysDescr)
	add(OIDSysName, gosnmp.OctetString, d.SysName)
	for _, i := range d.Interfaces {
		if i.Index == 0 {
			continue
		}
		idx := "." + strconv.FormatUint(uint64(i.Index), 10)
		descr := i.Descr
		if descr == "" {
			descr = i.Name
		}
		bps := i.SpeedMbps * 1_000_000
		if bps > 0xffffffff || i.SpeedMbps > 0xffffffff {
			bps = 0xffffffff
		}
		high := i.SpeedMbps
		if high > 0xffffffff {
			high = 0xffffffff
		}
		add(OIDIfDescr+idx, gosnmp.OctetString, descr)
		add(OIDIfSpeed+idx, gosnmp.Gauge32, uint32(bps))
		add(OIDIfName+idx, gosnmp.OctetString, i.Name)
		add(OIDIfHighSpeed+idx, gosnmp.Gauge32, uint32(high))
		add(OIDIfAlias+idx, gosnmp.OctetString, i.Description)
	}
	sort.SliceStable(t, func(x, y int) bool { return compareOID(t[x].oid, t[y].oid) < 0 })
	// Drop duplicate OIDs (two interfaces with one ifIndex): first wins.
	t = slices.CompactFunc(t, func(x, y object) bool { return compareOID(x.oid, y.oid) == 0 })
	a.tbl.Store(&t)
}

// Requests returns the number of requests answered and rejected (bad
// community, undecodable packet).
func (a *Agent) Requests() (answered, rejected uint64) {
	return a.requests.Load(), a.rejected.Load()
}

// Serve answers requests arriving on conn until ctx is done; it closes conn.
func (a *Agent) Serve(ctx context.Context, conn net.PacketConn) error {
	var once sync.Once
	closeConn := func() { once.Do(func() { conn.Close() }) }
	defer closeConn()
	stop := context.AfterFunc(ctx, closeConn)
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("snmp agent read: %w", err)
		}
		resp, ok := a.Handle(buf[:n])
		if !ok {
			a.rejected.Add(1)
			continue
		}
		a.requests.Add(1)
		_, _ = conn.WriteTo(resp, from)
	}
}

// Handle answers one encoded request; ok is false when the request must be
// ignored (undecodable, wrong community, unsupported PDU).
func (a *Agent) Handle(req []byte) (resp []byte, ok bool) {
	defer func() {
		// The decoder is third-party code fed by the network: never let a
		// malformed packet take the agent down.
		if r := recover(); r != nil {
			resp, ok = nil, false
		}
	}()
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	p, err := dec.SnmpDecodePacket(req)
	if err != nil || p == nil {
		return nil, false
	}
	if p.Version != gosnmp.Version1 && p.Version != gosnmp.Version2c {
		return nil, false
	}
	if p.Community != a.community {
		return nil, false
	}
	t := *a.tbl.Load()
	out := &gosnmp.SnmpPacket{
		Version:   p.Version,
		Community: p.Community,
		PDUType:   gosnmp.GetResponse,
		RequestID: p.RequestID,
	}
	switch p.PDUType {
	case gosnmp.GetRequest:
		for i, v := range p.Variables {
			o, found := t.get(v.Name)
			if !found {
				if p.Version == gosnmp.Version1 {
					return a.v1Error(p, i)
				}
				out.Variables = append(out.Variables, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject})
				continue
			}
			out.Variables = append(out.Variables, o.pdu())
		}
	case gosnmp.GetNextRequest:
		for i, v := range p.Variables {
			o, found := t.next(v.Name)
			if !found {
				if p.Version == gosnmp.Version1 {
					return a.v1Error(p, i)
				}
				out.Variables = append(out.Variables, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.EndOfMibView})
				continue
			}
			out.Variables = append(out.Variables, o.pdu())
		}
	case gosnmp.GetBulkRequest:
		if p.Version == gosnmp.Version1 {
			return nil, false
		}
		out.Variables = t.bulk(p.Variables, int(p.NonRepeaters), int(p.MaxRepetitions))
	default:
		return nil, false
	}
	for {
		b, err := out.MarshalMsg()
		if err != nil {
			return nil, false
		}
		if len(b) <= maxResponse || len(out.Variables) <= 1 {
			return b, true
		}
		// GETBULK may return fewer repetitions than asked (RFC 3416 4.2.3).
		out.Variables = out.Variables[:len(out.Variables)/2]
	}
}

func (a *Agent) v1Error(p *gosnmp.SnmpPacket, i int) ([]byte, bool) {
	out := &gosnmp.SnmpPacket{Version: p.Version, Community: p.Community, PDUType: gosnmp.GetResponse,
		RequestID: p.RequestID, Error: gosnmp.NoSuchName, ErrorIndex: uint8(min(i+1, 255)), Variables: p.Variables}
	for j := range out.Variables {
		out.Variables[j].Type, out.Variables[j].Value = gosnmp.Null, nil
	}
	b, err := out.MarshalMsg()
	return b, err == nil
}

func (o object) pdu() gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: o.name, Type: o.typ, Value: o.val}
}

func (t table) get(name string) (object, bool) {
	oid, err := parseOID(name)
	if err != nil {
		return object{}, false
	}
	i := sort.Search(len(t), func(i int) bool { return compareOID(t[i].oid, oid) >= 0 })
	if i < len(t) && compareOID(t[i].oid, oid) == 0 {
		return t[i], true
	}
	return object{}, false
}

// nextIndex returns the index of the first object strictly after name.
func (t table) nextIndex(name string) int {
	oid, err := parseOID(name)
	if err != nil {
		return len(t)
	}
	return sort.Search(len(t), func(i int) bool { return compareOID(t[i].oid, oid) > 0 })
}

func (t table) next(name string) (object, bool) {
	i := t.nextIndex(name)
	if i < len(t) {
		return t[i], true
	}
	return object{}, false
}

func (t table) bulk(vars []gosnmp.SnmpPDU, nonRep, maxRep int) []gosnmp.SnmpPDU {
	nonRep = min(max(nonRep, 0), len(vars))
	maxRep = max(maxRep, 0)
	var out []gosnmp.SnmpPDU
	for _, v := range vars[:nonRep] {
		if o, ok := t.next(v.Name); ok {
			out = append(out, o.pdu())
		} else {
			out = append(out, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.EndOfMibView})
		}
	}
	rep := vars[nonRep:]
	if len(rep) == 0 {
		return out
	}
	pos := make([]int, len(rep))
	for j, v := range rep {
		pos[j] = t.nextIndex(v.Name)
	}
	names := make([]string, len(rep))
	for j, v := range rep {
		names[j] = v.Name
	}
	for r := 0; r < maxRep && len(out) < maxBulkVarbinds; r++ {
		allEnd := true
		for j := range rep {
			if pos[j] < len(t) {
				o := t[pos[j]]
				out = append(out, o.pdu())
				names[j] = o.name
				pos[j]++
				allEnd = false
			} else {
				out = append(out, gosnmp.SnmpPDU{Name: names[j], Type: gosnmp.EndOfMibView})
			}
		}
		if allEnd {
			break
		}
	}
	return out
}

func parseOID(s string) ([]uint32, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ".")
	oid := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad oid %q", s)
		}
		oid[i] = uint32(n)
	}
	return oid, nil
}

func mustParseOID(s string) []uint32 {
	oid, err := parseOID(s)
	if err != nil {
		panic(err)
	}
	return oid
}

func compareOID(a, b []uint32) int {
	return slices.Compare(a, b)
}
