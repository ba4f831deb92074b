package flow

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAccessors checks every generated accessor and batch reader against
// the Record field of the same name, read by reflection.
func TestAccessors(t *testing.T) {
	if len(ColumnAccessors) != len(Columns) {
		t.Fatalf("%d accessors for %d columns: run go generate ./flow", len(ColumnAccessors), len(Columns))
	}
	recs := make([]Record, 3)
	for i, c := range Columns {
		acc := ColumnAccessors[i]
		if j, ok := ColumnIndex(c.Name); !ok || j != i {
			t.Errorf("ColumnIndex(%s) = %d, %v", c.Name, j, ok)
		}
		for n := range recs {
			r := &recs[n]
			v := uint64(i*7 + n + 1)
			var want any
			switch c.Kind {
			case KindTime:
				want = time.Unix(int64(v)*1000, 0)
				acc.SetTime(r, want.(time.Time))
			case KindString:
				want = c.Name + strings.Repeat("x", n)
				acc.SetString(r, want.(string))
			case KindAddr:
				want = netip.AddrFrom4([4]byte{10, byte(i), byte(n), 1})
				acc.SetAddr(r, want.(netip.Addr))
			case KindASPath, KindCommunities:
				want = MakeUint32s([]uint32{uint32(v), uint32(n)})
				acc.SetUint32s(r, want.(Uint32s))
			case KindLargeCommunities:
				want = MakeLargeCommunities([]LargeCommunity{{uint32(v), uint32(n), 7}})
				acc.SetLargeCommunities(r, want.(LargeCommunities))
			default:
				acc.SetUint(r, v%3) // fits every width, and Boundary
				want = v % 3
			}
			f := reflect.ValueOf(r).Elem().FieldByName(c.Name)
			var got any
			switch c.Kind {
			case KindTime:
				got = acc.Time(r)
			case KindString:
				got = acc.String(r)
			case KindAddr:
				got = acc.Addr(r)
			case KindASPath, KindCommunities:
				got = acc.Uint32s(r)
			case KindLargeCommunities:
				got = acc.LargeCommunities(r)
			default:
				got = acc.Uint(r)
				if f.Uint() != want {
					t.Errorf("%s: field holds %d, want %d", c.Name, f.Uint(), want)
				}
			}
			if c.Kind != KindUint && c.Kind != KindMAC && c.Kind != KindBoundary && !reflect.DeepEqual(f.Interface(), want) {
				t.Errorf("%s: field holds %v, want %v", c.Name, f.Interface(), want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: accessor reads %v, want %v", c.Name, got, want)
			}
		}
	}

	// Each batch reader appends the column of every record, after what dst holds.
	for i, c := range Columns {
		acc := ColumnAccessors[i]
		var got, want []any
		for n := range recs {
			switch c.Kind {
			case KindTime:
				want = append(want, acc.Time(&recs[n]))
			case KindString:
				want = append(want, acc.String(&recs[n]))
			case KindAddr:
				want = append(want, acc.Addr(&recs[n]))
			case KindASPath, KindCommunities:
				want = append(want, acc.Uint32s(&recs[n]))
			case KindLargeCommunities:
				want = append(want, acc.LargeCommunities(&recs[n]))
			default:
				want = append(want, acc.Uint(&recs[n]))
			}
		}
		collect := func(s any) {
			v := reflect.ValueOf(s)
			if v.Len() != len(recs)+1 {
				t.Errorf("%s: reader returned %d values, want %d", c.Name, v.Len(), len(recs)+1)
				return
			}
			for k := 1; k < v.Len(); k++ {
				e := v.Index(k)
				switch e.Kind() {
				case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
					got = append(got, e.Uint())
				default:
					got = append(got, e.Interface())
				}
			}
		}
		switch c.Kind {
		case KindTime:
			collect(AppendTimes(make([]time.Time, 1), recs, i))
		case KindString:
			collect(AppendStrings(make([]string, 1), recs, i))
		case KindAddr:
			collect(AppendAddrs(make([]netip.Addr, 1), recs, i))
			b16 := AppendAddrs16(nil, recs, i)
			for n := range recs {
				if want := ColumnAccessors[i].Addr(&recs[n]).As16(); b16[n] != want {
					t.Errorf("%s: AppendAddrs16 = %v, want %v", c.Name, b16[n], want)
				}
			}
		case KindASPath, KindCommunities:
			collect(AppendUint32Lists(make([]Uint32s, 1), recs, i))
		case KindLargeCommunities:
			collect(AppendLargeCommunityLists(make([]LargeCommunities, 1), recs, i))
		default:
			switch c.Bits {
			case 8:
				collect(AppendUint8s(make([]uint8, 1), recs, i))
			case 16:
				collect(AppendUint16s(make([]uint16, 1), recs, i))
			case 32:
				collect(AppendUint32s(make([]uint32, 1), recs, i))
			default:
				collect(AppendUint64s(make([]uint64, 1), recs, i))
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: batch reader gives %v, want %v", c.Name, got, want)
		}
	}
}

// A batch reader asked for a column of another kind panics, naming it.
func TestAppendWrongColumn(t *testing.T) {
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "SrcAddr") {
			t.Errorf("panic %q, want one naming SrcAddr", msg)
		}
	}()
	AppendUint8s(nil, make([]Record, 1), ColSrcAddr)
}
