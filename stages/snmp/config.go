package snmp

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/flowengine/flowengine/dsl"
)

// Spec is the configuration of enricher "snmp".
var Spec = &dsl.Spec{
	Description: "Polls each exporter over SNMP (v2c or v3) for its sysName and the name, description " +
		"(ifAlias, else ifDescr) and speed of its interfaces, and fills ExporterName, In/OutIfName, " +
		"In/OutIfDescription and In/OutIfSpeed. Fields already set (by enricher \"metadata\", say) are " +
		"never overwritten. Polls run in the background: a flow of an unknown exporter or interface " +
		"waits at most `wait` for a poll in flight, then passes unenriched (counted).",
	Attrs: []Attr{
		{Name: "credentials", Type: dsl.TypeAny, Description: "map of CIDR prefix to credentials object: " +
			`{ version = "2c", community = "..." } or { version = "3", user, auth_protocol (MD5, SHA, SHA224, SHA256, SHA384, SHA512), ` +
			`auth_passphrase, priv_protocol (DES, AES, AES192, AES256, AES192C, AES256C), priv_passphrase, security_level, context }. ` +
			`The most specific prefix matching the exporter wins. Default: v2c community "public" for every exporter.`},
		{Name: "agents", Type: dsl.TypeStringMap, Default: map[string]string{}, Description: "map of exporter address to the address (optionally address:port) " +
			"of its SNMP agent, when the management address differs from the flow source address"},
		{Name: "port", Type: dsl.TypeInt, Default: int64(161), Description: "UDP port of the SNMP agents"},
		{Name: "timeout", Type: dsl.TypeDuration, Default: time.Second, Description: "timeout of one SNMP request"},
		{Name: "retries", Type: dsl.TypeInt, Default: int64(1), Description: "retries of a request that timed out"},
		{Name: "max_concurrent_polls", Type: dsl.TypeInt, Default: int64(16), Description: "exporters polled at the same time"},
		{Name: "max_repetitions", Type: dsl.TypeInt, Default: int64(20), Description: "GETBULK max-repetitions (rows per request)"},
		{Name: "cache_ttl", Type: dsl.TypeDuration, Default: time.Hour, Description: "an exporter not seen in flows for this long is forgotten"},
		{Name: "refresh", Type: dsl.TypeDuration, Default: 30 * time.Minute, Description: "known exporters are polled again in the background this often"},
		{Name: "negative_ttl", Type: dsl.TypeDuration, Default: time.Minute, Description: "an unreachable agent is not polled again before this, " +
			"and an unknown interface of a known exporter triggers at most one poll per this period"},
		{Name: "wait", Type: dsl.TypeDuration, Default: 50 * time.Millisecond, Description: "how long a batch with flows of an unknown exporter or " +
			"interface waits for a poll in flight before passing them unenriched"},
		{Name: "state_file", Type: dsl.TypeString, Description: "file the cache is persisted to across restarts; " +
			`default "snmp-<name>.json" in the state directory when there is one; "" disables persistence`},
	},
}

// Attr is a shorthand for dsl.Attr.
type Attr = dsl.Attr

// credential is how to talk to the agents of one prefix.
type credential struct {
	prefix    netip.Prefix
	version   gosnmp.SnmpVersion
	community Secret
	user      string
	authProto gosnmp.SnmpV3AuthProtocol
	authPass  Secret
	privProto gosnmp.SnmpV3PrivProtocol
	privPass  Secret
	level     gosnmp.SnmpV3MsgFlags
	context   string
}

// credentials is sorted most specific prefix first.
type credentials []credential

func (cs credentials) lookup(a netip.Addr) (credential, bool) {
	a = a.Unmap()
	for _, c := range cs {
		if c.prefix.Contains(a) {
			return c, true
		}
	}
	return credential{}, false
}

var defaultCredentials = credentials{
	{prefix: netip.MustParsePrefix("0.0.0.0/0"), version: gosnmp.Version2c, community: NewSecret("public")},
	{prefix: netip.MustParsePrefix("::/0"), version: gosnmp.Version2c, community: NewSecret("public")},
}

var (
	authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224,
		"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512}
	privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{"DES": gosnmp.DES, "AES": gosnmp.AES, "AES192": gosnmp.AES192,
		"AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C}
	securityLevels = map[string]gosnmp.SnmpV3MsgFlags{"noAuthNoPriv": gosnmp.NoAuthNoPriv, "authNoPriv": gosnmp.AuthNoPriv,
		"authPriv": gosnmp.AuthPriv}
	credentialKeys = []string{"version", "community", "user", "auth_protocol", "auth_passphrase", "priv_protocol",
		"priv_passphrase", "security_level", "context"}
)

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseCredentials reads the credentials attribute. Diagnostics never quote
// a secret value.
func parseCredentials(v cty.Value, rng *hcl.Range) (credentials, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "credentials"`,
			Detail: fmt.Sprintf(format, args...), Subject: rng})
	}
	if v == cty.NilVal || v.IsNull() {
		return defaultCredentials, nil
	}
	t := v.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		bad("A map of CIDR prefix to credentials object is required, like { \"0.0.0.0/0\" = { community = \"public\" } }.")
		return nil, diags
	}
	var out credentials
	seen := map[netip.Prefix]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		key := k.AsString()
		prefix, err := netip.ParsePrefix(key)
		if err != nil {
			a, err2 := netip.ParseAddr(key)
			if err2 != nil {
				bad("%q is not a CIDR prefix like \"192.0.2.0/24\" or an address.", key)
				continue
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		if prefix.Addr().Is4In6() {
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		prefix = prefix.Masked()
		if prev, dup := seen[prefix]; dup {
			bad("%q and %q are the same prefix.", prev, key)
			continue
		}
		seen[prefix] = key
		c, d := parseCredential(key, ev, rng)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		c.prefix = prefix
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].prefix.Bits() > out[j].prefix.Bits() })
	return out, diags
}

func parseCredential(key string, v cty.Value, rng *hcl.Range) (credential, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "credentials"`,
			Detail: fmt.Sprintf("Credentials for %q: ", key) + fmt.Sprintf(format, args...), Subject: rng})
	}
	if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		bad("an object like { version = \"2c\", community = \"public\" } is required.")
		return credential{}, diags
	}
	fields := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		name := k.AsString()
		if !contains(credentialKeys, name) {
			msg := fmt.Sprintf("unknown field %q.", name)
			if s := dsl.DidYouMean(name, credentialKeys); s != "" {
				msg += fmt.Sprintf(" Did you mean %q?", s)
			}
			bad("%s", msg)
			continue
		}
		if ev.IsNull() {
			continue
		}
		sv, err := convert.Convert(ev, cty.String)
		if err != nil || !sv.IsKnown() {
			bad("field %q must be a string.", name)
			continue
		}
		fields[name] = sv.AsString()
	}
	if diags.HasErrors() {
		return credential{}, diags
	}
	c := credential{context: fields["context"]}
	switch fields["version"] {
	case "", "2c", "2":
		c.version = gosnmp.Version2c
		c.community = NewSecret(fields["community"])
		if _, ok := fields["community"]; !ok {
			c.community = NewSecret("public")
		}
		for _, f := range []string{"user", "auth_protocol", "auth_passphrase", "priv_protocol", "priv_passphrase", "security_level"} {
			if _, ok := fields[f]; ok {
				bad("field %q applies to SNMP v3 only; set version = \"3\".", f)
			}
		}
		return c, diags
	case "3":
		c.version = gosnmp.Version3
	default:
		bad("version %q is not supported; use \"2c\" or \"3\".", fields["version"])
		return c, diags
	}
	if _, ok := fields["community"]; ok {
		bad("field \"community\" applies to SNMP v2c only.")
	}
	c.user = fields["user"]
	if c.user == "" {
		bad("SNMP v3 needs a \"user\".")
	}
	c.level = gosnmp.NoAuthNoPriv
	c.authProto, c.privProto = gosnmp.NoAuth, gosnmp.NoPriv
	if p, ok := fields["auth_protocol"]; ok {
		ap, found := authProtocols[strings.ToUpper(p)]
		if !found {
			bad("auth_protocol %q is not one of %s.", p, strings.Join(keys(authProtocols), ", "))
		}
		c.authProto, c.level = ap, gosnmp.AuthNoPriv
		c.authPass = NewSecret(fields["auth_passphrase"])
		if n := len(fields["auth_passphrase"]); n < 8 {
			bad("auth_passphrase must be at least 8 characters (it has %d).", n)
		}
	} else if _, ok := fields["auth_passphrase"]; ok {
		bad("auth_passphrase is set without auth_protocol.")
	}
	if p, ok := fields["priv_protocol"]; ok {
		pp, found := privProtocols[strings.ToUpper(p)]
		if !found {
			bad("priv_protocol %q is not one of %s.", p, strings.Join(keys(privProtocols), ", "))
		}
		if c.level != gosnmp.AuthNoPriv {
			bad("priv_protocol needs auth_protocol (SNMP v3 has no privacy without authentication).")
		}
		c.privProto, c.level = pp, gosnmp.AuthPriv
		c.privPass = NewSecret(fields["priv_passphrase"])
		if n := len(fields["priv_passphrase"]); n < 8 {
			bad("priv_passphrase must be at least 8 characters (it has %d).", n)
		}
	} else if _, ok := fields["priv_passphrase"]; ok {
		bad("priv_passphrase is set without priv_protocol.")
	}
	if l, ok := fields["security_level"]; ok {
		lv, found := securityLevels[l]
		if !found {
			bad("security_level %q is not one of noAuthNoPriv, authNoPriv, authPriv.", l)
		} else if lv > c.level {
			bad("security_level %q needs the matching auth_protocol/priv_protocol.", l)
		} else {
			c.level = lv
		}
	}
	return c, diags
}

// parseAgents reads the agents attribute: exporter address → agent address[:port].
func parseAgents(m map[string]string, defPort uint16, rng *hcl.Range) (map[netip.Addr]netip.AddrPort, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := map[netip.Addr]netip.AddrPort{}
	for _, k := range keys(m) {
		exp, err := netip.ParseAddr(k)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "agents"`,
				Detail: fmt.Sprintf("%q is not an exporter address.", k), Subject: rng})
			continue
		}
		v := m[k]
		ap, err := netip.ParseAddrPort(v)
		if err != nil {
			a, err2 := netip.ParseAddr(v)
			if err2 != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "agents"`,
					Detail: fmt.Sprintf("Agent of %q: %q is not an address or address:port.", k, v), Subject: rng})
				continue
			}
			ap = netip.AddrPortFrom(a, defPort)
		}
		out[exp.Unmap()] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return out, diags
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
