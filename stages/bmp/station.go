package bmp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
	"github.com/prometheus/client_golang/prometheus"
)

// maxSessions bounds the sessions open at once (each holds about 200 KiB of
// buffers); more are refused and counted.
const maxSessions = 1024

// maxMessage bounds one BMP message: a route monitoring message carries one
// BGP message (at most 65535 bytes with RFC 8654) and the headers.
const maxMessage = 1 << 17

// ErrMalformed wraps every error of a message that could not be decoded.
var ErrMalformed = errors.New("malformed BMP message")

// options are the station's settings.
type options struct {
	allow          []netip.Prefix // empty: everyone
	rds            map[uint64]bool
	collectASPaths bool
	collectComms   bool
	keep           time.Duration
	maxRoutes      int
}

// station accepts BMP sessions and keeps their routes in a RIB.
type station struct {
	rib    *RIB
	opts   options
	logger *slog.Logger
	m      *stationMetrics
	now    func() time.Time

	mu       sync.Mutex
	sessions map[*session]struct{}
	lastID   uint64 // of the last session opened
	wg       sync.WaitGroup
}

type stationMetrics struct {
	messages *prometheus.CounterVec // router, type
	errors   *prometheus.CounterVec // router, reason
	refused  prometheus.Counter
	sessions *prometheus.CounterVec // router: sessions opened
	cutoff   *prometheus.CounterVec // router: sessions cut for max_routes
	swept    prometheus.Counter
}

// session is one router's BMP connection.
type session struct {
	id     uint64 // unique over the station's life; never 0
	conn   net.Conn
	router netip.Addr
	label  string

	// The families in which each peer's updates carry path identifiers
	// (ADD-PATH, RFC 7911), from the OPEN messages of its peer up.
	addPath map[addPathPeer][]*bgp.MarshallingOption
}

// addPathPeer identifies a peer of a session for ADD-PATH.
type addPathPeer struct {
	addr netip.Addr
	dist uint64
	typ  uint8
}

func addPathPeerOf(h *bmp.BMPPeerHeader) addPathPeer {
	return addPathPeer{addr: netipAddr(h.PeerAddress), dist: h.PeerDistinguisher, typ: h.PeerType}
}

// options returns how the BGP messages of a peer are decoded: with path
// identifiers in the families where ADD-PATH was negotiated.
func (ss *session) options(h bmp.BMPPeerHeader) []*bgp.MarshallingOption {
	if ss == nil || len(ss.addPath) == 0 {
		return nil
	}
	return ss.addPath[addPathPeerOf(&h)]
}

// addPathModes returns the ADD-PATH capability of an OPEN message, by
// family.
func addPathModes(m *bgp.BGPMessage) map[bgp.RouteFamily]bgp.BGPAddPathMode {
	open, _ := m.Body.(*bgp.BGPOpen)
	if open == nil {
		return nil
	}
	var modes map[bgp.RouteFamily]bgp.BGPAddPathMode
	for _, p := range open.OptParams {
		c, ok := p.(*bgp.OptionParameterCapability)
		if !ok {
			continue
		}
		for _, cap := range c.Capability {
			if ap, ok := cap.(*bgp.CapAddPath); ok {
				for _, t := range ap.Tuples {
					if modes == nil {
						modes = map[bgp.RouteFamily]bgp.BGPAddPathMode{}
					}
					modes[t.RouteFamily] |= t.Mode
				}
			}
		}
	}
	return modes
}

// peerAddPath records the families in which the updates the router
// received from a peer carry path identifiers: those where the peer (its
// OPEN, received) can send several paths and the router (its OPEN, sent)
// can receive them.
func (ss *session) peerAddPath(h *bmp.BMPPeerHeader, up *bmp.BMPPeerUpNotification) {
	k := addPathPeerOf(h)
	delete(ss.addPath, k)
	if up.SentOpenMsg == nil || up.ReceivedOpenMsg == nil {
		return
	}
	sent, recv := addPathModes(up.SentOpenMsg), addPathModes(up.ReceivedOpenMsg)
	var on map[bgp.RouteFamily]bgp.BGPAddPathMode
	for rf, mode := range recv {
		if mode&bgp.BGP_ADD_PATH_SEND != 0 && sent[rf]&bgp.BGP_ADD_PATH_RECEIVE != 0 {
			if on == nil {
				on = map[bgp.RouteFamily]bgp.BGPAddPathMode{}
			}
			on[rf] = bgp.BGP_ADD_PATH_RECEIVE // decode with path identifiers
		}
	}
	if on != nil {
		if ss.addPath == nil {
			ss.addPath = map[addPathPeer][]*bgp.MarshallingOption{}
		}
		ss.addPath[k] = []*bgp.MarshallingOption{{AddPath: on}}
	}
}

// serve accepts sessions on ln until it is closed.
func (s *station) serve(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logger.Warn("bmp accept failed", "error", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		addr := ap.Addr().Unmap()
		if !s.allowed(addr) {
			s.m.refused.Inc()
			s.logger.Warn("bmp session refused: address not allowed", "router", addr)
			_ = c.Close()
			continue
		}
		ss := &session{conn: c, router: addr, label: addr.String()}
		s.mu.Lock()
		full := len(s.sessions) >= maxSessions
		if !full {
			s.lastID++
			ss.id = s.lastID
			s.sessions[ss] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.m.refused.Inc()
			s.logger.Warn("bmp session refused: too many sessions", "router", addr, "max", maxSessions)
			_ = c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.run(ss)
		}()
	}
}

func (s *station) allowed(a netip.Addr) bool {
	if len(s.opts.allow) == 0 {
		return true
	}
	for _, p := range s.opts.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// closeAll closes every session.
func (s *station) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		_ = ss.conn.Close()
	}
}

// run reads one session until it ends, then marks the peers it fed down.
func (s *station) run(ss *session) {
	s.m.sessions.WithLabelValues(ss.label).Inc()
	s.logger.Info("bmp session up", "router", ss.router)
	err := s.read(ss.conn, ss)
	_ = ss.conn.Close()
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	now := s.now()
	s.rib.mu.Lock()
	s.rib.sessionDown(ss.id, now)
	s.rib.mu.Unlock()
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		s.logger.Info("bmp session down", "router", ss.router)
	case errors.Is(err, errTerminated):
		s.logger.Info("bmp session terminated by the router", "router", ss.router)
	default:
		s.logger.Warn("bmp session closed", "router", ss.router, "error", err)
	}
}

// errTerminated ends a session on a termination message.
var errTerminated = errors.New("terminated by the router")

// errMaxRoutes ends a session whose router sent too many routes.
var errMaxRoutes = errors.New("max_routes exceeded")

// maxPeers bounds the peer tables one router may announce (peers up or
// down, not yet expired), so that a router inventing peers cannot grow the
// station without bound.
const maxPeers = 4096

// errMaxPeers ends a session whose router announced too many peers.
var errMaxPeers = fmt.Errorf("more than %d peers", maxPeers)

// peerCount returns the peer tables a router holds. Caller holds rib.mu.
func (s *station) peerCount(router netip.Addr) int {
	n := 0
	for i := range s.rib.peers {
		if p := &s.rib.peers[i]; !p.gone && p.key.router == router {
			n++
		}
	}
	return n
}

// read decodes messages from r until an error.
func (s *station) read(r io.Reader, ss *session) error {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, maxMessage)
	for {
		if _, err := io.ReadFull(br, buf[:6]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				s.m.errors.WithLabelValues(ss.label, "truncated").Inc()
				return fmt.Errorf("%w: truncated header", ErrMalformed)
			}
			return err
		}
		if buf[0] != 3 {
			s.m.errors.WithLabelValues(ss.label, "version").Inc()
			return fmt.Errorf("%w: version %d, want 3", ErrMalformed, buf[0])
		}
		n := int(binary.BigEndian.Uint32(buf[1:5]))
		if n < 6 || n > maxMessage {
			s.m.errors.WithLabelValues(ss.label, "length").Inc()
			return fmt.Errorf("%w: length %d", ErrMalformed, n)
		}
		if _, err := io.ReadFull(br, buf[6:n]); err != nil {
			s.m.errors.WithLabelValues(ss.label, "truncated").Inc()
			return fmt.Errorf("%w: truncated message: %w", ErrMalformed, err)
		}
		if err := s.handle(ss, buf[:n]); err != nil {
			return err
		}
	}
}

// handle decodes and applies one message.
func (s *station) handle(ss *session, data []byte) error {
	msg, handling, err := decode(data, ss)
	if err != nil {
		s.m.errors.WithLabelValues(ss.label, "decode").Inc()
		return err
	}
	switch handling {
	case updateWithdraw:
		s.m.errors.WithLabelValues(ss.label, "treat-as-withdraw").Inc()
		s.logger.Warn("bmp update with a malformed attribute: its routes are withdrawn (RFC 7606)", "router", ss.router)
	case updateAttrDiscard:
		s.m.errors.WithLabelValues(ss.label, "attribute-discard").Inc()
	}
	s.m.messages.WithLabelValues(ss.label, messageType(msg.Header.Type)).Inc()
	switch body := msg.Body.(type) {
	case *bmp.BMPInitiation, *bmp.BMPStatisticsReport, *bmp.BMPRouteMirroring:
		return nil
	case *bmp.BMPTermination:
		return errTerminated
	case *bmp.BMPPeerUpNotification:
		k, ok := s.peerKeys(ss, &msg.PeerHeader)
		if !ok {
			return nil
		}
		ss.peerAddPath(&msg.PeerHeader, body)
		now := s.now()
		s.rib.mu.Lock()
		defer s.rib.mu.Unlock()
		for _, pk := range k {
			if id, ok := s.rib.peerIDs[pk]; !ok || !s.rib.peers[id].up {
				if s.peerCount(ss.router) >= maxPeers {
					s.m.errors.WithLabelValues(ss.label, "peers").Inc()
					return errMaxPeers
				}
			}
			s.rib.peerUp(pk, msg.PeerHeader.PeerAS, ss.id, now)
		}
		return nil
	case *bmp.BMPPeerDownNotification:
		k, ok := s.peerKeys(ss, &msg.PeerHeader)
		if !ok {
			return nil
		}
		delete(ss.addPath, addPathPeerOf(&msg.PeerHeader))
		now := s.now()
		s.rib.mu.Lock()
		defer s.rib.mu.Unlock()
		for _, pk := range k {
			if id, ok := s.rib.peerIDs[pk]; ok {
				s.rib.peerDown(id, now)
			}
		}
		s.logger.Info("bmp peer down", "router", ss.router, "peer", netipAddr(msg.PeerHeader.PeerAddress), "reason", body.Reason)
		return nil
	case *bmp.BMPRouteMonitoring:
		return s.monitor(ss, &msg.PeerHeader, body, handling == updateWithdraw)
	}
	return nil
}

// Handling of an update with a malformed attribute (RFC 7606), when the
// rest of the message could be decoded.
const (
	updateOK          = iota
	updateWithdraw    // treat as withdraw: its routes are withdrawn
	updateAttrDiscard // the attribute was dropped, the routes kept
)

// decode parses one BMP message of session ss (nil: no ADD-PATH), turning
// any failure of the decoder into ErrMalformed. A route monitoring message whose BGP update has a
// malformed attribute that RFC 7606 lets a speaker survive comes back with
// how to handle it.
func decode(data []byte, ss *session) (msg *bmp.BMPMessage, handling int, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: %v", ErrMalformed, r)
		}
	}()
	msg, err = bmp.ParseBMPMessageWithOptions(data, ss.options)
	if err != nil {
		var me *bgp.MessageError
		if msg == nil || !errors.As(err, &me) {
			return nil, 0, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch me.ErrorHandling {
		case bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
			handling = updateWithdraw
		case bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
			handling = updateAttrDiscard
		default:
			return nil, 0, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if msg.Header.Type == bmp.BMP_MSG_ROUTE_MONITORING {
		rm, _ := msg.Body.(*bmp.BMPRouteMonitoring)
		if rm == nil || rm.BGPUpdate == nil {
			return nil, 0, fmt.Errorf("%w: route monitoring without a BGP message", ErrMalformed)
		}
		if _, ok := rm.BGPUpdate.Body.(*bgp.BGPUpdate); !ok {
			return nil, 0, fmt.Errorf("%w: route monitoring carries a BGP message of type %d", ErrMalformed, rm.BGPUpdate.Header.Type)
		}
	}
	return msg, handling, nil
}

func messageType(t uint8) string {
	switch t {
	case bmp.BMP_MSG_ROUTE_MONITORING:
		return "route-monitoring"
	case bmp.BMP_MSG_STATISTICS_REPORT:
		return "statistics-report"
	case bmp.BMP_MSG_PEER_DOWN_NOTIFICATION:
		return "peer-down"
	case bmp.BMP_MSG_PEER_UP_NOTIFICATION:
		return "peer-up"
	case bmp.BMP_MSG_INITIATION:
		return "initiation"
	case bmp.BMP_MSG_TERMINATION:
		return "termination"
	case bmp.BMP_MSG_ROUTE_MIRRORING:
		return "route-mirroring"
	}
	return "other"
}

func netipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// peerLocRIB is the peer type of RFC 9069's Loc-RIB instance.
const peerLocRIB = 3

// peerKeys returns the keys of a peer header's tables: the table its flags
// name for a route monitoring message; all of them for peer up and down.
// Adj-RIB-Out is not kept.
func (s *station) peerKeys(ss *session, h *bmp.BMPPeerHeader) ([]peerKey, bool) {
	base := peerKey{router: ss.router, addr: netipAddr(h.PeerAddress)}
	if h.PeerType == bmp.BMP_PEER_TYPE_L3VPN || h.PeerType == bmp.BMP_PEER_TYPE_LOCAL || h.PeerType == peerLocRIB {
		base.dist = h.PeerDistinguisher
	}
	if h.PeerType == peerLocRIB {
		base.table = tableLocRIB
		return []peerKey{base}, true
	}
	pre, post := base, base
	post.table = tablePostPolicy
	return []peerKey{pre, post}, true
}

// monitor applies a route monitoring message.
func (s *station) monitor(ss *session, h *bmp.BMPPeerHeader, rm *bmp.BMPRouteMonitoring, withdrawAll bool) error {
	if h.IsAdjRIBOut() {
		return nil
	}
	upd := rm.BGPUpdate.Body.(*bgp.BGPUpdate)
	key := peerKey{router: ss.router, addr: netipAddr(h.PeerAddress)}
	switch {
	case h.PeerType == peerLocRIB:
		key.table, key.dist = tableLocRIB, h.PeerDistinguisher
	case h.IsPostPolicy():
		key.table = tablePostPolicy
	}
	if h.PeerType == bmp.BMP_PEER_TYPE_L3VPN || h.PeerType == bmp.BMP_PEER_TYPE_LOCAL {
		key.dist = h.PeerDistinguisher
	}
	// The RD of routes that carry none: the peer's, for an RD instance peer.
	var peerRD uint64
	if h.PeerType == bmp.BMP_PEER_TYPE_L3VPN {
		peerRD = h.PeerDistinguisher
	}

	var (
		nextHop      netip.Addr
		asPath       []uint32
		origin       uint32
		comms        []uint32
		lcomms       []LargeCommunity
		reach        []bgp.AddrPrefixInterface
		unreach      []bgp.AddrPrefixInterface
		mpNextHop    netip.Addr
		hasAttrs     = len(upd.PathAttributes) > 0
		eorUnreach   bool
		hasMPReach   bool
		hasMPUnreach bool
	)
	for _, a := range upd.PathAttributes {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			nextHop = netipAddr(a.Value)
		case *bgp.PathAttributeAsPath:
			// The AS_SEQUENCE segments only: an AS_SET (left by
			// aggregation) has no order to show, and confederation
			// segments name member ASes inside one AS. The origin is
			// the last AS of the path so kept.
			for _, seg := range a.Value {
				if seg.GetType() != bgp.BGP_ASPATH_ATTR_TYPE_SEQ {
					continue
				}
				as := seg.GetAS()
				if n := len(as); n > 0 {
					origin = as[n-1]
				}
				if s.opts.collectASPaths {
					asPath = append(asPath, as...)
				}
			}
		case *bgp.PathAttributeCommunities:
			if s.opts.collectComms {
				comms = a.Value
			}
		case *bgp.PathAttributeLargeCommunities:
			if s.opts.collectComms {
				for _, c := range a.Values {
					lcomms = append(lcomms, LargeCommunity{ASN: c.ASN, Local1: c.LocalData1, Local2: c.LocalData2})
				}
			}
		case *bgp.PathAttributeMpReachNLRI:
			hasMPReach = true
			if familyKept(a.AFI, a.SAFI) {
				reach = append(reach, a.Value...)
				mpNextHop = netipAddr(a.Nexthop)
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			hasMPUnreach = true
			if len(a.Value) == 0 {
				eorUnreach = true
			}
			if familyKept(a.AFI, a.SAFI) {
				unreach = append(unreach, a.Value...)
			}
		}
	}
	if (!hasAttrs && len(upd.NLRI) == 0 && len(upd.WithdrawnRoutes) == 0) ||
		(eorUnreach && !hasMPReach && len(upd.NLRI) == 0 && len(upd.WithdrawnRoutes) == 0 && len(upd.PathAttributes) == 1) {
		s.m.messages.WithLabelValues(ss.label, "end-of-rib").Inc()
		s.logger.Debug("bmp end-of-rib", "router", ss.router, "peer", key.addr, "table", tableNames[key.table])
		return nil
	}
	_ = hasMPUnreach
	if len(asPath) > 0 && origin == 0 {
		origin = asPath[len(asPath)-1]
	}

	now := s.now()
	s.rib.mu.Lock()
	defer s.rib.mu.Unlock()
	peerID, ok := s.rib.peerIDs[key]
	if !ok || !s.rib.peers[peerID].up {
		if s.peerCount(ss.router) >= maxPeers {
			s.m.errors.WithLabelValues(ss.label, "peers").Inc()
			return errMaxPeers
		}
		peerID = s.rib.peerUp(key, h.PeerAS, ss.id, now)
	} else if p := &s.rib.peers[peerID]; p.session != ss.id {
		// Routes for a table another session brought up (without a peer
		// up of this one): this session feeds it now, and the table goes
		// down when this one ends.
		p.session = ss.id
	}
	for _, p := range upd.WithdrawnRoutes {
		if pfx, rd, ok := prefixOf(p, peerRD); ok && s.rdKept(rd) {
			s.rib.withdraw(pfx, rd, p.PathIdentifier(), peerID)
		}
	}
	for _, p := range unreach {
		if pfx, rd, ok := prefixOf(p, peerRD); ok && s.rdKept(rd) {
			s.rib.withdraw(pfx, rd, p.PathIdentifier(), peerID)
		}
	}
	add := func(p bgp.AddrPrefixInterface, nh netip.Addr) error {
		pfx, rd, ok := prefixOf(p, peerRD)
		if !ok || !s.rdKept(rd) {
			return nil
		}
		if s.opts.maxRoutes > 0 && s.rib.routes[s.rib.peers[peerID].router] >= s.opts.maxRoutes {
			s.m.cutoff.WithLabelValues(ss.label).Inc()
			return fmt.Errorf("%w: %d routes", errMaxRoutes, s.opts.maxRoutes)
		}
		s.rib.add(pfx, rd, p.PathIdentifier(), peerID, s.rib.internAttrs(nh, origin, asPath, comms, lcomms))
		return nil
	}
	if withdrawAll {
		for _, p := range upd.NLRI {
			if pfx, rd, ok := prefixOf(p, peerRD); ok && s.rdKept(rd) {
				s.rib.withdraw(pfx, rd, p.PathIdentifier(), peerID)
			}
		}
		for _, p := range reach {
			if pfx, rd, ok := prefixOf(p, peerRD); ok && s.rdKept(rd) {
				s.rib.withdraw(pfx, rd, p.PathIdentifier(), peerID)
			}
		}
		return nil
	}
	for _, p := range upd.NLRI {
		if err := add(p, nextHop); err != nil {
			return err
		}
	}
	for _, p := range reach {
		if err := add(p, mpNextHop); err != nil {
			return err
		}
	}
	return nil
}

// familyKept says whether routes of an address family are kept: IPv4 and
// IPv6 unicast and L3VPN.
func familyKept(afi uint16, safi uint8) bool {
	return (afi == bgp.AFI_IP || afi == bgp.AFI_IP6) && (safi == bgp.SAFI_UNICAST || safi == bgp.SAFI_MPLS_VPN)
}

func (s *station) rdKept(rd uint64) bool {
	return len(s.opts.rds) == 0 || s.opts.rds[rd]
}

// prefixOf returns the prefix and route distinguisher of an NLRI; its
// path identifier (ADD-PATH) is p.PathIdentifier().
func prefixOf(p bgp.AddrPrefixInterface, peerRD uint64) (netip.Prefix, uint64, bool) {
	var (
		ip     net.IP
		length int
		rd     = peerRD
	)
	switch p := p.(type) {
	case *bgp.IPAddrPrefix:
		ip, length = p.Prefix, int(p.Length)
	case *bgp.IPv6AddrPrefix:
		ip, length = p.Prefix, int(p.Length)
	case *bgp.LabeledVPNIPAddrPrefix:
		ip, length = p.Prefix, int(p.Length)-8*(p.Labels.Len()+8)
		rd = rdValue(p.RD)
	case *bgp.LabeledVPNIPv6AddrPrefix:
		ip, length = p.Prefix, int(p.Length)-8*(p.Labels.Len()+8)
		rd = rdValue(p.RD)
	default:
		return netip.Prefix{}, 0, false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, 0, false
	}
	a = a.Unmap()
	if length < 0 || length > a.BitLen() {
		return netip.Prefix{}, 0, false
	}
	return netip.PrefixFrom(a, length).Masked(), rd, true
}

func rdValue(rd bgp.RouteDistinguisherInterface) uint64 {
	if rd == nil {
		return 0
	}
	b, err := rd.Serialize()
	if err != nil || len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// sweeper removes expired routes until ctx is done.
func (s *station) sweeper(ctx context.Context, every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *station) sweep() {
	s.rib.mu.Lock()
	n := s.rib.sweep(s.now().Add(-s.opts.keep))
	s.rib.mu.Unlock()
	if n > 0 {
		s.m.swept.Add(float64(n))
		s.logger.Info("bmp routes of peers down expired", "routes", n)
	}
}
