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

// Kinds of external interfaces, as the routes learned over them show it.
const (
	linkCore = iota
	linkTransit
	linkPNI
	linkIX
)

var interfaceKinds = []struct {
	desc     string
	speed    uint64
	external bool
	link     int
	asn      uint32 // the neighbour's AS number (transit, PNI); 0 at an IX
	// peerAS is the AS of the BGP peer over the interface: the neighbour,
	// or an IX's route server (which does not add itself to AS paths).
	peerAS uint32
}{
	{"Transit: Cogent", 100000, true, linkTransit, 174, 174},
	{"Core: spine1", 400000, false, linkCore, 0, 0},
	{"PNI: Google", 100000, true, linkPNI, 15169, 15169},
	{"Transit: Lumen", 100000, true, linkTransit, 3356, 3356},
	{"IX: FranceIX", 10000, true, linkIX, 0, 51706},
	{"Core: spine2", 400000, false, linkCore, 0, 0},
	{"PNI: Netflix", 100000, true, linkPNI, 2906, 2906},
	{"IX: AMS-IX", 100000, true, linkIX, 0, 6777},
	{"PNI: Facebook", 100000, true, linkPNI, 32934, 32934},
	{"Core: spine3", 400000, false, linkCore, 0, 0},
	{"Transit: Telia", 100000, true, linkTransit, 1299, 1299},
	{"IX: DE-CIX", 100000, true, linkIX, 0, 6695},
	{"Core: spine4", 400000, false, linkCore, 0, 0},
	{"PNI: Akamai", 10000, true, linkPNI, 20940, 20940},
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
