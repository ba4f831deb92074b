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
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/internal/tlsconfig"
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
	tlsconfig.Block("TLS to the brokers"),
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

	tls tlsconfig.Config

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
	var tlsDiags hcl.Diagnostics
	c.tls, tlsDiags = tlsconfig.Decode(cfg)
	diags = append(diags, tlsDiags...)
	if blocks := cfg.Blocks("sasl"); len(blocks) > 0 {
		s := blocks[0]
		c.mechanism, c.username, c.password = s.String("mechanism"), s.String("username"), s.String("password")
	}
	return c, diags
}

// tlsConfig reads the certificate files; nil when TLS is off.
func (c *conn) tlsConfig() (*tls.Config, error) { return c.tls.Build("kafka") }

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
