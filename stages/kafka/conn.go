// Package kafka is the Kafka stages of flowengine: `sink "kafka"` writes one
// protobuf message per flow (schema flowpb, topic flows-v<N>, keyed by
// exporter address) and provisions its topic; `source "kafka"` reads them in a
// consumer group and commits offsets only once every sink has released the
// batches holding them (at-least-once).
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

// SASL mechanisms.
const (
	mechPlain  = "PLAIN"
	mechSHA256 = "SCRAM-SHA-256"
	mechSHA512 = "SCRAM-SHA-512"
)

var connAttrs = []dsl.Attr{
	{Name: "brokers", Type: dsl.TypeStringList, Required: true, Description: "Kafka bootstrap brokers, host:port"},
	{Name: "client_id", Type: dsl.TypeString, Default: "flowengine", Description: "client id sent to the brokers"},
}

var connBlocks = []dsl.BlockSpec{
	{Type: "tls", Max: 1, Description: "TLS to the brokers", Attrs: []dsl.Attr{
		{Name: "enabled", Type: dsl.TypeBool, Default: true, Description: "use TLS"},
		{Name: "ca_file", Type: dsl.TypeString, Description: "PEM file of the CAs to trust (default: the system's)"},
		{Name: "cert_file", Type: dsl.TypeString, Description: "PEM client certificate, for mutual TLS"},
		{Name: "key_file", Type: dsl.TypeString, Description: "PEM key of the client certificate"},
		{Name: "insecure_skip_verify", Type: dsl.TypeBool, Default: false, Description: "do not verify the brokers' certificates (testing only)"},
	}},
	{Type: "sasl", Max: 1, Description: "SASL authentication", Attrs: []dsl.Attr{
		{Name: "mechanism", Type: dsl.TypeString, Default: mechPlain, OneOf: []string{mechPlain, mechSHA256, mechSHA512}, Description: "SASL mechanism"},
		{Name: "username", Type: dsl.TypeString, Required: true, Description: "SASL user"},
		{Name: "password", Type: dsl.TypeString, Required: true, Description: "SASL password (never logged)"},
	}},
}

// conn is how to reach and authenticate to a Kafka cluster.
type conn struct {
	brokers  []string
	clientID string

	tls                       bool
	caFile, certFile, keyFile string
	insecure                  bool

	mechanism          string
	username, password string
}

// String never shows the password.
func (c *conn) String() string {
	s := strings.Join(c.brokers, ",")
	if c.mechanism != "" {
		s += fmt.Sprintf(" (sasl %s as %s)", c.mechanism, c.username)
	}
	return s
}

func decodeConn(cfg *dsl.Config) (*conn, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	c := &conn{brokers: cfg.Strings("brokers"), clientID: cfg.String("client_id")}
	if len(c.brokers) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No Kafka broker",
			Detail: "brokers must name at least one host:port.", Subject: cfg.Range("brokers")})
	}
	for _, b := range c.brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid Kafka broker address",
				Detail: fmt.Sprintf("%q is not host:port: %v.", b, err), Subject: cfg.Range("brokers")})
		}
	}
	if blocks := cfg.Blocks("tls"); len(blocks) > 0 {
		t := blocks[0]
		c.tls = t.Bool("enabled")
		c.caFile, c.certFile, c.keyFile = t.String("ca_file"), t.String("cert_file"), t.String("key_file")
		c.insecure = t.Bool("insecure_skip_verify")
		if (c.certFile == "") != (c.keyFile == "") {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incomplete client certificate",
				Detail: "cert_file and key_file go together.", Subject: t.DefRange.Ptr()})
		}
	}
	if blocks := cfg.Blocks("sasl"); len(blocks) > 0 {
		s := blocks[0]
		c.mechanism, c.username, c.password = s.String("mechanism"), s.String("username"), s.String("password")
	}
	return c, diags
}

// tlsConfig reads the certificate files; nil when TLS is off.
func (c *conn) tlsConfig() (*tls.Config, error) {
	if !c.tls {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.insecure} //nolint:gosec // the user asked for it
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("read kafka ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka ca_file %s: no PEM certificate", c.caFile)
		}
		cfg.RootCAs = pool
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("load kafka client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (c *conn) saslMechanism() (sasl.Mechanism, error) {
	switch c.mechanism {
	case "":
		return nil, nil
	case mechPlain:
		return plain.Mechanism{Username: c.username, Password: c.password}, nil
	case mechSHA256:
		return scram.Mechanism(scram.SHA256, c.username, c.password)
	case mechSHA512:
		return scram.Mechanism(scram.SHA512, c.username, c.password)
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", c.mechanism)
}

// transport builds the kafka-go transport (producer and admin client).
func (c *conn) transport() (*kafka.Transport, error) {
	t, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	m, err := c.saslMechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{TLS: t, SASL: m, ClientID: c.clientID, DialTimeout: 5 * time.Second, MetadataTTL: 10 * time.Second}, nil
}

// dialer builds the kafka-go dialer (consumer).
func (c *conn) dialer() (*kafka.Dialer, error) {
	t, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	m, err := c.saslMechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: c.clientID, Timeout: 10 * time.Second, DualStack: true, TLS: t, SASLMechanism: m}, nil
}

// client returns an admin client.
func (c *conn) client() (*kafka.Client, error) {
	t, err := c.transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: t, Timeout: 10 * time.Second}, nil
}

// ErrAuth is wrapped by the errors of failed authentication: a configuration
// problem that retrying will not fix.
var ErrAuth = engine.Permanent(errors.New("kafka authentication failed"))

// isAuthError reports whether err is a SASL or TLS failure.
func isAuthError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	return errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) ||
		errors.Is(err, kafka.IllegalSASLState) || errors.Is(err, kafka.TopicAuthorizationFailed) ||
		errors.Is(err, kafka.ClusterAuthorizationFailed) || errors.As(err, &certErr) || errors.As(err, &unknownAuth)
}

// check connects once and asks for the topic's metadata. Authentication
// failures are returned wrapping ErrAuth; an unreachable cluster is returned
// as is (callers decide whether to wait for it).
func (c *conn) check(ctx context.Context, topic string) (*kafka.Topic, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A connection of the dialer reports SASL failures as such (the
	// transport sees a closed connection).
	d, err := c.dialer()
	if err != nil {
		return nil, err
	}
	var dialErr error
	for _, b := range c.brokers {
		cn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			cn.Close()
			dialErr = nil
			break
		}
		if isAuthError(err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrAuth, c, err)
		}
		dialErr = err
	}
	if dialErr != nil {
		return nil, fmt.Errorf("connect to kafka %s: %w", c, dialErr)
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		if isAuthError(err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrAuth, c, err)
		}
		return nil, fmt.Errorf("kafka metadata from %s: %w", c, err)
	}
	for i := range md.Topics {
		if md.Topics[i].Name == topic {
			return &md.Topics[i], nil
		}
	}
	return nil, nil
}
