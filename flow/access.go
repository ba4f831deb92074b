package flow

import (
	"net/netip"
	"time"
)

// Accessors read and write one column of a Record without reflection. Exactly
// one pair is set, according to the column kind.
type Accessors struct {
	Time      func(*Record) time.Time
	SetTime   func(*Record, time.Time)
	Uint      func(*Record) uint64
	SetUint   func(*Record, uint64)
	String    func(*Record) string
	SetString func(*Record, string)
	Addr      func(*Record) netip.Addr
	SetAddr   func(*Record, netip.Addr)
}

var accessors = map[string]Accessors{
	"TimeReceived":      {Time: func(r *Record) time.Time { return r.TimeReceived }, SetTime: func(r *Record, v time.Time) { r.TimeReceived = v }},
	"TimeFlowStart":     {Time: func(r *Record) time.Time { return r.TimeFlowStart }, SetTime: func(r *Record, v time.Time) { r.TimeFlowStart = v }},
	"TimeFlowEnd":       {Time: func(r *Record) time.Time { return r.TimeFlowEnd }, SetTime: func(r *Record, v time.Time) { r.TimeFlowEnd = v }},
	"SamplingRate":      {Uint: func(r *Record) uint64 { return uint64(r.SamplingRate) }, SetUint: func(r *Record, v uint64) { r.SamplingRate = uint64(v) }},
	"FlowDirection":     {Uint: func(r *Record) uint64 { return uint64(r.FlowDirection) }, SetUint: func(r *Record, v uint64) { r.FlowDirection = uint8(v) }},
	"ExporterAddress":   {Addr: func(r *Record) netip.Addr { return r.ExporterAddress }, SetAddr: func(r *Record, v netip.Addr) { r.ExporterAddress = v }},
	"ExporterName":      {String: func(r *Record) string { return r.ExporterName }, SetString: func(r *Record, v string) { r.ExporterName = v }},
	"ExporterGroup":     {String: func(r *Record) string { return r.ExporterGroup }, SetString: func(r *Record, v string) { r.ExporterGroup = v }},
	"ExporterRole":      {String: func(r *Record) string { return r.ExporterRole }, SetString: func(r *Record, v string) { r.ExporterRole = v }},
	"ExporterSite":      {String: func(r *Record) string { return r.ExporterSite }, SetString: func(r *Record, v string) { r.ExporterSite = v }},
	"ExporterRegion":    {String: func(r *Record) string { return r.ExporterRegion }, SetString: func(r *Record, v string) { r.ExporterRegion = v }},
	"ExporterTenant":    {String: func(r *Record) string { return r.ExporterTenant }, SetString: func(r *Record, v string) { r.ExporterTenant = v }},
	"SrcAddr":           {Addr: func(r *Record) netip.Addr { return r.SrcAddr }, SetAddr: func(r *Record, v netip.Addr) { r.SrcAddr = v }},
	"DstAddr":           {Addr: func(r *Record) netip.Addr { return r.DstAddr }, SetAddr: func(r *Record, v netip.Addr) { r.DstAddr = v }},
	"SrcNetMask":        {Uint: func(r *Record) uint64 { return uint64(r.SrcNetMask) }, SetUint: func(r *Record, v uint64) { r.SrcNetMask = uint8(v) }},
	"DstNetMask":        {Uint: func(r *Record) uint64 { return uint64(r.DstNetMask) }, SetUint: func(r *Record, v uint64) { r.DstNetMask = uint8(v) }},
	"NextHop":           {Addr: func(r *Record) netip.Addr { return r.NextHop }, SetAddr: func(r *Record, v netip.Addr) { r.NextHop = v }},
	"SrcMAC":            {Uint: func(r *Record) uint64 { return uint64(r.SrcMAC) }, SetUint: func(r *Record, v uint64) { r.SrcMAC = uint64(v) }},
	"DstMAC":            {Uint: func(r *Record) uint64 { return uint64(r.DstMAC) }, SetUint: func(r *Record, v uint64) { r.DstMAC = uint64(v) }},
	"SrcVlan":           {Uint: func(r *Record) uint64 { return uint64(r.SrcVlan) }, SetUint: func(r *Record, v uint64) { r.SrcVlan = uint16(v) }},
	"DstVlan":           {Uint: func(r *Record) uint64 { return uint64(r.DstVlan) }, SetUint: func(r *Record, v uint64) { r.DstVlan = uint16(v) }},
	"SrcAS":             {Uint: func(r *Record) uint64 { return uint64(r.SrcAS) }, SetUint: func(r *Record, v uint64) { r.SrcAS = uint32(v) }},
	"DstAS":             {Uint: func(r *Record) uint64 { return uint64(r.DstAS) }, SetUint: func(r *Record, v uint64) { r.DstAS = uint32(v) }},
	"SrcCountry":        {String: func(r *Record) string { return r.SrcCountry }, SetString: func(r *Record, v string) { r.SrcCountry = v }},
	"DstCountry":        {String: func(r *Record) string { return r.DstCountry }, SetString: func(r *Record, v string) { r.DstCountry = v }},
	"SrcNetName":        {String: func(r *Record) string { return r.SrcNetName }, SetString: func(r *Record, v string) { r.SrcNetName = v }},
	"DstNetName":        {String: func(r *Record) string { return r.DstNetName }, SetString: func(r *Record, v string) { r.DstNetName = v }},
	"SrcNetRole":        {String: func(r *Record) string { return r.SrcNetRole }, SetString: func(r *Record, v string) { r.SrcNetRole = v }},
	"DstNetRole":        {String: func(r *Record) string { return r.DstNetRole }, SetString: func(r *Record, v string) { r.DstNetRole = v }},
	"SrcNetSite":        {String: func(r *Record) string { return r.SrcNetSite }, SetString: func(r *Record, v string) { r.SrcNetSite = v }},
	"DstNetSite":        {String: func(r *Record) string { return r.DstNetSite }, SetString: func(r *Record, v string) { r.DstNetSite = v }},
	"SrcNetRegion":      {String: func(r *Record) string { return r.SrcNetRegion }, SetString: func(r *Record, v string) { r.SrcNetRegion = v }},
	"DstNetRegion":      {String: func(r *Record) string { return r.DstNetRegion }, SetString: func(r *Record, v string) { r.DstNetRegion = v }},
	"SrcNetTenant":      {String: func(r *Record) string { return r.SrcNetTenant }, SetString: func(r *Record, v string) { r.SrcNetTenant = v }},
	"DstNetTenant":      {String: func(r *Record) string { return r.DstNetTenant }, SetString: func(r *Record, v string) { r.DstNetTenant = v }},
	"InIfIndex":         {Uint: func(r *Record) uint64 { return uint64(r.InIfIndex) }, SetUint: func(r *Record, v uint64) { r.InIfIndex = uint32(v) }},
	"OutIfIndex":        {Uint: func(r *Record) uint64 { return uint64(r.OutIfIndex) }, SetUint: func(r *Record, v uint64) { r.OutIfIndex = uint32(v) }},
	"InIfName":          {String: func(r *Record) string { return r.InIfName }, SetString: func(r *Record, v string) { r.InIfName = v }},
	"OutIfName":         {String: func(r *Record) string { return r.OutIfName }, SetString: func(r *Record, v string) { r.OutIfName = v }},
	"InIfDescription":   {String: func(r *Record) string { return r.InIfDescription }, SetString: func(r *Record, v string) { r.InIfDescription = v }},
	"OutIfDescription":  {String: func(r *Record) string { return r.OutIfDescription }, SetString: func(r *Record, v string) { r.OutIfDescription = v }},
	"InIfSpeed":         {Uint: func(r *Record) uint64 { return uint64(r.InIfSpeed) }, SetUint: func(r *Record, v uint64) { r.InIfSpeed = uint64(v) }},
	"OutIfSpeed":        {Uint: func(r *Record) uint64 { return uint64(r.OutIfSpeed) }, SetUint: func(r *Record, v uint64) { r.OutIfSpeed = uint64(v) }},
	"InIfConnectivity":  {String: func(r *Record) string { return r.InIfConnectivity }, SetString: func(r *Record, v string) { r.InIfConnectivity = v }},
	"OutIfConnectivity": {String: func(r *Record) string { return r.OutIfConnectivity }, SetString: func(r *Record, v string) { r.OutIfConnectivity = v }},
	"InIfProvider":      {String: func(r *Record) string { return r.InIfProvider }, SetString: func(r *Record, v string) { r.InIfProvider = v }},
	"OutIfProvider":     {String: func(r *Record) string { return r.OutIfProvider }, SetString: func(r *Record, v string) { r.OutIfProvider = v }},
	"InIfBoundary":      {Uint: func(r *Record) uint64 { return uint64(r.InIfBoundary) }, SetUint: func(r *Record, v uint64) { r.InIfBoundary = Boundary(v) }},
	"OutIfBoundary":     {Uint: func(r *Record) uint64 { return uint64(r.OutIfBoundary) }, SetUint: func(r *Record, v uint64) { r.OutIfBoundary = Boundary(v) }},
	"EType":             {Uint: func(r *Record) uint64 { return uint64(r.EType) }, SetUint: func(r *Record, v uint64) { r.EType = uint16(v) }},
	"Proto":             {Uint: func(r *Record) uint64 { return uint64(r.Proto) }, SetUint: func(r *Record, v uint64) { r.Proto = uint8(v) }},
	"SrcPort":           {Uint: func(r *Record) uint64 { return uint64(r.SrcPort) }, SetUint: func(r *Record, v uint64) { r.SrcPort = uint16(v) }},
	"DstPort":           {Uint: func(r *Record) uint64 { return uint64(r.DstPort) }, SetUint: func(r *Record, v uint64) { r.DstPort = uint16(v) }},
	"TCPFlags":          {Uint: func(r *Record) uint64 { return uint64(r.TCPFlags) }, SetUint: func(r *Record, v uint64) { r.TCPFlags = uint8(v) }},
	"IPTos":             {Uint: func(r *Record) uint64 { return uint64(r.IPTos) }, SetUint: func(r *Record, v uint64) { r.IPTos = uint8(v) }},
	"IPTTL":             {Uint: func(r *Record) uint64 { return uint64(r.IPTTL) }, SetUint: func(r *Record, v uint64) { r.IPTTL = uint8(v) }},
	"ICMPType":          {Uint: func(r *Record) uint64 { return uint64(r.ICMPType) }, SetUint: func(r *Record, v uint64) { r.ICMPType = uint8(v) }},
	"ICMPCode":          {Uint: func(r *Record) uint64 { return uint64(r.ICMPCode) }, SetUint: func(r *Record, v uint64) { r.ICMPCode = uint8(v) }},
	"ForwardingStatus":  {Uint: func(r *Record) uint64 { return uint64(r.ForwardingStatus) }, SetUint: func(r *Record, v uint64) { r.ForwardingStatus = uint8(v) }},
	"Bytes":             {Uint: func(r *Record) uint64 { return uint64(r.Bytes) }, SetUint: func(r *Record, v uint64) { r.Bytes = uint64(v) }},
	"Packets":           {Uint: func(r *Record) uint64 { return uint64(r.Packets) }, SetUint: func(r *Record, v uint64) { r.Packets = uint64(v) }},
}

// Access returns the accessors of column name; it panics for an unknown column,
// which is a programming error.
func Access(name string) Accessors {
	a, ok := accessors[name]
	if !ok {
		panic("flow: no column " + name)
	}
	return a
}
