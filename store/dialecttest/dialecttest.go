// Package dialecttest holds the cases every store.Dialect is checked
// against on its own database: a few rows of list columns, extremes
// included, and comparisons with the rows they select. Only tests import it.
package dialecttest

import "github.com/flowengine/flowengine/flow"

func lc(a, b, c uint32) flow.LargeCommunity {
	return flow.LargeCommunity{ASN: a, Local1: b, Local2: c}
}

// ListRecords are the rows the list cases select from; each has its
// position in SrcMAC.
func ListRecords() []flow.Record {
	recs := make([]flow.Record, 4)
	recs[0].DstASPath = flow.MakeUint32s([]uint32{64500, 64501, 15169})
	recs[0].DstCommunities = flow.MakeUint32s([]uint32{65000<<16 | 100, 65000<<16 | 200})
	recs[0].DstLargeCommunities = flow.MakeLargeCommunities([]flow.LargeCommunity{lc(65000, 1, 2)})
	recs[1].DstASPath = flow.MakeUint32s([]uint32{64500, 3356, 15169})
	recs[1].DstCommunities = flow.MakeUint32s([]uint32{65000<<16 | 100})
	recs[3].DstASPath = flow.MakeUint32s([]uint32{4294967295})
	recs[3].DstCommunities = flow.MakeUint32s([]uint32{1<<32 - 1, 0})
	recs[3].DstLargeCommunities = flow.MakeLargeCommunities([]flow.LargeCommunity{lc(1<<32-1, 1<<32-1, 1<<32-1), lc(0, 0, 0)})
	for i := range recs {
		recs[i].SrcMAC = uint64(i)
	}
	return recs
}

// Compare is a comparison of a list column and the SrcMAC of the
// ListRecords it keeps, as "[0 1]".
type Compare struct {
	Column, Op string
	Value      any
	Want       string
}

// ListCompares are comparisons every dialect renders, with what they keep.
var ListCompares = []Compare{
	{"DstASPath", "HAS", uint64(64500), "[0 1]"},
	{"DstASPath", "HAS", uint64(3356), "[1]"},
	{"DstASPath", "HAS", uint64(4294967295), "[3]"},
	{"DstASPath", "HAS", uint64(0), "[]"},
	{"DstCommunities", "HAS", uint64(65000<<16 | 100), "[0 1]"},
	{"DstCommunities", "HAS", uint64(0), "[3]"},
	{"DstLargeCommunities", "HAS", lc(65000, 1, 2), "[0]"},
	{"DstLargeCommunities", "HAS", lc(1<<32-1, 1<<32-1, 1<<32-1), "[3]"},
	{"DstLargeCommunities", "HAS", lc(0, 0, 0), "[3]"},
	{"DstASPath", "=", flow.MakeUint32s([]uint32{64500, 3356, 15169}), "[1]"},
	{"DstASPath", "=", flow.MakeUint32s([]uint32{64500, 3356}), "[]"},
	{"DstASPath", "=", flow.Uint32s{}, "[2]"},
	{"DstASPath", "!=", flow.Uint32s{}, "[0 1 3]"},
	{"DstCommunities", "!=", flow.MakeUint32s([]uint32{65000<<16 | 100}), "[0 2 3]"},
	{"DstLargeCommunities", "=", flow.MakeLargeCommunities([]flow.LargeCommunity{lc(65000, 1, 2)}), "[0]"},
	{"DstLargeCommunities", "=", flow.LargeCommunities{}, "[1 2]"},
}

// BadListCompares are comparisons every dialect refuses.
var BadListCompares = []Compare{
	{"DstASPath", "HAS", uint64(1 << 32), ""},
	{"DstASPath", "<", flow.Uint32s{}, ""},
	{"DstASPath", "HAS", flow.LargeCommunity{}, ""},
	{"DstLargeCommunities", "HAS", uint64(1), ""},
	{"DstLargeCommunities", "=", flow.Uint32s{}, ""},
	{"DstCommunities", "LIKE", "x", ""},
	{"SrcAS", "HAS", uint64(1), ""},
}
