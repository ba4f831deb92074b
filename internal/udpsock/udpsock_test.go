package udpsock

import (
	"context"
	"net"
	"testing"
	"time"
)

// Several sockets share one port; datagrams sent to it are received, and a
// socket whose buffer overflowed reports the kernel's drop count.
func TestListenAndOverflow(t *testing.T) {
	conns, err := Listen(context.Background(), "127.0.0.1:0", 3, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	port := conns[0].LocalAddr().(*net.UDPAddr).Port
	for _, c := range conns {
		if p := c.LocalAddr().(*net.UDPAddr).Port; p != port {
			t.Fatalf("socket on port %d, want %d", p, port)
		}
	}
	// Flood one socket (the kernel spreads senders by source port): a single
	// sender lands on a single socket, whose 4 KiB buffer overflows.
	snd, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	payload := make([]byte, 1000)
	for i := 0; i < 200; i++ {
		if _, err := snd.Write(payload); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	oob := make([]byte, OOBSize)
	var received int
	var drops uint32
	drain := func() {
		for _, c := range conns {
			for {
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, oob)
				if err != nil {
					break
				}
				received++
				if d, ok := Overflow(oob[:oobn]); ok && d > drops {
					drops = d
				}
			}
		}
	}
	drain()
	// A datagram carries the drop count of the moment it was queued: one
	// more, queued after the flood, reports it.
	if _, err := snd.Write(payload); err != nil {
		t.Fatal(err)
	}
	drain()
	if received == 0 {
		t.Fatal("nothing received")
	}
	if received+int(drops) != 201 {
		t.Errorf("received %d + dropped %d != 201 sent", received, drops)
	}
	if drops == 0 {
		t.Errorf("a 4 KiB buffer took %d datagrams of 1000 bytes without a drop", received)
	}
}

func TestOverflowIgnoresGarbage(t *testing.T) {
	for _, oob := range [][]byte{nil, {1, 2, 3}, make([]byte, 64), {255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, ok := Overflow(oob); ok {
			t.Errorf("Overflow(%v) found a count", oob)
		}
	}
}
