package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
)

// The sink inserts over its own native-protocol connection: it encodes the
// column buffers straight into the wire format, with no per-row conversion
// and no column copies of its own, and reuses every buffer across INSERTs.
// Queries (provisioning, version, retention) still go through clickhouse-go.

// nativeRevision is the protocol revision the sink speaks (the server
// answers with the lower of its own and this one). Below 54451 servers send
// no ProfileEvents blocks, which the sink would have to decode; every block
// feature an INSERT needs is older.
const nativeRevision = 54450

// compressChunk is the size of the uncompressed pieces of a data block
// compressed one at a time.
const compressChunk = 1 << 20

// nativeConn is one native-protocol connection, used by one INSERT at a time.
type nativeConn struct {
	conn     net.Conn
	addr     string
	r        *proto.Reader
	buf      proto.Buffer
	revision int
	cw       *compress.Writer // nil without compression
	header   []headerColumn
}

// headerColumn is a column of the block the server expects.
type headerColumn struct {
	name, typ string
}

// dialNative connects to the first server that answers.
func (s *Sink) dialNative(ctx context.Context) (*nativeConn, error) {
	var errs []error
	for _, addr := range s.cfg.servers {
		c, err := s.dialServer(ctx, addr)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
		var ex *exception
		if errors.As(err, &ex) && authCodes[ex.Code] {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (s *Sink) dialServer(ctx context.Context, addr string) (*nativeConn, error) {
	d := net.Dialer{Timeout: s.cfg.dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if s.cfg.tls.Enabled {
		tc, err := s.tlsConfig()
		if err != nil {
			conn.Close()
			return nil, err
		}
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		conn = tls.Client(conn, tc)
	}
	c := &nativeConn{conn: conn, addr: addr, r: proto.NewReader(conn)}
	switch s.cfg.compression {
	case "lz4":
		c.cw = compress.NewWriter(compress.LevelZero, compress.LZ4)
	case "zstd":
		c.cw = compress.NewWriter(compress.LevelZero, compress.ZSTD)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(s.cfg.dialTimeout))
	if err := c.handshake(s.cfg.username, s.cfg.password); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// handshake says hello. The INSERT names its database, so the connection
// does not need one that exists yet.
func (c *nativeConn) handshake(user, password string) error {
	c.buf.Reset()
	proto.ClientHello{Name: "flowengine", Major: 1, ProtocolVersion: nativeRevision, User: user, Password: password}.Encode(&c.buf)
	if err := c.flush(); err != nil {
		return err
	}
	code, err := c.r.UVarInt()
	if err != nil {
		return fmt.Errorf("clickhouse %s: handshake: %w", c.addr, err)
	}
	switch proto.ServerCode(code) {
	case proto.ServerCodeHello:
	case proto.ServerCodeException:
		return c.exception()
	default:
		return fmt.Errorf("clickhouse %s: handshake: unexpected packet %d", c.addr, code)
	}
	var hello proto.ServerHello
	if err := hello.DecodeAware(c.r, nativeRevision); err != nil {
		return fmt.Errorf("clickhouse %s: handshake: %w", c.addr, err)
	}
	c.revision = min(nativeRevision, hello.Revision)
	if proto.FeatureAddendum.In(c.revision) {
		c.buf.Reset()
		c.buf.PutString("") // quota key
		return c.flush()
	}
	return nil
}

func (c *nativeConn) close() { _ = c.conn.Close() }

func (c *nativeConn) flush() error {
	if len(c.buf.Buf) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.buf.Buf)
	c.buf.Reset()
	if err != nil {
		return fmt.Errorf("clickhouse %s: %w", c.addr, err)
	}
	return nil
}

// exception reads the server's exception as a clickhouse.Exception, which
// the retry logic classifies by code.
func (c *nativeConn) exception() error {
	var e proto.Exception
	if err := e.DecodeAware(c.r, c.revision); err != nil {
		return fmt.Errorf("clickhouse %s: read exception: %w", c.addr, err)
	}
	// Nested exceptions, if any, are left unread: the connection is
	// closed after any error.
	return &clickhouse.Exception{Code: int32(e.Code), Name: e.Name, Message: e.Message, StackTrace: e.Stack}
}

// insert sends rows [lo, hi) of rb in one INSERT and waits for the server
// to acknowledge it. Any error leaves the connection unusable.
// A token, if not "", is sent as the insert_deduplication_token setting.
func (c *nativeConn) insert(ctx context.Context, query, token string, rb *rowBuffer, lo, hi int) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = c.conn.SetDeadline(time.Now().Add(insertTimeout))

	c.buf.Reset()
	compression := proto.CompressionDisabled
	if c.cw != nil {
		compression = proto.CompressionEnabled
	}
	// The query packet, as proto.Query writes it but with the client info
	// servers older than revision 54420 expect too.
	proto.ClientCodeQuery.Encode(&c.buf)
	c.buf.PutString("") // query id
	proto.ClientInfo{
		ProtocolVersion: c.revision, Major: 1, Interface: proto.InterfaceTCP,
		Query: proto.ClientQueryInitial, ClientName: "flowengine",
		InitialAddress: c.conn.LocalAddr().String(), // old servers parse it
	}.EncodeAware(&c.buf, c.revision)
	if token != "" && proto.FeatureSettingsSerializedAsStrings.In(c.revision) {
		proto.Setting{Key: "insert_deduplication_token", Value: token, Important: true}.Encode(&c.buf)
	}
	c.buf.PutString("") // end of settings
	if proto.FeatureInterServerSecret.In(c.revision) {
		c.buf.PutString("")
	}
	proto.StageComplete.Encode(&c.buf)
	compression.Encode(&c.buf)
	c.buf.PutString(query)
	if proto.FeatureParameters.In(c.revision) {
		c.buf.PutString("") // end of parameters
	}
	if err := c.emptyBlock(); err != nil { // no external tables
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.readHeader(); err != nil {
		return err
	}
	if len(c.header) != len(rb.cols) {
		return fmt.Errorf("clickhouse %s: the server expects %d columns, the sink has %d", c.addr, len(c.header), len(rb.cols))
	}

	// The data block, compressed in pieces of about compressChunk bytes.
	proto.ClientCodeData.Encode(&c.buf)
	c.buf.PutString("")
	start := len(c.buf.Buf)
	if proto.FeatureBlockInfo.In(c.revision) {
		proto.BlockInfo{BucketNum: -1}.Encode(&c.buf)
	}
	c.buf.PutInt(len(rb.cols))
	c.buf.PutInt(hi - lo)
	for i, cb := range rb.cols {
		h := c.header[i]
		if h.name != cb.col.Name {
			return fmt.Errorf("clickhouse %s: column %d is %s on the server, %s in the sink", c.addr, i, h.name, cb.col.Name)
		}
		c.buf.PutString(h.name)
		c.buf.PutString(h.typ)
		if err := cb.encode(&c.buf, h.typ, lo, hi); err != nil {
			return fmt.Errorf("clickhouse %s: %w", c.addr, err)
		}
		if len(c.buf.Buf)-start >= compressChunk {
			if err := c.writeCompressed(start); err != nil {
				return err
			}
			start = 0
		}
	}
	if err := c.writeCompressed(start); err != nil {
		return err
	}
	if err := c.emptyBlock(); err != nil { // end of data
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	return c.readEnd()
}

// insertTimeout bounds a whole INSERT: sending the block and the server's work.
const insertTimeout = 5 * time.Minute

// writeCompressed writes c.buf, whose bytes from start on are block data
// (compressed if the connection compresses).
func (c *nativeConn) writeCompressed(start int) error {
	if c.cw == nil || len(c.buf.Buf) == start {
		return c.flush()
	}
	if err := c.cw.Compress(c.buf.Buf[start:]); err != nil {
		return fmt.Errorf("clickhouse %s: compress: %w", c.addr, err)
	}
	c.buf.Buf = c.buf.Buf[:start]
	if err := c.flush(); err != nil {
		return err
	}
	if _, err := c.conn.Write(c.cw.Data); err != nil {
		return fmt.Errorf("clickhouse %s: %w", c.addr, err)
	}
	return nil
}

// emptyBlock appends an empty data block to c.buf, compressed if needed.
func (c *nativeConn) emptyBlock() error {
	proto.ClientCodeData.Encode(&c.buf)
	c.buf.PutString("")
	start := len(c.buf.Buf)
	if proto.FeatureBlockInfo.In(c.revision) {
		proto.BlockInfo{BucketNum: -1}.Encode(&c.buf)
	}
	c.buf.PutInt(0)
	c.buf.PutInt(0)
	if c.cw == nil {
		return nil
	}
	if err := c.cw.Compress(c.buf.Buf[start:]); err != nil {
		return err
	}
	c.buf.Buf = append(c.buf.Buf[:start], c.cw.Data...)
	return nil
}

// readHeader reads the packets the server sends before the data: the
// block of the columns it expects, with progress and metadata around it.
func (c *nativeConn) readHeader() error {
	for {
		code, err := c.r.UVarInt()
		if err != nil {
			return fmt.Errorf("clickhouse %s: %w", c.addr, err)
		}
		switch proto.ServerCode(code) {
		case proto.ServerCodeData:
			return c.readHeaderBlock()
		case proto.ServerCodeException:
			return c.exception()
		default:
			if err := c.skipPacket(proto.ServerCode(code)); err != nil {
				return err
			}
		}
	}
}

func (c *nativeConn) readHeaderBlock() (err error) {
	if _, err := c.r.Str(); err != nil { // table name
		return fmt.Errorf("clickhouse %s: header: %w", c.addr, err)
	}
	if c.cw != nil {
		c.r.EnableCompression()
		defer c.r.DisableCompression()
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("clickhouse %s: header: %w", c.addr, err)
		}
	}()
	if proto.FeatureBlockInfo.In(c.revision) {
		var info proto.BlockInfo
		if err := info.Decode(c.r); err != nil {
			return err
		}
	}
	cols, err := c.r.Int()
	if err != nil {
		return err
	}
	rows, err := c.r.Int()
	if err != nil {
		return err
	}
	if rows != 0 || cols < 0 || cols > 10000 {
		return fmt.Errorf("unexpected header block of %d columns and %d rows", cols, rows)
	}
	c.header = c.header[:0]
	for range cols {
		name, err := c.r.Str()
		if err != nil {
			return err
		}
		typ, err := c.r.Str()
		if err != nil {
			return err
		}
		c.header = append(c.header, headerColumn{name: name, typ: typ})
	}
	return nil
}

// readEnd reads the server's answer to the data, up to the end of the query.
func (c *nativeConn) readEnd() error {
	for {
		code, err := c.r.UVarInt()
		if err != nil {
			return fmt.Errorf("clickhouse %s: %w", c.addr, err)
		}
		switch proto.ServerCode(code) {
		case proto.ServerCodeEndOfStream:
			return nil
		case proto.ServerCodeException:
			return c.exception()
		default:
			if err := c.skipPacket(proto.ServerCode(code)); err != nil {
				return err
			}
		}
	}
}

// skipPacket reads a packet the sink does not use.
func (c *nativeConn) skipPacket(code proto.ServerCode) error {
	var err error
	switch code {
	case proto.ServerCodeProgress:
		var p proto.Progress
		err = p.DecodeAware(c.r, c.revision)
	case proto.ServerCodeProfile:
		var p proto.Profile
		err = p.DecodeAware(c.r, c.revision)
	case proto.ServerCodeTableColumns:
		var t proto.TableColumns
		err = t.DecodeAware(c.r, c.revision)
	case proto.ServerCodeLog:
		err = c.skipLogBlock()
	default:
		err = fmt.Errorf("unexpected packet %d", code)
	}
	if err != nil {
		return fmt.Errorf("clickhouse %s: %w", c.addr, err)
	}
	return nil
}

// skipLogBlock reads a server log block (never compressed), whose columns
// are numbers, dates and strings.
func (c *nativeConn) skipLogBlock() error {
	if _, err := c.r.Str(); err != nil {
		return err
	}
	if proto.FeatureBlockInfo.In(c.revision) {
		var info proto.BlockInfo
		if err := info.Decode(c.r); err != nil {
			return err
		}
	}
	cols, err := c.r.Int()
	if err != nil {
		return err
	}
	rows, err := c.r.Int()
	if err != nil {
		return err
	}
	if rows < 0 || rows > 1<<20 {
		return fmt.Errorf("log block of %d rows", rows)
	}
	for range cols {
		if _, err := c.r.Str(); err != nil {
			return err
		}
		typ, err := c.r.Str()
		if err != nil {
			return err
		}
		if w := fixedWidth(typ); w > 0 {
			if _, err := c.r.ReadRaw(w * rows); err != nil {
				return err
			}
			continue
		}
		if typ != "String" {
			return fmt.Errorf("log block column of type %s", typ)
		}
		for range rows {
			if _, err := c.r.StrRaw(); err != nil {
				return err
			}
		}
	}
	return nil
}

// fixedWidth is the size of a value of a fixed-width type, or 0.
func fixedWidth(typ string) int {
	switch {
	case typ == "UInt8" || typ == "Int8" || strings.HasPrefix(typ, "Enum8("):
		return 1
	case typ == "UInt16" || typ == "Int16" || typ == "Date" || strings.HasPrefix(typ, "Enum16("):
		return 2
	case typ == "UInt32" || typ == "Int32" || typ == "Float32" || typ == "IPv4" || strings.HasPrefix(typ, "DateTime") && !strings.HasPrefix(typ, "DateTime64"):
		return 4
	case typ == "UInt64" || typ == "Int64" || typ == "Float64" || strings.HasPrefix(typ, "DateTime64"):
		return 8
	case typ == "IPv6" || typ == "UUID":
		return 16
	case strings.HasPrefix(typ, "FixedString("):
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(typ, "FixedString("), ")"))
		return n
	}
	return 0
}
