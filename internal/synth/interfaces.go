package synth

import "fmt"

// Interface is one interface of a synthetic exporter. Flows use Index as
// their ifIndex; an SNMP agent serving the same exporter answers ifName,
// ifAlias (Description) and ifHighSpeed (SpeedMbps) from it.
type Interface struct {
	Index       uint32
	Name        string
	Description string
	SpeedMbps   uint64
	External    bool // faces another network (transit, PNI, IX); Core interfaces are internal
}

var interfaceKinds = []struct {
	desc     string
	speed    uint64
	external bool
}{
	{"Transit: Cogent", 100000, true},
	{"Core: spine1", 400000, false},
	{"PNI: Google", 100000, true},
	{"Transit: Lumen", 100000, true},
	{"IX: FranceIX", 10000, true},
	{"Core: spine2", 400000, false},
	{"PNI: Netflix", 100000, true},
	{"IX: AMS-IX", 100000, true},
	{"PNI: Facebook", 100000, true},
	{"Core: spine3", 400000, false},
	{"Transit: Telia", 100000, true},
	{"IX: DE-CIX", 100000, true},
	{"Core: spine4", 400000, false},
	{"PNI: Akamai", 10000, true},
}

// Interfaces returns the n interfaces every synthetic exporter has, ifIndex
// 1 to n. With n >= 2 there is at least one external and one internal
// interface. The list is the same for every exporter and every call.
func Interfaces(n int) []Interface {
	if n < 1 {
		n = 1
	}
	out := make([]Interface, n)
	for i := range out {
		k := interfaceKinds[i%len(interfaceKinds)]
		desc := k.desc
		if round := i / len(interfaceKinds); round > 0 {
			desc = fmt.Sprintf("%s #%d", desc, round+1)
		}
		out[i] = Interface{
			Index:       uint32(i + 1),
			Name:        fmt.Sprintf("et-0/0/%d", i),
			Description: desc,
			SpeedMbps:   k.speed,
			External:    k.external,
		}
	}
	return out
}
