// Package udpsock opens the UDP sockets flow sources read from: several
// sockets on one address with SO_REUSEPORT, so that the kernel spreads
// datagrams across reader goroutines, a large receive buffer, and the
// kernel's drop counter delivered with each datagram.
package udpsock

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listen opens n UDP sockets on addr with SO_REUSEPORT. When addr's port is
// 0 every socket joins the port the first one got. rcvbuf, when positive, is
// the receive buffer size: SO_RCVBUFFORCE (allowed to root, past
// net.core.rmem_max), else SO_RCVBUF. SO_RXQ_OVFL is enabled, so that
// Overflow can read the kernel's drop count from each datagram.
func Listen(ctx context.Context, addr string, n, rcvbuf int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				return
			}
			if rcvbuf > 0 && unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	if n < 1 {
		n = 1
	}
	bind := addr
	var conns []*net.UDPConn
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", bind)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		c := pc.(*net.UDPConn)
		if i == 0 {
			bind = c.LocalAddr().String()
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// OOBSize is enough room for the control messages Listen asks for.
const OOBSize = 128

// Overflow finds the SO_RXQ_OVFL control message among the ones received
// with a datagram: the socket's cumulative count of datagrams the kernel
// dropped because the receive buffer was full.
func Overflow(oob []byte) (uint32, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= unix.CmsgLen(4) {
			return binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]), true
		}
		sp := unix.CmsgSpace(l - unix.CmsgLen(0))
		if sp > len(oob) {
			return 0, false
		}
		oob = oob[sp:]
	}
	return 0, false
}
