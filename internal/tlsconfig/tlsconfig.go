// Package tlsconfig is the `tls` block of the stages that connect to
// servers (Kafka brokers, ClickHouse servers): one spec, one decoder, one
// builder of the crypto/tls configuration, so that the block means the
// same in every stage.
//
//	tls {
//	  ca_file   = "ca.pem"        # CAs to trust instead of the system's
//	  cert_file = "client.pem"    # client certificate (mutual TLS), with key_file
//	  key_file  = "client.key"
//	}
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
)

// Block returns the spec of the `tls` block; description says what it
// secures ("TLS to the brokers").
func Block(description string) dsl.BlockSpec {
	return dsl.BlockSpec{Type: "tls", Max: 1, Description: description, Attrs: []dsl.Attr{
		{Name: "enabled", Type: dsl.TypeBool, Default: true, Description: "use TLS"},
		{Name: "ca_file", Type: dsl.TypeString, Default: "", Description: "PEM file of the CAs to trust instead of the system's"},
		{Name: "cert_file", Type: dsl.TypeString, Default: "", Description: "PEM client certificate, for mutual TLS (with key_file)"},
		{Name: "key_file", Type: dsl.TypeString, Default: "", Description: "PEM key of the client certificate"},
		{Name: "server_name", Type: dsl.TypeString, Default: "", Description: "name to verify the server certificate against, if not the host connected to"},
		{Name: "insecure_skip_verify", Type: dsl.TypeBool, Default: false, Description: "do not verify the server certificate (tests only)"},
	}}
}

// Config is a decoded `tls` block. The zero value is TLS off.
type Config struct {
	Enabled                   bool
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
}

// Decode reads the `tls` block of a stage's configuration (TLS off when
// there is none).
func Decode(cfg *dsl.Config) (Config, hcl.Diagnostics) {
	blocks := cfg.Blocks("tls")
	if len(blocks) == 0 {
		return Config{}, nil
	}
	t := blocks[0]
	c := Config{
		Enabled:            t.Bool("enabled"),
		CAFile:             t.String("ca_file"),
		CertFile:           t.String("cert_file"),
		KeyFile:            t.String("key_file"),
		ServerName:         t.String("server_name"),
		InsecureSkipVerify: t.Bool("insecure_skip_verify"),
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return c, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incomplete client certificate",
			Detail: "cert_file and key_file go together.", Subject: t.DefRange.Ptr()}}
	}
	return c, nil
}

// Build reads the certificate files and returns the TLS configuration, nil
// when TLS is off. what names the connection in errors ("kafka").
func (c Config) Build(what string) (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // the user asked for it
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s tls: read ca_file: %w", what, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s tls: ca_file %s holds no PEM certificate", what, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s tls: load the client certificate: %w", what, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
