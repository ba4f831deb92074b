package exporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/bmpmsg"
)

// BMPSpeaker is a synthetic router's BMP client: it connects to a BMP
// station, sends Initiation, a Peer Up for the BGP peer over each external
// interface, the routes learned from each peer in Route Monitoring
// messages (pre-policy Adj-RIB-In), then End-of-RIB for IPv4 and IPv6, and
// keeps the session open. When the station goes away it reconnects with
// backoff and sends everything again; Run sends Termination before it
// returns.
type BMPSpeaker struct {
	Station  string     // host:port of the BMP station
	Local    netip.Addr // source address of the session (zero: the system's choice)
	SysName  string
	RouterAS uint32     // the router's AS, in the Peer Up's sent OPEN
	RouterID netip.Addr // the router's BGP identifier (IPv4); default Local, else 192.0.2.1
	Routes   []Route
	Logger   *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts (doubling); default 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration

	// Sessions counts the sessions that sent their whole table.
	Sessions atomic.Uint64
}

// Run speaks BMP until ctx is done. Failures to connect or a session ending
// are logged and retried; Run returns nil when ctx is done.
func (s *BMPSpeaker) Run(ctx context.Context) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("station", s.Station, "router", s.SysName)
	msgs, err := s.table()
	if err != nil {
		return err
	}
	lo, hi := s.MinBackoff, s.MaxBackoff
	if lo <= 0 {
		lo = 500 * time.Millisecond
	}
	if hi < lo {
		hi = max(30*time.Second, lo)
	}
	wait := lo
	for {
		start := time.Now()
		err := s.session(ctx, msgs, logger)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > hi {
			wait = lo // the session lasted: start the backoff over
		}
		logger.Warn("bmp session to station ended, reconnecting", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, hi)
	}
}

// table serializes what a session sends after Initiation: a Peer Up per
// peer, the routes, End-of-RIB per peer and family.
func (s *BMPSpeaker) table() ([]byte, error) {
	id := s.RouterID
	if !id.IsValid() {
		id = netip.AddrFrom4([4]byte{192, 0, 2, 1})
		if s.Local.Is4() {
			id = s.Local
		}
	}
	local := s.Local
	if !local.IsValid() {
		local = id
	}
	var peers []bmpmsg.Peer
	seen := map[netip.Addr]bool{}
	for _, r := range s.Routes {
		if !seen[r.PeerAddress] {
			seen[r.PeerAddress] = true
			peers = append(peers, bmpmsg.Peer{Address: r.PeerAddress, AS: r.PeerAS})
		}
	}
	var out []byte
	add := func(m *bmp.BMPMessage) error {
		b, err := m.Serialize()
		if err != nil {
			return fmt.Errorf("bmp message: %w", err)
		}
		out = append(out, b...)
		return nil
	}
	for _, p := range peers {
		if err := add(bmpmsg.PeerUp(p, local, s.RouterAS, id)); err != nil {
			return nil, err
		}
	}
	var path, comms []uint32
	var large []flow.LargeCommunity
	for _, r := range s.Routes {
		path, comms, large = r.ASPath.AppendTo(path[:0]), r.Communities.AppendTo(comms[:0]), r.LargeCommunities.AppendTo(large[:0])
		u, err := bmpmsg.Update(r.NextHop, path, comms, large, r.Prefix)
		if err != nil {
			return nil, err
		}
		if err := add(bmpmsg.RouteMonitoring(bmpmsg.Peer{Address: r.PeerAddress, AS: r.PeerAS}, u)); err != nil {
			return nil, err
		}
	}
	for _, p := range peers {
		for _, v6 := range []bool{false, true} {
			if err := add(bmpmsg.RouteMonitoring(p, bmpmsg.EndOfRIB(v6))); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// session runs one BMP session: connect, send the table, wait for the
// station to close or ctx to end (then send Termination).
func (s *BMPSpeaker) session(ctx context.Context, table []byte, logger *slog.Logger) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if s.Local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: s.Local.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "tcp", s.Station)
	if err != nil {
		return err
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, 64<<10)
	init, err := bmpmsg.Initiation(s.SysName, "flowengine synthetic router").Serialize()
	if err != nil {
		return fmt.Errorf("bmp initiation: %w", err)
	}
	_, _ = w.Write(init)
	_, _ = w.Write(table)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("send routes: %w", err)
	}
	s.Sessions.Add(1)
	logger.Info("bmp session up, routes sent", "local", conn.LocalAddr().String(), "routes", len(s.Routes))
	// The station sends nothing: a read ends when it closes the session.
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
		closed <- err
	}()
	select {
	case err := <-closed:
		if errors.Is(err, io.EOF) {
			return errors.New("station closed the session")
		}
		return err
	case <-ctx.Done():
		term, err := bmpmsg.Termination("synthetic router stopping").Serialize()
		if err == nil {
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write(term)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		<-closed
		return nil
	}
}
