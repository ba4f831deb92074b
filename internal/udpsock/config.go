package udpsock

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
)

// Attrs are the attributes of a source's sockets: listen (by default
// listen), sockets and receive_buffer.
func Attrs(listen string) []dsl.Attr {
	return []dsl.Attr{
		{Name: "listen", Type: dsl.TypeString, Default: listen,
			Description: "UDP address to listen on, host:port."},
		{Name: "sockets", Type: dsl.TypeInt, Default: int64(2),
			Description: "Number of UDP sockets bound to the address with SO_REUSEPORT, each read by its own goroutine."},
		{Name: "receive_buffer", Type: dsl.TypeSize, Default: int64(8 << 20),
			Description: "Socket receive buffer size (SO_RCVBUF; SO_RCVBUFFORCE when running as root)."},
	}
}

// Config is the sockets of a source, as Attrs declare them.
type Config struct {
	Listen        string
	ListenRange   hcl.Range
	Sockets       int
	ReceiveBuffer int
}

// Decode reads the attributes of Attrs.
func Decode(cfg *dsl.Config) (Config, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: cfg.Range(attr)})
	}
	c := Config{
		Listen:        cfg.String("listen"),
		ListenRange:   *cfg.Range("listen"),
		Sockets:       int(cfg.Int("sockets")),
		ReceiveBuffer: int(cfg.Size("receive_buffer")),
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "Invalid listen address", fmt.Sprintf("%q is not host:port: %v.", c.Listen, err))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("listen", "Invalid listen address", fmt.Sprintf("%q is not a port number.", port))
	}
	if c.Sockets < 1 || c.Sockets > 256 {
		bad("sockets", "Invalid number of sockets", "sockets must be between 1 and 256.")
	}
	if c.ReceiveBuffer < 0 || c.ReceiveBuffer > 1<<31-1 {
		bad("receive_buffer", "Invalid receive buffer", "receive_buffer must be between 0 (system default) and 2GiB.")
	}
	return c, diags
}

// Open opens the sockets of c (see Listen).
func (c Config) Open(ctx context.Context) ([]*net.UDPConn, error) {
	return Listen(ctx, c.Listen, c.Sockets, c.ReceiveBuffer)
}
