package dsl

import (
	"fmt"
	"math/big"
	"net/netip"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Functions returns the functions available in pipeline files: go-cty's
// standard library, try/can, and network and matching helpers. None of them
// reads files or the environment.
func Functions() map[string]function.Function {
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "csvdecode": stdlib.CSVDecodeFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"floor": stdlib.FloorFunc, "format": stdlib.FormatFunc, "formatdate": stdlib.FormatDateFunc,
		"formatlist": stdlib.FormatListFunc, "indent": stdlib.IndentFunc, "index": stdlib.IndexFunc,
		"join": stdlib.JoinFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "log": stdlib.LogFunc,
		"lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
		"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"pow": stdlib.PowFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc,
		"setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc,
		"signum": stdlib.SignumFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc,
		"split": stdlib.SplitFunc, "strlen": stdlib.StrlenFunc, "substr": stdlib.SubstrFunc,
		"title": stdlib.TitleFunc, "trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,

		"cidrcontains": CIDRContainsFunc,
		"cidrhost":     CIDRHostFunc,
		"cidrnetmask":  CIDRNetmaskFunc,
		"cidrsubnet":   CIDRSubnetFunc,
		"ipversion":    IPVersionFunc,
		"isprivate":    IsPrivateFunc,
		"regexcapture": RegexCaptureFunc,
		"imatch":       IMatchFunc,
		"iequal":       IEqualFunc,
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: %w", s, err)
	}
	return p, nil
}

// CIDRContainsFunc is cidrcontains(prefix, address_or_prefix): whether the
// prefix holds the address (or the whole second prefix).
var CIDRContainsFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "address", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.Bool), function.NewArgError(0, err)
		}
		s := args[1].AsString()
		if strings.Contains(s, "/") {
			q, err := parsePrefix(s)
			if err != nil {
				return cty.UnknownVal(cty.Bool), function.NewArgError(1, err)
			}
			return cty.BoolVal(q.Bits() >= p.Bits() && p.Contains(q.Addr())), nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cty.UnknownVal(cty.Bool), function.NewArgError(1, fmt.Errorf("invalid address %q", s))
		}
		return cty.BoolVal(p.Contains(a.Unmap())), nil
	},
})

// CIDRHostFunc is cidrhost(prefix, n): the n-th address of the prefix.
var CIDRHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		n, _ := args[1].AsBigFloat().Int(nil)
		base := new(big.Int).SetBytes(p.Masked().Addr().AsSlice())
		size := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
		if n.Sign() < 0 {
			n.Add(n, size)
		}
		if n.Sign() < 0 || n.Cmp(size) >= 0 {
			return cty.UnknownVal(cty.String), function.NewArgError(1, fmt.Errorf("host number %s does not fit in %s", args[1].AsBigFloat().Text('f', 0), p))
		}
		a := bigToAddr(base.Add(base, n), p.Addr().BitLen())
		return cty.StringVal(a.String()), nil
	},
})

// CIDRSubnetFunc is cidrsubnet(prefix, newbits, netnum).
var CIDRSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "newbits", Type: cty.Number}, {Name: "netnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		nb, _ := args[1].AsBigFloat().Int64()
		bits := p.Bits() + int(nb)
		if nb < 0 || bits > p.Addr().BitLen() {
			return cty.UnknownVal(cty.String), function.NewArgError(1, fmt.Errorf("cannot add %d bits to %s", nb, p))
		}
		num, _ := args[2].AsBigFloat().Int(nil)
		if num.Sign() < 0 || num.BitLen() > int(nb) {
			return cty.UnknownVal(cty.String), function.NewArgError(2, fmt.Errorf("network number does not fit in %d bits", nb))
		}
		base := new(big.Int).SetBytes(p.Masked().Addr().AsSlice())
		base.Add(base, num.Lsh(num, uint(p.Addr().BitLen()-bits)))
		return cty.StringVal(netip.PrefixFrom(bigToAddr(base, p.Addr().BitLen()), bits).String()), nil
	},
})

// CIDRNetmaskFunc is cidrnetmask(prefix): the dotted mask of an IPv4 prefix.
var CIDRNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil || !p.Addr().Is4() {
			return cty.UnknownVal(cty.String), function.NewArgError(0, fmt.Errorf("an IPv4 CIDR is required"))
		}
		m := ^uint32(0) << (32 - p.Bits())
		if p.Bits() == 0 {
			m = 0
		}
		return cty.StringVal(netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()), nil
	},
})

// IPVersionFunc is ipversion(address): 4 or 6.
var IPVersionFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "address", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		a, err := netip.ParseAddr(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.Number), function.NewArgError(0, fmt.Errorf("invalid address %q", args[0].AsString()))
		}
		if a.Unmap().Is4() {
			return cty.NumberIntVal(4), nil
		}
		return cty.NumberIntVal(6), nil
	},
})

// IsPrivateFunc is isprivate(address): RFC 1918, RFC 4193, loopback or link-local.
var IsPrivateFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "address", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		a, err := netip.ParseAddr(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.Bool), function.NewArgError(0, fmt.Errorf("invalid address %q", args[0].AsString()))
		}
		a = a.Unmap()
		return cty.BoolVal(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()), nil
	},
})

var regexCache sync.Map // pattern -> *regexp.Regexp

func compileCached(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	regexCache.Store(pattern, re)
	return re, nil
}

// RegexCaptureFunc is regexcapture(pattern, string, group): the text of one
// capture group (by number or name), or "" when the pattern does not match.
// Unlike regex(), a non-match is not an error.
var RegexCaptureFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "pattern", Type: cty.String}, {Name: "string", Type: cty.String}, {Name: "group", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		re, err := compileCached(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, fmt.Errorf("invalid regular expression: %w", err))
		}
		m := re.FindStringSubmatch(args[1].AsString())
		idx := -1
		switch g := args[2]; g.Type() {
		case cty.Number:
			n, _ := g.AsBigFloat().Int64()
			idx = int(n)
		case cty.String:
			idx = re.SubexpIndex(g.AsString())
		}
		if idx < 0 || idx > re.NumSubexp() {
			return cty.UnknownVal(cty.String), function.NewArgError(2, fmt.Errorf("no such capture group"))
		}
		if m == nil {
			return cty.StringVal(""), nil
		}
		return cty.StringVal(m[idx]), nil
	},
})

// IMatchFunc is imatch(pattern, string): a case-insensitive regular
// expression match, true or false.
var IMatchFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "pattern", Type: cty.String}, {Name: "string", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		re, err := compileCached("(?i)" + args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.Bool), function.NewArgError(0, fmt.Errorf("invalid regular expression: %w", err))
		}
		return cty.BoolVal(re.MatchString(args[1].AsString())), nil
	},
})

// IEqualFunc is iequal(a, b): case-insensitive string equality.
var IEqualFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "a", Type: cty.String}, {Name: "b", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.BoolVal(strings.EqualFold(args[0].AsString(), args[1].AsString())), nil
	},
})

func bigToAddr(n *big.Int, bits int) netip.Addr {
	b := n.Bytes()
	size := bits / 8
	buf := make([]byte, size)
	if len(b) > size {
		b = b[len(b)-size:]
	}
	copy(buf[size-len(b):], b)
	a, _ := netip.AddrFromSlice(buf)
	return a
}
