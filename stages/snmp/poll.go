package snmp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
)

// OIDs polled.
const (
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
	oidIfDescr     = ".1.3.6.1.2.1.2.2.1.2"
	oidIfSpeed     = ".1.3.6.1.2.1.2.2.1.5"
	oidIfName      = ".1.3.6.1.2.1.31.1.1.1.1"
	oidIfHighSpeed = ".1.3.6.1.2.1.31.1.1.1.15"
	oidIfAlias     = ".1.3.6.1.2.1.31.1.1.1.18"
)

// Columns walked, in request order.
const (
	colDescr = iota
	colSpeed
	colName
	colHighSpeed
	colAlias
	numCols
)

var columnOIDs = [numCols]string{oidIfDescr, oidIfSpeed, oidIfName, oidIfHighSpeed, oidIfAlias}

// maxInterfaces bounds what one agent can make us store.
const maxInterfaces = 1 << 18

var errNoProgress = errors.New("agent returned no usable varbinds")

// pollTarget is everything one poll needs.
type pollTarget struct {
	exporter netip.Addr
	agent    netip.AddrPort
	cred     credential
	timeout  time.Duration
	retries  int
	maxRep   uint32
}

// row is one interface as walked, before it becomes an iface.
type row struct {
	name, descr, alias string
	speed, highSpeed   uint64
}

// poll fetches sysName and the interface columns of one agent with GETBULK,
// all columns in each request. Errors never contain a secret: gosnmp's errors
// name the target and the failure only.
func poll(ctx context.Context, t pollTarget) (snap *snapshot, err error) {
	defer func() {
		// gosnmp decodes whatever the network sends: a decoder bug must not
		// take the pipeline down.
		if r := recover(); r != nil {
			snap, err = nil, fmt.Errorf("snmp decoder panic: %v", r)
		}
	}()
	g := &gosnmp.GoSNMP{
		Target:         t.agent.Addr().String(),
		Port:           t.agent.Port(),
		Transport:      "udp",
		Version:        t.cred.version,
		Timeout:        t.timeout,
		Retries:        t.retries,
		Context:        ctx,
		MaxRepetitions: t.maxRep,
	}
	switch t.cred.version {
	case gosnmp.Version3:
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags = t.cred.level
		g.ContextName = t.cred.context
		g.SecurityParameters = &gosnmp.UsmSecurityParameters{
			UserName:                 t.cred.user,
			AuthenticationProtocol:   t.cred.authProto,
			AuthenticationPassphrase: t.cred.authPass.Reveal(),
			PrivacyProtocol:          t.cred.privProto,
			PrivacyPassphrase:        t.cred.privPass.Reveal(),
		}
	default:
		g.Community = t.cred.community.Reveal()
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("connect: %w", scrub(err, t.cred))
	}
	defer g.Conn.Close()

	s := &snapshot{Polled: time.Now()}
	res, err := g.Get([]string{oidSysName})
	if err != nil {
		return nil, fmt.Errorf("get sysName: %w", scrub(err, t.cred))
	}
	if res.Error != gosnmp.NoError {
		return nil, fmt.Errorf("get sysName: agent error %v", res.Error)
	}
	for _, v := range res.Variables {
		if v.Type == gosnmp.OctetString {
			s.SysName = octets(v.Value)
		}
	}

	rows := map[uint32]*row{}
	if err := walkColumns(ctx, g, t, rows); err != nil {
		return nil, err
	}
	ifaces := make(map[uint32]iface, len(rows))
	for idx, r := range rows {
		ifc := iface{Name: r.name, Description: r.alias}
		if ifc.Name == "" {
			ifc.Name = r.descr
		}
		if ifc.Description == "" {
			ifc.Description = r.descr
		}
		ifc.Speed = r.highSpeed
		if ifc.Speed == 0 {
			ifc.Speed = r.speed / 1_000_000
		}
		ifaces[idx] = ifc
	}
	s.build(ifaces)
	return s, nil
}

// walkColumns walks every interface column at once: each GETBULK asks for
// the next rows of every column not finished yet. Responses are interleaved
// (row r of column c is varbind r*len(active)+c) and may be truncated.
func walkColumns(ctx context.Context, g *gosnmp.GoSNMP, t pollTarget, rows map[uint32]*row) error {
	maxRep := t.maxRep
	type column struct {
		col     int
		next    string // last OID seen
		lastIdx uint32
	}
	active := make([]*column, numCols)
	for c := range active {
		active[c] = &column{col: c, next: columnOIDs[c]}
	}
	oids := make([]string, 0, numCols)
	for len(active) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		oids = oids[:0]
		for _, c := range active {
			oids = append(oids, c.next)
		}
		res, err := g.GetBulk(oids, 0, maxRep)
		if err != nil {
			return fmt.Errorf("getbulk: %w", scrub(err, t.cred))
		}
		if res.Error != gosnmp.NoError {
			return fmt.Errorf("getbulk: agent error %v", res.Error)
		}
		done := make([]bool, len(active))
		progress := false
		for i, v := range res.Variables {
			ci := i % len(active)
			c := active[ci]
			if done[ci] {
				continue
			}
			prefix := columnOIDs[c.col] + "."
			name := v.Name
			if !strings.HasPrefix(name, ".") {
				name = "." + name
			}
			if v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance ||
				!strings.HasPrefix(name, prefix) {
				done[ci] = true
				continue
			}
			n, err := strconv.ParseUint(name[len(prefix):], 10, 32)
			if err != nil || n == 0 || (c.lastIdx != 0 && uint32(n) <= c.lastIdx) {
				// Not a plain ifIndex, or not increasing: the agent is broken.
				done[ci] = true
				continue
			}
			idx := uint32(n)
			c.lastIdx, c.next, progress = idx, name, true
			r := rows[idx]
			if r == nil {
				if len(rows) >= maxInterfaces {
					return fmt.Errorf("agent has more than %d interfaces", maxInterfaces)
				}
				r = &row{}
				rows[idx] = r
			}
			switch c.col {
			case colDescr:
				r.descr = octets(v.Value)
			case colName:
				r.name = octets(v.Value)
			case colAlias:
				r.alias = octets(v.Value)
			case colSpeed:
				r.speed = gosnmp.ToBigInt(v.Value).Uint64()
			case colHighSpeed:
				r.highSpeed = gosnmp.ToBigInt(v.Value).Uint64()
			}
		}
		anyDone := false
		next := active[:0:0]
		for ci, c := range active {
			if done[ci] {
				anyDone = true
			} else {
				next = append(next, c)
			}
		}
		if !progress && !anyDone {
			return fmt.Errorf("getbulk: %w", errNoProgress)
		}
		active = next
	}
	return nil
}

func octets(v any) string {
	switch v := v.(type) {
	case []byte:
		return strings.ToValidUTF8(string(v), "\uFFFD")
	case string:
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return ""
}

// scrub removes every secret of cred from an error's text, in case a
// library error ever quotes a community or a passphrase. The original error
// stays reachable with errors.Is/As only.
func scrub(err error, cred credential) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range []Secret{cred.community, cred.authPass, cred.privPass} {
		if !s.IsZero() {
			msg = strings.ReplaceAll(msg, s.Reveal(), redacted)
		}
	}
	return scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e scrubbedError) Error() string { return e.msg }
func (e scrubbedError) Unwrap() error { return e.err }
