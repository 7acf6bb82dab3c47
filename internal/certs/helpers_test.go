package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// issued is a test certificate with its key.
type issued struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

// spec describes a test certificate; zero fields take defaults.
type spec struct {
	cn        string
	dns       []string
	ips       []net.IP
	notBefore time.Time // zero: an hour ago
	notAfter  time.Time // zero: in a year
	ca        bool
	key       crypto.Signer // nil: a new ECDSA P-256 key
	parent    *issued       // nil: self-signed
}

var serial atomic.Int64

func issue(tb testing.TB, s spec) *issued {
	tb.Helper()
	if s.key == nil {
		s.key = newP256(tb)
	}
	if s.notBefore.IsZero() {
		s.notBefore = time.Now().Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		DNSNames:              s.dns,
		IPAddresses:           s.ips,
		BasicConstraintsValid: true,
		IsCA:                  s.ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if s.ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	parent, signer := tmpl, s.key
	if s.parent != nil {
		parent, signer = s.parent.cert, s.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, s.key.Public(), signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &issued{cert: c, der: der, key: s.key}
}

func newP256(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// chainPEM encodes the certificates in order.
func chainPEM(cs ...*issued) string {
	var b strings.Builder
	for _, c := range cs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}))
	}
	return b.String()
}

func pemBlock(typ string, der []byte, headers map[string]string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der}))
}

func pkcs8(tb testing.TB, key any) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der, nil)
}

func sec1(tb testing.TB, key *ecdsa.PrivateKey) string {
	tb.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pemBlock("EC PRIVATE KEY", der, nil)
}

func pkcs1(key *rsa.PrivateKey) string {
	return pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), nil)
}

// fixtures are generated once per test binary: RSA key generation is slow.
type fixtures struct {
	rsa2048, rsa1024 *rsa.PrivateKey
	ed               ed25519.PrivateKey

	root, inter *issued // CA chain: root signs inter
	otherRoot   *issued
	leafEC      *issued // ECDSA, signed by inter
	leafRSA     *issued // RSA 2048, signed by inter
	leafEd      *issued // Ed25519, signed by inter
}

var (
	fxOnce sync.Once
	fx     *fixtures
)

func getFixtures(tb testing.TB) *fixtures {
	tb.Helper()
	fxOnce.Do(func() {
		f := new(fixtures)
		var err error
		if f.rsa2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if f.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		if _, f.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
		f.root = issue(tb, spec{cn: "Test Root", ca: true, notAfter: time.Now().Add(10 * 365 * 24 * time.Hour)})
		f.inter = issue(tb, spec{cn: "Test Intermediate", ca: true, parent: f.root})
		f.otherRoot = issue(tb, spec{cn: "Other Root", ca: true})
		f.leafEC = issue(tb, spec{cn: "ec", dns: []string{"ec.example.com"}, parent: f.inter})
		f.leafRSA = issue(tb, spec{cn: "rsa", dns: []string{"rsa.example.com"}, key: f.rsa2048, parent: f.inter})
		f.leafEd = issue(tb, spec{cn: "ed", dns: []string{"ed.example.com"}, key: f.ed, parent: f.inter})
		fx = f
	})
	if fx == nil {
		tb.Fatal("fixtures failed in an earlier test")
	}
	return fx
}

// mustParse parses a certificate and key that must be valid.
func mustParse(tb testing.TB, certPEM, keyPEM string) *Parsed {
	tb.Helper()
	p, err := Parse(certPEM, keyPEM)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return p
}

// hostCert is a parsed self-signed ECDSA certificate for the DNS names dns.
func hostCert(tb testing.TB, cn string, notAfter time.Time, dns ...string) *Parsed {
	tb.Helper()
	c := issue(tb, spec{cn: cn, dns: dns, notAfter: notAfter})
	return mustParse(tb, chainPEM(c), pkcs8(tb, c.key))
}
