package rollup

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"unsafe"

	"github.com/flowengine/flowengine/flow"
)

// The dimension columns of rollups (store.RollupColumns but TimeReceived,
// Bytes and Packets), read field by field: TestDimensionFields checks these
// lists against the schema.

var seed = maphash.MakeSeed()

const (
	m1 = 0xa0761d6478bd642f
	m2 = 0xe7037ed1a0b428db
)

// mix folds v into h (the multiply-fold step of wyhash).
func mix(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^v, m1)
	return hi ^ lo
}

func mixAddr(h uint64, a netip.Addr) uint64 {
	b := a.As16()
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 | uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	return mix(h, hi^bits.RotateLeft64(lo*m2, 27))
}

// mixString folds s into h: strings of up to 16 bytes (most names) as two
// words, longer ones through maphash.
func mixString(h uint64, s string) uint64 {
	if len(s) > 16 {
		return mix(h, maphash.String(seed, s))
	}
	var b [16]byte
	copy(b[:], s)
	w0, w1 := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
	return mix(h, w0^bits.RotateLeft64(w1*m2, 31)^uint64(len(s))<<59)
}

// strCache remembers the strings of the previous flow by identity (data
// pointer and length) with their hash, per group of columns: consecutive
// flows from one exporter, interface or network mostly share them, so their
// bytes are hashed once.
type strCache struct {
	groups [3]strGroup
}

type strGroup struct {
	strs  []string
	hash  uint64
	valid bool
}

func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// hash returns the hash of group g, whose strings are strs.
func (c *strCache) hash(g int, strs ...string) uint64 {
	grp := &c.groups[g]
	if grp.valid && len(grp.strs) == len(strs) {
		same := true
		for i, s := range strs {
			if !sameString(s, grp.strs[i]) {
				same = false
				break
			}
		}
		if same {
			return grp.hash
		}
	}
	h := uint64(g)
	for _, s := range strs {
		h = mixString(h, s)
	}
	grp.strs = append(grp.strs[:0], strs...)
	grp.hash, grp.valid = h, true
	return h
}

// reset forgets the strings (so that they can be collected).
func (c *strCache) reset() {
	for i := range c.groups {
		clear(c.groups[i].strs)
		c.groups[i].valid = false
	}
}

// hashDims hashes the interval start b and the dimension columns of r.
func hashDims(r *flow.Record, b int64, c *strCache) uint64 {
	h := mix(uint64(b), uint64(r.FlowDirection)|uint64(r.SrcVlan)<<8|uint64(r.DstVlan)<<24|uint64(r.InIfBoundary)<<40|uint64(r.OutIfBoundary)<<48|uint64(r.Proto)<<56)
	h = mix(h, (uint64(r.SrcAS)|uint64(r.DstAS)<<32)^bits.RotateLeft64((uint64(r.InIfIndex)|uint64(r.OutIfIndex)<<32)*m2, 29))
	h = mix(h, r.InIfSpeed^bits.RotateLeft64(r.OutIfSpeed*m2, 31)^(uint64(r.EType)|uint64(r.ICMPType)<<16|uint64(r.ICMPCode)<<24|uint64(r.ForwardingStatus)<<32)<<3)
	h = mixAddr(h, r.ExporterAddress)
	h = mixAddr(h, r.NextHop)
	h = mix(h, c.hash(0, r.ExporterName, r.ExporterGroup, r.ExporterRole, r.ExporterSite, r.ExporterRegion, r.ExporterTenant))
	h = mix(h, c.hash(1, r.SrcCountry, r.DstCountry, r.SrcNetName, r.DstNetName, r.SrcNetRole, r.DstNetRole,
		r.SrcNetSite, r.DstNetSite, r.SrcNetRegion, r.DstNetRegion, r.SrcNetTenant, r.DstNetTenant))
	h = mix(h, c.hash(2, r.InIfName, r.OutIfName, r.InIfDescription, r.OutIfDescription,
		r.InIfConnectivity, r.OutIfConnectivity, r.InIfProvider, r.OutIfProvider))
	return h
}

// sameDims compares the dimension columns of a and b.
func sameDims(a, b *flow.Record) bool {
	return a.FlowDirection == b.FlowDirection && a.SrcVlan == b.SrcVlan && a.DstVlan == b.DstVlan &&
		a.InIfBoundary == b.InIfBoundary && a.OutIfBoundary == b.OutIfBoundary && a.Proto == b.Proto &&
		a.SrcAS == b.SrcAS && a.DstAS == b.DstAS && a.InIfIndex == b.InIfIndex && a.OutIfIndex == b.OutIfIndex &&
		a.InIfSpeed == b.InIfSpeed && a.OutIfSpeed == b.OutIfSpeed && a.EType == b.EType &&
		a.ICMPType == b.ICMPType && a.ICMPCode == b.ICMPCode && a.ForwardingStatus == b.ForwardingStatus &&
		a.ExporterAddress == b.ExporterAddress && a.NextHop == b.NextHop &&
		a.ExporterName == b.ExporterName && a.ExporterGroup == b.ExporterGroup && a.ExporterRole == b.ExporterRole &&
		a.ExporterSite == b.ExporterSite && a.ExporterRegion == b.ExporterRegion && a.ExporterTenant == b.ExporterTenant &&
		a.SrcCountry == b.SrcCountry && a.DstCountry == b.DstCountry && a.SrcNetName == b.SrcNetName && a.DstNetName == b.DstNetName &&
		a.SrcNetRole == b.SrcNetRole && a.DstNetRole == b.DstNetRole && a.SrcNetSite == b.SrcNetSite && a.DstNetSite == b.DstNetSite &&
		a.SrcNetRegion == b.SrcNetRegion && a.DstNetRegion == b.DstNetRegion && a.SrcNetTenant == b.SrcNetTenant && a.DstNetTenant == b.DstNetTenant &&
		a.InIfName == b.InIfName && a.OutIfName == b.OutIfName && a.InIfDescription == b.InIfDescription && a.OutIfDescription == b.OutIfDescription &&
		a.InIfConnectivity == b.InIfConnectivity && a.OutIfConnectivity == b.OutIfConnectivity &&
		a.InIfProvider == b.InIfProvider && a.OutIfProvider == b.OutIfProvider
}
