package snmp

import (
	"fmt"
	"log/slog"
)

// Secret holds a community or a passphrase. Every way of printing it
// (fmt verbs, JSON, text, slog) shows "<redacted>" instead; only Reveal gives
// the value, to hand it to the SNMP library. The value sits behind a pointer
// so that even fmt's reflection over a struct holding a Secret (which does not
// call the methods of unexported fields) prints an address, not the value.
type Secret struct{ p *string }

const redacted = "<redacted>"

// NewSecret wraps s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{&s}
}

// Reveal returns the secret value.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil }

func (s Secret) String() string { return redacted }

// GoString redacts %#v.
func (s Secret) GoString() string { return redacted }

// Format redacts every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON redacts JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue redacts slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Formatter  = Secret{}
	_ slog.LogValuer = Secret{}
)
