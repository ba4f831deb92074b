package filter

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Named is a value known by name, for completion and parsing.
type Named struct {
	Name  string
	Value uint64
}

// Protocols are the IP protocols known by their IANA keyword (lower case).
var Protocols = []Named{
	{"icmp", 1}, {"igmp", 2}, {"ipip", 4}, {"tcp", 6}, {"egp", 8}, {"udp", 17},
	{"ipv6", 41}, {"rsvp", 46}, {"gre", 47}, {"esp", 50}, {"ah", 51},
	{"ipv6-icmp", 58}, {"icmpv6", 58}, {"eigrp", 88}, {"ospf", 89}, {"pim", 103},
	{"vrrp", 112}, {"l2tp", 115}, {"sctp", 132},
}

// ETypes are the Ethernet types known by name.
var ETypes = []Named{{"ipv4", 0x0800}, {"ipv6", 0x86dd}, {"arp", 0x0806}, {"vlan", 0x8100}, {"mpls", 0x8847}}

// Directions are the flow directions known by name.
var Directions = []Named{{"ingress", uint64(flow.DirectionIngress)}, {"egress", uint64(flow.DirectionEgress)}}

// NamesOf returns the named values column c accepts besides numbers.
func NamesOf(c flow.Column) []Named {
	switch c.Name {
	case "Proto":
		return Protocols
	case "EType":
		return ETypes
	case "FlowDirection":
		return Directions
	}
	return nil
}

func lookupName(list []Named, s string) (uint64, bool) {
	for _, n := range list {
		if strings.EqualFold(n.Name, s) {
			return n.Value, true
		}
	}
	return 0, false
}

// IsAS reports whether c holds AS numbers (written with or without "AS").
func IsAS(c flow.Column) bool { return c.Kind == flow.KindUint && strings.HasSuffix(c.Name, "AS") }

func kindName(c flow.Column) string {
	switch c.Kind {
	case flow.KindUint:
		if IsAS(c) {
			return "AS number"
		}
		return "number"
	case flow.KindString:
		return "text"
	case flow.KindAddr:
		return "address"
	case flow.KindMAC:
		return "MAC address"
	case flow.KindBoundary:
		return "boundary"
	case flow.KindTime:
		return "time"
	case flow.KindASPath:
		return "AS path"
	case flow.KindCommunities:
		return "communities"
	case flow.KindLargeCommunities:
		return "large communities"
	}
	return "value"
}

// hasOp says whether op compares a list with one of its elements.
func hasOp(op string) bool { return op == "HAS" || op == "NOT HAS" }

// valueExpectation says what value col takes with op, for messages.
func valueExpectation(c flow.Column, op string) string {
	switch c.Kind {
	case flow.KindUint:
		switch {
		case IsAS(c):
			return "an AS number (AS15169 or 15169)"
		case c.Name == "Proto":
			return "a protocol number or name (tcp, udp, icmp...)"
		case c.Name == "EType":
			return "an Ethernet type (ipv4, ipv6 or a number)"
		case c.Name == "FlowDirection":
			return "a direction (ingress, egress) or a number"
		}
		return fmt.Sprintf("a number from 0 to %d", maxUint(c))
	case flow.KindString:
		return "a quoted or bare string"
	case flow.KindAddr:
		if op == "<<" {
			return "a prefix (192.0.2.0/24, 2001:db8::/32)"
		}
		return "an IP address"
	case flow.KindMAC:
		return "a MAC address (00:11:22:33:44:55)"
	case flow.KindBoundary:
		return "a boundary (external or internal)"
	case flow.KindTime:
		return "a time (2006-01-02T15:04:05Z)"
	case flow.KindASPath:
		if hasOp(op) {
			return "an AS number (AS3356 or 3356)"
		}
		return "an AS path ('64500 64501', '' when empty)"
	case flow.KindCommunities:
		if hasOp(op) {
			return "a community (65000:100)"
		}
		return "a list of communities ('65000:100 65000:200', '' when empty)"
	case flow.KindLargeCommunities:
		if hasOp(op) {
			return "a large community (65000:1:2)"
		}
		return "a list of large communities ('65000:1:2 65000:1:3', '' when empty)"
	}
	return "a value"
}

// parseAS reads an AS number, with or without "AS".
func parseAS(s string) (uint32, bool) {
	if len(s) > 2 && strings.EqualFold(s[:2], "AS") {
		s = s[2:]
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}

// typeList types a list column's value: one element for HAS and NOT HAS,
// else the whole list, its elements separated by blanks.
func typeList(c flow.Column, op, text string) (any, bool) {
	if hasOp(op) {
		switch c.Kind {
		case flow.KindASPath:
			v, ok := parseAS(text)
			return uint64(v), ok
		case flow.KindCommunities:
			v, ok := flow.ParseCommunity(text)
			return uint64(v), ok
		case flow.KindLargeCommunities:
			return flow.ParseLargeCommunity(text)
		}
		return nil, false
	}
	return ParseList(c, text)
}

// ParseList reads a whole list of column c written as text, its elements
// separated by blanks ("64500 AS64501", "65000:100 65000:200",
// "65000:1:2"; "" is the empty list).
func ParseList(c flow.Column, text string) (any, bool) {
	fields := strings.Fields(text)
	switch c.Kind {
	case flow.KindLargeCommunities:
		l := make([]flow.LargeCommunity, len(fields))
		for i, f := range fields {
			v, ok := flow.ParseLargeCommunity(f)
			if !ok {
				return nil, false
			}
			l[i] = v
		}
		return flow.MakeLargeCommunities(l), true
	case flow.KindASPath, flow.KindCommunities:
		l := make([]uint32, len(fields))
		for i, f := range fields {
			var ok bool
			if c.Kind == flow.KindASPath {
				l[i], ok = parseAS(f)
			} else {
				l[i], ok = flow.ParseCommunity(f)
			}
			if !ok {
				return nil, false
			}
		}
		return flow.MakeUint32s(l), true
	}
	return nil, false
}

func maxUint(c flow.Column) uint64 {
	if c.Bits >= 64 || c.Bits == 0 {
		return 1<<64 - 1
	}
	return 1<<c.Bits - 1
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// typeValue types text for column c compared with op. On failure it returns a
// message saying what was expected.
func typeValue(c flow.Column, op, text string, quoted bool) (any, string) {
	bad := func() (any, string) {
		return nil, fmt.Sprintf("expected %s for %s, got %s", valueExpectation(c, op), c.Name, shown(text, quoted))
	}
	switch c.Kind {
	case flow.KindString:
		return text, ""
	case flow.KindUint:
		s := text
		if IsAS(c) && len(s) > 2 && strings.EqualFold(s[:2], "AS") {
			s = s[2:]
		}
		if v, ok := lookupName(NamesOf(c), s); ok {
			return v, ""
		}
		var v uint64
		var err error
		if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
			v, err = strconv.ParseUint(s[2:], 16, 64)
		} else {
			v, err = strconv.ParseUint(s, 10, 64)
		}
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Sprintf("value %s out of range for %s (0 to %d)", text, c.Name, maxUint(c))
			}
			return bad()
		}
		if v > maxUint(c) {
			return nil, fmt.Sprintf("value %s out of range for %s (0 to %d)", text, c.Name, maxUint(c))
		}
		return v, ""
	case flow.KindAddr:
		if op == "<<" {
			if p, err := netip.ParsePrefix(text); err == nil {
				if p.Addr().Zone() != "" {
					return bad()
				}
				return p.Masked(), ""
			}
			if a, err := netip.ParseAddr(text); err == nil && a.Zone() == "" {
				return netip.PrefixFrom(a, a.BitLen()), ""
			}
			return bad()
		}
		a, err := netip.ParseAddr(text)
		if err != nil || a.Zone() != "" {
			if _, perr := netip.ParsePrefix(text); perr == nil {
				return nil, fmt.Sprintf("expected an IP address for %s, got prefix %s: use << to match a prefix", c.Name, text)
			}
			return bad()
		}
		return a, ""
	case flow.KindMAC:
		if hw, err := net.ParseMAC(text); err == nil && len(hw) == 6 {
			var v uint64
			for _, b := range hw {
				v = v<<8 | uint64(b)
			}
			return v, ""
		}
		if v, err := strconv.ParseUint(text, 10, 64); err == nil && v < 1<<48 {
			return v, ""
		}
		return bad()
	case flow.KindBoundary:
		if b, ok := flow.ParseBoundary(strings.ToLower(text)); ok && (text != "" || quoted) {
			return b, ""
		}
		return bad()
	case flow.KindTime:
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, text); err == nil {
				return t.UTC(), ""
			}
		}
		return bad()
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		if v, ok := typeList(c, op, text); ok {
			return v, ""
		}
		return bad()
	}
	return bad()
}

func shown(text string, quoted bool) string {
	if quoted {
		return "quoted string " + quoteText(text, '\'')
	}
	return fmt.Sprintf("%q", text)
}

// FormatValue writes a typed value of column c as filter text.
func FormatValue(c flow.Column, v any) string {
	switch v := v.(type) {
	case uint64:
		if c.Kind == flow.KindMAC {
			return string(flow.AppendMAC(nil, v))
		}
		if c.Kind == flow.KindCommunities {
			return string(flow.AppendCommunity(nil, uint32(v)))
		}
		if IsAS(c) || c.Kind == flow.KindASPath {
			return "AS" + strconv.FormatUint(v, 10)
		}
		return strconv.FormatUint(v, 10)
	case string:
		return Literal(v)
	case netip.Addr:
		return v.String()
	case netip.Prefix:
		return v.String()
	case flow.Boundary:
		return Literal(v.String())
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case flow.LargeCommunity:
		return v.String()
	case flow.Uint32s:
		if c.Kind == flow.KindCommunities {
			return Literal(v.CommunityString())
		}
		return Literal(v.String())
	case flow.LargeCommunities:
		return Literal(v.String())
	}
	return fmt.Sprint(v)
}
