package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/flowengine/flowengine/dsl"
)

func decode(t *testing.T, src string) (Config, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg, diags := dsl.DecodeBody(f.Body, &dsl.Spec{Blocks: []dsl.BlockSpec{Block("TLS to the test server")}}, nil, hcl.Range{})
	if diags.HasErrors() {
		return Config{}, diags
	}
	return Decode(cfg)
}

// writeCert writes a certificate and its key signed by parent (self-signed
// when parent is nil) and returns them.
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{name}, IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestDecode(t *testing.T) {
	if c, diags := decode(t, ``); diags.HasErrors() || c.Enabled {
		t.Errorf("no block: %+v %v, want TLS off", c, diags)
	}
	c, diags := decode(t, "tls {\n  ca_file = \"ca.pem\"\n  server_name = \"db\"\n}")
	if diags.HasErrors() || c != (Config{Enabled: true, CAFile: "ca.pem", ServerName: "db"}) {
		t.Errorf("got %+v %v", c, diags)
	}
	if c, _ := decode(t, "tls {\n  enabled = false\n}"); c.Enabled {
		t.Errorf("enabled = false: TLS on")
	}
	if _, diags := decode(t, "tls {\n  cert_file = \"c.pem\"\n}"); !diags.HasErrors() || !strings.Contains(diags.Error(), "Incomplete client certificate") {
		t.Errorf("cert_file without key_file: %v", diags)
	}
	if tc, err := (Config{}).Build("test"); tc != nil || err != nil {
		t.Errorf("TLS off: %v, %v", tc, err)
	}
}

// TestMutualTLS connects, with the configuration Build makes, to a server
// that requires a client certificate signed by the same CA.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", true, nil, nil)
	srvCert, srvKey := writeCert(t, dir, "server", false, ca, caKey)
	writeCert(t, dir, "client", false, ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	dial := func(c Config) error {
		tc, err := c.Build("test")
		if err != nil {
			return err
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), tc)
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 2)
		_, err = conn.Read(buf)
		return err
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	good := Config{Enabled: true, CAFile: p("ca.pem"), CertFile: p("client.pem"), KeyFile: p("client.key"), ServerName: "server"}
	if err := dial(good); err != nil {
		t.Errorf("mutual TLS: %v", err)
	}
	noCert := good
	noCert.CertFile, noCert.KeyFile = "", ""
	if err := dial(noCert); err == nil {
		t.Errorf("no client certificate: connected")
	}
	wrongName := good
	wrongName.ServerName = "other"
	if err := dial(wrongName); err == nil {
		t.Errorf("server name %q: connected", wrongName.ServerName)
	}
	noCA := good
	noCA.CAFile = ""
	if err := dial(noCA); err == nil {
		t.Errorf("CA not trusted: connected")
	}
	for _, bad := range []Config{
		{Enabled: true, CAFile: p("missing.pem")},
		{Enabled: true, CAFile: p("ca.key")},
		{Enabled: true, CertFile: p("client.pem"), KeyFile: p("ca.key")},
	} {
		if _, err := bad.Build("test"); err == nil || !strings.HasPrefix(err.Error(), "test tls: ") {
			t.Errorf("%+v: error %v", bad, err)
		}
	}
}
