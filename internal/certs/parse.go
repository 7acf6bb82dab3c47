package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits of a certificate resource.
const (
	// MaxPEMBytes bounds each of cert_pem and key_pem (64 KiB), far above a
	// real chain of a few certificates.
	MaxPEMBytes = 64 << 10

	// MaxChainCerts bounds the number of certificates in cert_pem.
	MaxChainCerts = 10

	// MinRSABits is the smallest RSA key accepted.
	MinRSABits = 2048

	// MaxRSABits is the largest RSA key accepted: Go's TLS clients, among
	// others, refuse larger server keys.
	MaxRSABits = 8192

	// ExpiryWarning is how long before its expiry a certificate gets the
	// "expires soon" warning.
	ExpiryWarning = 30 * 24 * time.Hour
)

// Field names of a certificate resource, as FieldError.Field.
const (
	FieldCertPEM = "cert_pem"
	FieldKeyPEM  = "key_pem"
)

// FieldError is a validation failure of one field of a certificate
// resource: Field is "cert_pem" or "key_pem", Message says what is wrong
// without naming the field. Error returns "<field>: <message>".
type FieldError struct {
	Field   string
	Message string
}

// Error returns the field name and the message.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Parsed is a validated certificate resource. It is immutable once returned
// by Parse and may be shared by indexes and handshakes.
type Parsed struct {
	// Certificate is the chain (DER, leaf first) with its private key; Leaf
	// is set.
	Certificate tls.Certificate

	// Hosts are the DNS names of the leaf's subjectAltName, wildcards
	// included, in lower case, without a trailing dot, without duplicates,
	// in certificate order. Empty when the leaf has no DNS name.
	Hosts []string

	// IPs are the IP addresses of the leaf's subjectAltName, for display
	// only: they take no part in selection (SNI never carries an address).
	IPs []string

	// NotBefore and NotAfter bound the leaf's validity.
	NotBefore, NotAfter time.Time
}

// Leaf returns the parsed leaf certificate.
func (p *Parsed) Leaf() *x509.Certificate { return p.Certificate.Leaf }

// Warnings returns the problems of an accepted certificate at time now, in
// this order: "not valid before <time>" when now is before NotBefore;
// "expired on <time>" after NotAfter, else "expires on <time> (in N days)"
// within ExpiryWarning of it; and "no host: ..." when Hosts is empty. Times
// are RFC 3339 in UTC. The result is empty, not nil, when all is well.
func (p *Parsed) Warnings(now time.Time) []string {
	ws := []string{}
	if now.Before(p.NotBefore) {
		ws = append(ws, "not valid before "+stamp(p.NotBefore))
	}
	if left := p.NotAfter.Sub(now); left < 0 {
		ws = append(ws, "expired on "+stamp(p.NotAfter))
	} else if left <= ExpiryWarning {
		in := "less than a day"
		if d := int(left / (24 * time.Hour)); d == 1 {
			in = "1 day"
		} else if d > 1 {
			in = fmt.Sprintf("%d days", d)
		}
		ws = append(ws, fmt.Sprintf("expires on %s (in %s)", stamp(p.NotAfter), in))
	}
	if len(p.Hosts) == 0 {
		ws = append(ws, "no host: the leaf has no DNS name in its subjectAltName, "+
			"so it is served only through a custom domain, never by SNI host matching")
	}
	return ws
}

// stamp is t as every timestamp of the product is shown: RFC 3339, UTC,
// milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Parse validates a certificate resource and returns it parsed. certPEM is
// the chain, leaf first, each certificate signed by the next one (a final
// self-signed root is allowed, not required); keyPEM is the leaf's private
// key: RSA (MinRSABits to MaxRSABits), ECDSA (P-256, P-384, P-521) or
// Ed25519, as PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC
// PRIVATE KEY" (an "EC PARAMETERS" block beside it is ignored). Encrypted
// keys are refused. Both fields must be PEM and nothing else (whitespace
// aside) and at most MaxPEMBytes; the chain holds at most MaxChainCerts
// certificates. Every failure is a *FieldError.
func Parse(certPEM, keyPEM string) (*Parsed, error) {
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, err
	}
	leaf := chain[0]
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fieldErr(FieldKeyPEM, "the private key (%s) does not match the public key of the leaf certificate (%s)",
			describeKey(key.Public()), describeKey(leaf.PublicKey))
	}

	p := &Parsed{
		Certificate: tls.Certificate{PrivateKey: key, Leaf: leaf},
		NotBefore:   leaf.NotBefore,
		NotAfter:    leaf.NotAfter,
	}
	for _, c := range chain {
		p.Certificate.Certificate = append(p.Certificate.Certificate, c.Raw)
	}
	for _, name := range leaf.DNSNames {
		h := normalizeHost(name)
		if h != "" && !slices.Contains(p.Hosts, h) {
			p.Hosts = append(p.Hosts, h)
		}
	}
	for _, ip := range leaf.IPAddresses {
		p.IPs = append(p.IPs, ip.String())
	}
	return p, nil
}

// normalizeHost lower-cases a host name and drops one trailing dot.
func normalizeHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

func parseChain(certPEM string) ([]*x509.Certificate, error) {
	blocks, err := splitPEM(FieldCertPEM, certPEM, MaxChainCerts, "certificates")
	if err != nil {
		return nil, err
	}
	chain := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			hint := ""
			if strings.HasSuffix(b.Type, "PRIVATE KEY") {
				hint = " (the private key goes in key_pem)"
			}
			return nil, fieldErr(FieldCertPEM, "PEM block %d is a %q block: cert_pem holds only CERTIFICATE blocks%s", i+1, b.Type, hint)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fieldErr(FieldCertPEM, "certificate %d does not parse: %v", i+1, err)
		}
		chain = append(chain, c)
	}
	switch chain[0].PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fieldErr(FieldCertPEM, "certificate 1 (the leaf) has an unsupported public key algorithm %v (supported: RSA, ECDSA, Ed25519)",
			chain[0].PublicKeyAlgorithm)
	}
	for i := 0; i+1 < len(chain); i++ {
		child, parent := chain[i], chain[i+1]
		err := child.CheckSignatureFrom(parent)
		if err == nil {
			continue
		}
		msg := fmt.Sprintf("certificate %d does not sign certificate %d (chain must be leaf first)", i+2, i+1)
		var cv x509.ConstraintViolationError
		switch {
		case !bytes.Equal(child.RawIssuer, parent.RawSubject):
			msg += fmt.Sprintf(": certificate %d is issued by %q, certificate %d is %q", i+1, child.Issuer, i+2, parent.Subject)
		case errors.As(err, &cv):
			msg += fmt.Sprintf(": certificate %d %q is not a CA allowed to sign certificates", i+2, parent.Subject)
		default:
			msg += fmt.Sprintf(": the signature does not verify: %v", err)
		}
		return nil, &FieldError{Field: FieldCertPEM, Message: msg}
	}
	return chain, nil
}

func parseKey(keyPEM string) (crypto.Signer, error) {
	blocks, err := splitPEM(FieldKeyPEM, keyPEM, 0, "")
	if err != nil {
		return nil, err
	}
	var (
		key   *pem.Block
		keyNo int
	)
	for i, b := range blocks {
		switch {
		case b.Type == "EC PARAMETERS":
			continue // openssl ecparam -genkey writes it before the key
		case b.Type == "CERTIFICATE":
			return nil, fieldErr(FieldKeyPEM, "PEM block %d is a CERTIFICATE: key_pem holds only the private key (certificates go in cert_pem)", i+1)
		case b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, fieldErr(FieldKeyPEM, "PEM block %d is an encrypted private key (%s): encrypted keys are not supported, decrypt it first (openssl pkey -in key.pem)", i+1, b.Type)
		case !strings.HasSuffix(b.Type, "PRIVATE KEY"):
			return nil, fieldErr(FieldKeyPEM, "PEM block %d is a %q block, not a private key", i+1, b.Type)
		}
		if key != nil {
			return nil, fieldErr(FieldKeyPEM, "holds more than one private key (PEM blocks %d and %d): expected exactly one", keyNo, i+1)
		}
		key, keyNo = b, i+1
	}
	if key == nil {
		return nil, fieldErr(FieldKeyPEM, "holds no private key: expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block")
	}

	var (
		k      any
		format string
	)
	switch key.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(key.Bytes)
		format = "PKCS#8"
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(key.Bytes)
		format = "PKCS#1"
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(key.Bytes)
		format = "SEC1"
	default:
		return nil, fieldErr(FieldKeyPEM, "the %q format is not supported: use PRIVATE KEY (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)", key.Type)
	}
	if err != nil {
		return nil, fieldErr(FieldKeyPEM, "the %s block does not parse as %s: %v", key.Type, format, err)
	}

	switch k := k.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return nil, fieldErr(FieldKeyPEM, "unsupported key: RSA %d-bit; RSA keys must have %d to %d bits", bits, MinRSABits, MaxRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, fieldErr(FieldKeyPEM, "unsupported key: ECDSA on curve %s; supported curves are P-256, P-384 and P-521", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return k, nil
	case *ecdh.PrivateKey:
		return nil, fieldErr(FieldKeyPEM, "unsupported key type: ECDH %v cannot sign; supported are RSA, ECDSA and Ed25519", k.Curve())
	default:
		return nil, fieldErr(FieldKeyPEM, "unsupported key type %T; supported are RSA, ECDSA and Ed25519", k)
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// describeKey names a public key's type and size, as "RSA 2048-bit",
// "ECDSA P-256" or "Ed25519".
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

var (
	pemBegin = []byte("-----BEGIN ")
	pemEnd   = []byte("\n-----END ")
	pemDash  = []byte("-----")
)

// splitPEM decodes the PEM blocks of field s, which must hold at least one
// block and nothing else but whitespace between and around them. When limit
// is positive, more than limit blocks is an error naming the limit as
// "<limit> <what>".
func splitPEM(field, s string, limit int, what string) ([]*pem.Block, error) {
	if len(s) > MaxPEMBytes {
		return nil, fieldErr(field, "is %d bytes; the limit is %d bytes (%d KiB)", len(s), MaxPEMBytes, MaxPEMBytes>>10)
	}
	data := bytes.TrimSpace([]byte(s))
	if len(data) == 0 {
		return nil, fieldErr(field, "is empty")
	}
	var blocks []*pem.Block
	for n := 1; len(data) > 0; n++ {
		if !bytes.HasPrefix(data, pemBegin) {
			switch {
			case n > 1:
				return nil, fieldErr(field, "has text after PEM block %d that is not PEM", n-1)
			case bytes.Contains(data, pemBegin):
				return nil, fieldErr(field, "has text before the first PEM block that is not PEM")
			default:
				return nil, fieldErr(field, "is not PEM: it holds no \"-----BEGIN ...-----\" line")
			}
		}
		if limit > 0 && n > limit {
			return nil, fieldErr(field, "holds more than %d PEM blocks; the limit is %d %s", limit, limit, what)
		}
		end := bytes.Index(data, pemEnd)
		if next := bytes.Index(data[1:], pemBegin); next >= 0 && (end < 0 || next+1 < end) {
			return nil, fieldErr(field, "PEM block %d has no \"-----END\" line before the next \"-----BEGIN\"", n)
		}
		if end < 0 {
			return nil, fieldErr(field, "PEM block %d has no \"-----END\" line", n)
		}
		stop := len(data)
		if nl := bytes.IndexByte(data[end+1:], '\n'); nl >= 0 {
			stop = end + 1 + nl + 1
		}
		b, rest := pem.Decode(data[:stop])
		if b == nil || len(bytes.TrimSpace(rest)) != 0 {
			return nil, fieldErr(field, "PEM block %d is malformed: %s", n, pemDefect(data[:stop], end+1))
		}
		blocks = append(blocks, b)
		data = bytes.TrimLeft(data[stop:], " \t\r\n")
	}
	return blocks, nil
}

// pemDefect says why the single PEM block blk, whose END line starts at
// end, does not decode.
func pemDefect(blk []byte, end int) string {
	line := func(b []byte) []byte {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[:i]
		}
		return bytes.TrimRight(b, " \t\r")
	}
	begin, fin := line(blk), line(blk[end:])
	bt, ok1 := bytes.CutPrefix(begin, pemBegin)
	bt, ok2 := bytes.CutSuffix(bt, pemDash)
	if !ok1 || !ok2 {
		return fmt.Sprintf("bad BEGIN line %q", truncate(begin))
	}
	et, ok1 := bytes.CutPrefix(fin, pemEnd[1:])
	et, ok2 = bytes.CutSuffix(et, pemDash)
	if !ok1 || !ok2 {
		return fmt.Sprintf("bad END line %q", truncate(fin))
	}
	if !bytes.Equal(bt, et) {
		return fmt.Sprintf("it begins as %q but ends as %q", bt, et)
	}
	return fmt.Sprintf("the body of the %s block is not valid base64 (or has bad headers)", bt)
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
