// Package main is nfreplay: it sends a generated NetFlow v9 stream to a
// collector at a fixed rate of flows per second, for end-to-end benchmarks
// (scripts/bench-e2e.sh). It prints the number of flows sent.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"
)

const flowsPerPacket = 26

// fields of the generated template: type, length.
var fields = [][2]uint16{
	{8, 4}, {12, 4}, {15, 4}, {7, 2}, {11, 2}, {4, 1}, {5, 1}, {6, 1}, {1, 4}, {2, 4},
	{10, 4}, {14, 4}, {16, 4}, {17, 4}, {9, 1}, {13, 1}, {22, 4}, {21, 4},
}

func recordLen() int {
	n := 0
	for _, f := range fields {
		n += int(f[1])
	}
	return n
}

func header(b []byte, count uint16, uptime, secs, seq uint32) []byte {
	b = binary.BigEndian.AppendUint16(b, 9)
	b = binary.BigEndian.AppendUint16(b, count)
	b = binary.BigEndian.AppendUint32(b, uptime)
	b = binary.BigEndian.AppendUint32(b, secs)
	b = binary.BigEndian.AppendUint32(b, seq)
	return binary.BigEndian.AppendUint32(b, 1) // source id
}

func templatePacket(seq uint32) []byte {
	b := header(nil, 1, 1000, uint32(time.Now().Unix()), seq)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(4+4+4*len(fields)))
	b = binary.BigEndian.AppendUint16(b, 256)
	b = binary.BigEndian.AppendUint16(b, uint16(len(fields)))
	for _, f := range fields {
		b = binary.BigEndian.AppendUint16(b, f[0])
		b = binary.BigEndian.AppendUint16(b, f[1])
	}
	return b
}

// dataPackets prepares n data packets of random flows (sequence numbers are
// patched when sending).
func dataPackets(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		b := header(nil, flowsPerPacket, 100000, uint32(time.Now().Unix()), 0)
		b = binary.BigEndian.AppendUint16(b, 256)
		b = binary.BigEndian.AppendUint16(b, uint16(4+flowsPerPacket*recordLen()))
		for j := 0; j < flowsPerPacket; j++ {
			for _, f := range fields {
				switch f[1] {
				case 1:
					b = append(b, byte(r.UintN(256)))
				case 2:
					b = binary.BigEndian.AppendUint16(b, uint16(r.UintN(65536)))
				case 4:
					v := r.Uint32()
					if f[0] == 21 || f[0] == 22 {
						v = 90000 + r.Uint32N(10000)
					}
					b = binary.BigEndian.AppendUint32(b, v)
				}
			}
		}
		out[i] = b
	}
	return out
}

func main() {
	target := flag.String("target", "127.0.0.1:2055", "collector address")
	rate := flag.Int("rate", 100000, "flows per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()
	conn, err := net.Dial("udp", *target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	pkts := dataPackets(256)
	var seq uint32
	send := func(p []byte) {
		binary.BigEndian.PutUint32(p[12:], seq)
		seq++
		if _, err := conn.Write(p); err != nil {
			// ECONNREFUSED and the like: the packet is lost, keep the pace.
			return
		}
	}
	send(templatePacket(0))
	time.Sleep(100 * time.Millisecond)
	pps := float64(*rate) / flowsPerPacket
	start := time.Now()
	sent := 0
	for i := 0; ; {
		el := time.Since(start)
		if el >= *duration {
			break
		}
		due := int(el.Seconds() * pps)
		if sent >= due {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		for ; sent < due; sent++ {
			if sent%1000 == 0 {
				send(templatePacket(seq))
			}
			send(pkts[i%len(pkts)])
			i++
		}
	}
	fmt.Println(sent * flowsPerPacket)
}
