package certs

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	f := getFixtures(t)
	leafEC, leafRSA := chainPEM(f.leafEC, f.inter), chainPEM(f.leafRSA, f.inter)
	keyEC, keyRSA := pkcs8(t, f.leafEC.key), pkcs1(f.rsa2048)

	// An intermediate impostor with the right name: not a CA, or another key.
	notCA := issue(t, spec{cn: "Test Intermediate", parent: f.root})
	otherKey := issue(t, spec{cn: "Test Intermediate", ca: true, parent: f.root})

	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecParams, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})

	tests := []struct {
		name, cert, key string
		field, msg      string // msg: a substring of the message
	}{
		// cert_pem: shape.
		{"cert empty", "", keyEC, FieldCertPEM, "is empty"},
		{"cert blank", " \n\t\r\n", keyEC, FieldCertPEM, "is empty"},
		{"cert too large", strings.Repeat(" ", MaxPEMBytes+1), keyEC, FieldCertPEM,
			"is 65537 bytes; the limit is 65536 bytes (64 KiB)"},
		{"cert not PEM", "MIIBszCCAVmgAwIBAgIBAjAKBggqhkjOPQQDAjAUMRIwEAYDVQQD", keyEC, FieldCertPEM,
			"is not PEM: it holds no \"-----BEGIN ...-----\" line"},
		{"cert text before", "subject=CN = ec\n" + leafEC, keyEC, FieldCertPEM,
			"has text before the first PEM block that is not PEM"},
		{"cert trailing garbage", leafEC + "garbage\n", keyEC, FieldCertPEM,
			"has text after PEM block 2 that is not PEM"},
		{"cert garbage between", chainPEM(f.leafEC) + "x\n" + chainPEM(f.inter), keyEC, FieldCertPEM,
			"has text after PEM block 1 that is not PEM"},
		{"cert no END", "-----BEGIN CERTIFICATE-----\nAAAA\n", keyEC, FieldCertPEM,
			"PEM block 1 has no \"-----END\" line"},
		{"cert BEGIN before END", "-----BEGIN CERTIFICATE-----\nAAAA\n" + leafEC, keyEC, FieldCertPEM,
			"PEM block 1 has no \"-----END\" line before the next \"-----BEGIN\""},
		{"cert END mismatch", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n", keyEC, FieldCertPEM,
			"PEM block 1 is malformed: it begins as \"CERTIFICATE\" but ends as \"PRIVATE KEY\""},
		{"cert bad base64", chainPEM(f.leafEC) + "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", keyEC, FieldCertPEM,
			"PEM block 2 is malformed: the body of the CERTIFICATE block is not valid base64"},
		{"cert bad END line", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE\n", keyEC, FieldCertPEM,
			"PEM block 1 is malformed: bad END line"},
		{"cert holds the key", keyEC, keyEC, FieldCertPEM,
			"PEM block 1 is a \"PRIVATE KEY\" block: cert_pem holds only CERTIFICATE blocks (the private key goes in key_pem)"},
		{"cert then key", chainPEM(f.leafEC) + keyEC, keyEC, FieldCertPEM,
			"PEM block 2 is a \"PRIVATE KEY\" block"},
		{"cert not x509", chainPEM(f.leafEC) + pemBlock("CERTIFICATE", []byte("not DER"), nil), keyEC, FieldCertPEM,
			"certificate 2 does not parse: x509:"},
		{"cert too many", strings.Repeat(chainPEM(f.root), MaxChainCerts+1), pkcs8(t, f.root.key), FieldCertPEM,
			"holds more than 10 PEM blocks; the limit is 10 certificates"},

		// cert_pem: chain order.
		{"chain root before intermediate", chainPEM(f.leafEC, f.root, f.inter), keyEC, FieldCertPEM,
			`certificate 2 does not sign certificate 1 (chain must be leaf first): certificate 1 is issued by "CN=Test Intermediate", certificate 2 is "CN=Test Root"`},
		{"chain leaf last", chainPEM(f.inter, f.leafEC), keyEC, FieldCertPEM,
			"certificate 2 does not sign certificate 1 (chain must be leaf first)"},
		{"chain reversed", chainPEM(f.root, f.inter, f.leafEC), keyEC, FieldCertPEM,
			"certificate 2 does not sign certificate 1 (chain must be leaf first)"},
		{"chain foreign root", chainPEM(f.leafEC, f.inter, f.otherRoot), keyEC, FieldCertPEM,
			"certificate 3 does not sign certificate 2 (chain must be leaf first)"},
		{"chain issuer not a CA", chainPEM(f.leafEC, notCA), keyEC, FieldCertPEM,
			`certificate 2 does not sign certificate 1 (chain must be leaf first): certificate 2 "CN=Test Intermediate" is not a CA allowed to sign certificates`},
		{"chain issuer other key", chainPEM(f.leafEC, otherKey), keyEC, FieldCertPEM,
			"certificate 2 does not sign certificate 1 (chain must be leaf first): the signature does not verify"},
		{"chain leaf twice", chainPEM(f.leafEC, f.leafEC), keyEC, FieldCertPEM,
			"certificate 2 does not sign certificate 1"},

		// key_pem: shape.
		{"key empty", leafEC, "", FieldKeyPEM, "is empty"},
		{"key too large", leafEC, keyEC + strings.Repeat("\n", MaxPEMBytes), FieldKeyPEM,
			"the limit is 65536 bytes (64 KiB)"},
		{"key not PEM", leafEC, "secret", FieldKeyPEM, "is not PEM"},
		{"key trailing garbage", leafEC, keyEC + "--", FieldKeyPEM, "has text after PEM block 1 that is not PEM"},
		{"key is a certificate", leafEC, chainPEM(f.leafEC), FieldKeyPEM,
			"PEM block 1 is a CERTIFICATE: key_pem holds only the private key (certificates go in cert_pem)"},
		{"key after certificate", leafEC, chainPEM(f.leafEC) + keyEC, FieldKeyPEM, "PEM block 1 is a CERTIFICATE"},
		{"key only parameters", leafEC, pemBlock("EC PARAMETERS", ecParams, nil), FieldKeyPEM,
			"holds no private key: expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block"},
		{"key two keys", leafEC, keyEC + keyEC, FieldKeyPEM,
			"holds more than one private key (PEM blocks 1 and 2): expected exactly one"},
		{"key public", leafEC, pemBlock("PUBLIC KEY", []byte{1}, nil), FieldKeyPEM,
			"PEM block 1 is a \"PUBLIC KEY\" block, not a private key"},
		{"key encrypted PKCS#8", leafEC, pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2}, nil), FieldKeyPEM,
			"PEM block 1 is an encrypted private key (ENCRYPTED PRIVATE KEY): encrypted keys are not supported"},
		{"key encrypted legacy", leafRSA, pemBlock("RSA PRIVATE KEY", []byte{1, 2},
			map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,000102030405060708090A0B0C0D0E0F"}), FieldKeyPEM,
			"PEM block 1 is an encrypted private key (RSA PRIVATE KEY): encrypted keys are not supported"},
		{"key OpenSSH", leafEC, pemBlock("OPENSSH PRIVATE KEY", []byte{1}, nil), FieldKeyPEM,
			"the \"OPENSSH PRIVATE KEY\" format is not supported: use PRIVATE KEY (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)"},
		{"key DSA", leafEC, pemBlock("DSA PRIVATE KEY", []byte{1}, nil), FieldKeyPEM, "\"DSA PRIVATE KEY\" format is not supported"},

		// key_pem: contents.
		{"key bad PKCS#8", leafEC, pemBlock("PRIVATE KEY", []byte("junk"), nil), FieldKeyPEM,
			"the PRIVATE KEY block does not parse as PKCS#8: "},
		{"key bad PKCS#1", leafRSA, pemBlock("RSA PRIVATE KEY", []byte("junk"), nil), FieldKeyPEM,
			"the RSA PRIVATE KEY block does not parse as PKCS#1: "},
		{"key bad SEC1", leafEC, pemBlock("EC PRIVATE KEY", []byte("junk"), nil), FieldKeyPEM,
			"the EC PRIVATE KEY block does not parse as SEC1: "},
		{"key mislabelled", leafEC, pemBlock("RSA PRIVATE KEY", sec1Der(t, f.leafEC.key.(*ecdsa.PrivateKey)), nil), FieldKeyPEM,
			"does not parse as PKCS#1"},
		{"key X25519", leafEC, pkcs8(t, x25519), FieldKeyPEM,
			"unsupported key type: ECDH X25519 cannot sign; supported are RSA, ECDSA and Ed25519"},
		{"key P-224", leafEC, sec1(t, p224), FieldKeyPEM,
			"unsupported key: ECDSA on curve P-224; supported curves are P-256, P-384 and P-521"},
		{"key RSA 1024", leafRSA, pkcs1(f.rsa1024), FieldKeyPEM,
			"unsupported key: RSA 1024-bit; RSA keys must have 2048 to 8192 bits"},

		// key_pem: match.
		{"key of another ECDSA leaf", leafEC, pkcs8(t, newP256(t)), FieldKeyPEM,
			"the private key (ECDSA P-256) does not match the public key of the leaf certificate (ECDSA P-256)"},
		{"key of another type", leafEC, keyRSA, FieldKeyPEM,
			"the private key (RSA 2048-bit) does not match the public key of the leaf certificate (ECDSA P-256)"},
		{"key of the intermediate", leafEC, pkcs8(t, f.inter.key), FieldKeyPEM, "does not match"},
		{"key Ed25519 for RSA leaf", leafRSA, pkcs8(t, f.ed), FieldKeyPEM,
			"the private key (Ed25519) does not match the public key of the leaf certificate (RSA 2048-bit)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.cert, tt.key)
			if err == nil {
				t.Fatalf("Parse succeeded (hosts %v), want %s error %q", p.Hosts, tt.field, tt.msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Message, tt.msg) {
				t.Errorf("error %s %q\nwant     %s containing %q", fe.Field, fe.Message, tt.field, tt.msg)
			}
			if got, want := err.Error(), tt.field+": "+fe.Message; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func sec1Der(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := pemDecodeOne(sec1(t, k))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemDecodeOne(s string) ([]byte, error) {
	bs, err := splitPEM("test", s, 1, "blocks")
	if err != nil {
		return nil, err
	}
	return bs[0].Bytes, nil
}

func TestParseValid(t *testing.T) {
	f := getFixtures(t)
	ecKey := f.leafEC.key.(*ecdsa.PrivateKey)
	ecParams, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

	tests := []struct {
		name, cert, key string
		chainLen        int
	}{
		{"ECDSA PKCS#8 with intermediate", chainPEM(f.leafEC, f.inter), pkcs8(t, ecKey), 2},
		{"ECDSA SEC1 full chain", chainPEM(f.leafEC, f.inter, f.root), sec1(t, ecKey), 3},
		{"ECDSA SEC1 after EC PARAMETERS", chainPEM(f.leafEC), pemBlock("EC PARAMETERS", ecParams, nil) + sec1(t, ecKey), 1},
		{"RSA PKCS#1", chainPEM(f.leafRSA, f.inter), pkcs1(f.rsa2048), 2},
		{"RSA PKCS#8", chainPEM(f.leafRSA), pkcs8(t, f.rsa2048), 1},
		{"Ed25519 PKCS#8", chainPEM(f.leafEd, f.inter), pkcs8(t, f.ed), 2},
		{"CA only", chainPEM(f.root), pkcs8(t, f.root.key), 1},
		{"self-signed CA repeated to the limit", strings.Repeat(chainPEM(f.root), MaxChainCerts), pkcs8(t, f.root.key), MaxChainCerts},
		{"CRLF and blank lines", "\r\n\r\n" + crlf(chainPEM(f.leafEC)) + "\r\n\r\n" + crlf(chainPEM(f.inter)) + "\r\n",
			"\n  " + crlf(pkcs8(t, ecKey)) + "\t\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.cert, tt.key)
			c := p.Certificate
			if len(c.Certificate) != tt.chainLen {
				t.Errorf("chain of %d certificates, want %d", len(c.Certificate), tt.chainLen)
			}
			if c.Leaf == nil || p.Leaf() != c.Leaf || !slices.Equal(c.Leaf.Raw, c.Certificate[0]) {
				t.Fatal("Leaf is not set to the first certificate")
			}
			if !publicKeysEqual(c.Leaf.PublicKey, c.PrivateKey.(crypto.Signer).Public()) {
				t.Error("private key does not match the leaf")
			}
			if !p.NotBefore.Equal(c.Leaf.NotBefore) || !p.NotAfter.Equal(c.Leaf.NotAfter) {
				t.Errorf("validity %v..%v, leaf %v..%v", p.NotBefore, p.NotAfter, c.Leaf.NotBefore, c.Leaf.NotAfter)
			}
		})
	}
}

func TestParseHosts(t *testing.T) {
	c := issue(t, spec{
		cn:  "Common.Name.example", // never a host
		dns: []string{"API.Example.com", "api.example.com.", "*.Example.COM", "api.example.com", "xn--bcher-kva.example"},
		ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("2001:db8::1")},
	})
	p := mustParse(t, chainPEM(c), pkcs8(t, c.key))
	if want := []string{"api.example.com", "*.example.com", "xn--bcher-kva.example"}; !slices.Equal(p.Hosts, want) {
		t.Errorf("Hosts = %q, want %q", p.Hosts, want)
	}
	if want := []string{"127.0.0.1", "2001:db8::1"}; !slices.Equal(p.IPs, want) {
		t.Errorf("IPs = %q, want %q", p.IPs, want)
	}

	c = issue(t, spec{cn: "only.a.common.name.example", ips: []net.IP{net.ParseIP("10.0.0.1")}})
	p = mustParse(t, chainPEM(c), pkcs8(t, c.key))
	if len(p.Hosts) != 0 {
		t.Errorf("Hosts = %q, want none (the common name is not a host)", p.Hosts)
	}
}

func TestWarnings(t *testing.T) {
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cert := func(notBefore, notAfter time.Time, dns ...string) *Parsed {
		c := issue(t, spec{cn: "w", dns: dns, notBefore: notBefore, notAfter: notAfter})
		return mustParse(t, chainPEM(c), pkcs8(t, c.key))
	}
	noHost := "no host: the leaf has no DNS name in its subjectAltName, so it is served only through a custom domain, never by SNI host matching"
	tests := []struct {
		name string
		p    *Parsed
		want []string
	}{
		{"fine", cert(t0.Add(-day), t0.Add(365*day), "a.example"), []string{}},
		{"just over 30 days", cert(t0.Add(-day), t0.Add(30*day+time.Second), "a.example"), []string{}},
		{"30 days", cert(t0.Add(-day), t0.Add(30*day), "a.example"),
			[]string{"expires on 2030-07-01T12:00:00.000Z (in 30 days)"}},
		{"10 days", cert(t0.Add(-day), t0.Add(10*day+time.Hour), "a.example"),
			[]string{"expires on 2030-06-11T13:00:00.000Z (in 10 days)"}},
		{"1 day", cert(t0.Add(-day), t0.Add(day), "a.example"),
			[]string{"expires on 2030-06-02T12:00:00.000Z (in 1 day)"}},
		{"hours", cert(t0.Add(-day), t0.Add(5*time.Hour), "a.example"),
			[]string{"expires on 2030-06-01T17:00:00.000Z (in less than a day)"}},
		{"expired", cert(t0.Add(-400*day), t0.Add(-time.Second), "a.example"),
			[]string{"expired on 2030-06-01T11:59:59.000Z"}},
		{"not yet valid", cert(t0.Add(2*day), t0.Add(400*day), "a.example"),
			[]string{"not valid before 2030-06-03T12:00:00.000Z"}},
		{"no host", cert(t0.Add(-day), t0.Add(365*day)), []string{noHost}},
		{"expired and no host", cert(t0.Add(-400*day), t0.Add(-day)),
			[]string{"expired on 2030-05-31T12:00:00.000Z", noHost}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Warnings(t0)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("Warnings = %#v\nwant       %#v", got, tt.want)
			}
		})
	}
}
