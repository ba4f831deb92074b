package duckdb

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// dialectRecords are the rows the dialect is checked against.
func dialectRecords() []flow.Record {
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	addrs := []string{"192.0.2.1", "192.0.2.200", "198.51.100.7", "2001:db8::1", "2001:db8:0:1::42", "::"}
	names := []string{"Paris-1", "paris-2", "london", "", "New_York", "a%b"}
	var out []flow.Record
	for i := range addrs {
		out = append(out, flow.Record{
			TimeReceived:    base.Add(time.Duration(i) * 97 * time.Second),
			SamplingRate:    uint64(i + 1),
			ExporterAddress: netip.MustParseAddr(addrs[(i+1)%len(addrs)]),
			ExporterName:    names[i],
			SrcAddr:         netip.MustParseAddr(addrs[i]),
			DstAddr:         netip.MustParseAddr(addrs[len(addrs)-1-i]),
			SrcMAC:          0x0200_5e10_0000 + uint64(i),
			SrcAS:           uint32(64500 + i),
			InIfBoundary:    flow.Boundary(i % 3),
			SrcPort:         uint16(1000 + i),
			Bytes:           uint64(1000 * (i + 1)),
		})
	}
	return out
}

func like(pattern, s string, fold bool) bool {
	var re strings.Builder
	re.WriteString("^")
	if fold {
		re.WriteString("(?is)")
	} else {
		re.WriteString("(?s)")
	}
	for _, r := range pattern {
		switch r {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

func cmpOp(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	panic(op)
}

func TestDialect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "")
	provision(t, s)
	recs := dialectRecords()
	in := make(chan *flow.Batch, 1)
	b := flow.NewBatch()
	b.Records = append(b.Records, recs...)
	var released atomic.Bool
	b.OnDone(func() { released.Store(true) })
	in <- b
	close(in)
	ctx := context.Background()
	if err := s.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	d := s.Dialect()
	count := func(t *testing.T, cond string, args []any) int {
		t.Helper()
		var n int
		if err := s.mustDB(t).QueryRowContext(ctx, "SELECT count(*) FROM flows WHERE "+cond, args...).Scan(&n); err != nil {
			t.Fatalf("%s %v: %v", cond, args, err)
		}
		return n
	}
	ops := []string{"=", "!=", "<", "<=", ">", ">="}
	col := func(name string) flow.Column { c, _ := flow.ColumnByName(name); return c }

	t.Run("Compare", func(t *testing.T) {
		type tc struct {
			column string
			op     string
			v      any
			match  func(r *flow.Record) bool
		}
		var cases []tc
		for _, op := range ops {
			for _, v := range []uint64{64500, 64502, 64505, 70000} {
				cases = append(cases, tc{"SrcAS", op, v, func(r *flow.Record) bool { return cmpOp(op, cmpU(uint64(r.SrcAS), v)) }})
			}
			for _, v := range []uint64{0x0200_5e10_0003} {
				cases = append(cases, tc{"SrcMAC", op, v, func(r *flow.Record) bool { return cmpOp(op, cmpU(r.SrcMAC, v)) }})
			}
			for _, v := range []string{"london", "paris-2", "", "zzz"} {
				cases = append(cases, tc{"ExporterName", op, v, func(r *flow.Record) bool { return cmpOp(op, strings.Compare(r.ExporterName, v)) }})
			}
			for _, v := range []string{"192.0.2.200", "2001:db8::1", "::", "10.0.0.1"} {
				a := netip.MustParseAddr(v)
				cases = append(cases, tc{"SrcAddr", op, a, func(r *flow.Record) bool {
					x, y := r.SrcAddr.As16(), a.As16()
					return cmpOp(op, bytes.Compare(x[:], y[:]))
				}})
			}
			tm := time.Date(2026, 11, 30, 10, 3, 14, 0, time.UTC)
			cases = append(cases, tc{"TimeReceived", op, tm, func(r *flow.Record) bool { return cmpOp(op, r.TimeReceived.Compare(tm)) }})
		}
		for _, op := range []string{"=", "!="} {
			for _, v := range []flow.Boundary{flow.BoundaryUndefined, flow.BoundaryExternal, flow.BoundaryInternal} {
				cases = append(cases, tc{"InIfBoundary", op, v, func(r *flow.Record) bool { return (r.InIfBoundary == v) == (op == "=") }})
			}
		}
		for _, op := range []string{"LIKE", "ILIKE", "UNLIKE", "IUNLIKE"} {
			for _, v := range []string{"paris%", "%-_", "a\\%b", "%O%", "london"} {
				fold := op == "ILIKE" || op == "IUNLIKE"
				neg := op == "UNLIKE" || op == "IUNLIKE"
				cases = append(cases, tc{"ExporterName", op, v, func(r *flow.Record) bool {
					p := v
					if p == "a\\%b" {
						return (r.ExporterName == "a%b") != neg
					}
					return like(p, r.ExporterName, fold) != neg
				}})
			}
		}
		for _, p := range []string{"192.0.2.0/24", "192.0.2.128/25", "0.0.0.0/0", "2001:db8::/32", "2001:db8:0:1::/64", "::/0", "198.51.100.7/32"} {
			pfx := netip.MustParsePrefix(p)
			cases = append(cases, tc{"SrcAddr", "<<", pfx, func(r *flow.Record) bool {
				if pfx.Addr().Is4() {
					return r.SrcAddr.Is4() && pfx.Contains(r.SrcAddr)
				}
				// IPv6 prefixes cover IPv4 addresses as IPv4-mapped ones (::/0 holds all).
				return pfx.Contains(netip.AddrFrom16(r.SrcAddr.As16()))
			}})
		}
		for _, c := range cases {
			name := fmt.Sprintf("%s %s %v", c.column, c.op, c.v)
			sql, args, err := d.Compare(col(c.column), c.op, c.v)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			want := 0
			for i := range recs {
				if c.match(&recs[i]) {
					want++
				}
			}
			if got := count(t, sql, args); got != want {
				t.Errorf("%s: %d rows (%s %v), want %d", name, got, sql, args, want)
			}
		}
		for _, bad := range []struct {
			column, op string
			v          any
		}{{"SrcAS", "LIKE", uint64(1)}, {"SrcAS", "=", "x"}, {"SrcAddr", "<<", netip.MustParseAddr("::1")}, {"InIfBoundary", "<", flow.BoundaryExternal}, {"ExporterName", "<<", "x"}} {
			if _, _, err := d.Compare(col(bad.column), bad.op, bad.v); err == nil {
				t.Errorf("%s %s %v: no error", bad.column, bad.op, bad.v)
			}
		}
	})

	t.Run("Dimension", func(t *testing.T) {
		for _, r := range recs {
			for _, c := range []struct {
				column   string
				truncate int
				want     string
			}{
				{"SrcAS", 0, fmt.Sprint(r.SrcAS)},
				{"ExporterName", 0, r.ExporterName},
				{"InIfBoundary", 0, r.InIfBoundary.String()},
				{"SrcMAC", 0, fmt.Sprint(r.SrcMAC)},
				{"TimeReceived", 0, r.TimeReceived.Format("2006-01-02T15:04:05.000000Z")},
				{"SrcAddr", 0, r.SrcAddr.String()},
				{"SrcAddr", 24, truncated(r.SrcAddr, 24)},
				{"SrcAddr", 32, truncated(r.SrcAddr, 32)},
				{"SrcAddr", 48, truncated(r.SrcAddr, 48)},
				{"SrcAddr", 1, truncated(r.SrcAddr, 1)},
				{"DstAddr", 64, truncated(r.DstAddr, 64)},
				{"ExporterAddress", 0, r.ExporterAddress.String()},
			} {
				sql, args := d.Dimension(col(c.column), c.truncate)
				var got string
				if err := s.mustDB(t).QueryRowContext(ctx, fmt.Sprintf(`SELECT %s FROM flows WHERE "SrcPort" = %d`, sql, r.SrcPort), args...).Scan(&got); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				if col(c.column).Kind == flow.KindAddr {
					a, err := netip.ParseAddr(got)
					if err != nil {
						t.Errorf("%s/%d: %q is not an address", c.column, c.truncate, got)
						continue
					}
					got = a.Unmap().String()
				}
				if got != c.want {
					t.Errorf("%s/%d of %s: %q, want %q", c.column, c.truncate, r.SrcAddr, got, c.want)
				}
			}
		}
	})

	t.Run("Bucket", func(t *testing.T) {
		for _, step := range []time.Duration{time.Second, time.Minute, 5 * time.Minute, time.Hour, 24 * time.Hour} {
			sql, args := d.Bucket(step)
			for _, r := range recs {
				var got int64
				if err := s.mustDB(t).QueryRowContext(ctx, fmt.Sprintf(`SELECT %s FROM flows WHERE "SrcPort" = %d`, sql, r.SrcPort), args...).Scan(&got); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				secs := int64(step / time.Second)
				if want := r.TimeReceived.Unix() / secs * secs; got != want {
					t.Errorf("bucket %s of %s: %d, want %d", step, r.TimeReceived, got, want)
				}
			}
		}
	})

	t.Run("TimeRange", func(t *testing.T) {
		start, end := recs[1].TimeReceived, recs[4].TimeReceived
		sql, args := d.TimeRange(start, end)
		if got := count(t, sql, args); got != 3 {
			t.Errorf("%d rows in [%s, %s), want 3", got, start, end)
		}
	})

	t.Run("Float", func(t *testing.T) {
		var f float64
		if err := s.mustDB(t).QueryRowContext(ctx, "SELECT "+d.Float(`SUM("Bytes" * "SamplingRate")`)+" / 7 FROM flows").Scan(&f); err != nil {
			t.Fatal(err)
		}
		var want uint64
		for _, r := range recs {
			want += r.Bytes * r.SamplingRate
		}
		if f != float64(want)/7 {
			t.Errorf("float %v, want %v", f, float64(want)/7)
		}
	})
	if !released.Load() {
		t.Error("batch not released")
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func truncated(a netip.Addr, bits int) string {
	if a.Is4() {
		bits = min(bits, 32)
	}
	return netip.PrefixFrom(a, bits).Masked().Addr().String()
}

func (s *Sink) mustDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := s.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return db
}
