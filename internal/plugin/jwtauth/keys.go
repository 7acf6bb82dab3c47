package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// The three algorithms Portico verifies, spelled as golang-jwt's signing
// methods name them. Each key verifies exactly one of them, fixed by the
// key's own type when it is loaded, and a token's "alg" must name that one:
// the token never chooses how its signature is checked. The parser is given
// only these names (jwt.WithValidMethods), so golang-jwt refuses "none" and
// HS256 (the classic attack signs with the public key as an HMAC secret)
// before it asks for a key.
const (
	algRS256 = "RS256" // jwt.SigningMethodRS256
	algES256 = "ES256" // jwt.SigningMethodES256
	algEdDSA = "EdDSA" // jwt.SigningMethodEdDSA
)

// allAlgs are the algorithms a JWKS may serve; which one a token may use is
// decided by the key its kid selects.
var allAlgs = []string{algRS256, algES256, algEdDSA}

// RSA sizes accepted. Below 2048 bits a key is breakable; above 8192 a
// verification costs enough that one key could slow every request.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is one verification key bound to its algorithm. key is what
// golang-jwt's method for alg verifies with: *rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey.
type publicKey struct {
	alg string
	kid string
	key crypto.PublicKey
}

// newPublicKey binds pub to the one algorithm its type allows, refusing key
// types and sizes that are not verified here. Errors are messages for an
// administrator, without the field name.
func newPublicKey(pub crypto.PublicKey, kid string) (*publicKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits; %d to %d bits are accepted", bits, minRSABits, maxRSABits)
		}
		if p.E < 3 || p.E%2 == 0 || p.E > 1<<31-1 {
			return nil, errors.New("RSA key has an invalid public exponent")
		}
		return &publicKey{alg: algRS256, kid: kid, key: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on %s; only P-256 (ES256) is accepted", p.Curve.Params().Name)
		}
		return &publicKey{alg: algES256, kid: kid, key: p}, nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 key of the wrong length")
		}
		return &publicKey{alg: algEdDSA, kid: kid, key: p}, nil
	}
	return nil, fmt.Errorf("key type %T is not supported; RSA, ECDSA P-256 and Ed25519 are", pub)
}

// parsePEMKey reads the one public key of a public_key_pem setting. It takes
// a SubjectPublicKeyInfo ("PUBLIC KEY", what openssl and most identity
// providers print), a PKCS #1 "RSA PUBLIC KEY", or a "CERTIFICATE" whose key
// is used as is (its dates and issuer are not checked: the certificate is
// only a container for the key, as in most IdP metadata).
func parsePEMKey(s string) (*publicKey, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM public key")
	}
	// One key only: silently using the first of several would hide a
	// paste mistake, and rotation with several keys is what jwks_url is for.
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("more than one PEM block; give one public key (a JWKS serves several)")
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			// Said plainly, because storing a private key in the gateway's
			// configuration is a leak the administrator should undo.
			return nil, errors.New("is a private key; give the public key only")
		}
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		// The parser's own error (ASN.1 tags and offsets) tells an
		// administrator nothing more.
		return nil, fmt.Errorf("the %s block does not hold a valid key", block.Type)
	}
	return newPublicKey(pub, "")
}

// keyring is the usable keys of one JWKS document. It is replaced whole,
// never edited, so readers need no lock.
type keyring struct {
	keys  []*publicKey
	byKid map[string][]*publicKey
}

// lookup results.
const (
	found        = iota
	unknownKid   // no key for this kid (or, for a token without kid, no single key for its alg)
	algMismatchK // the kid names keys, none of them for the token's algorithm
)

// find picks the key for a token's kid and alg. A token without kid is
// served only when exactly one key has its algorithm: trying each key in turn
// would let one token cost several signature checks.
func (r *keyring) find(kid string, hasKid bool, alg string) (*publicKey, int) {
	if !hasKid {
		var match *publicKey
		n := 0
		for _, k := range r.keys {
			if k.alg == alg {
				match = k
				n++
			}
		}
		if n == 1 {
			return match, found
		}
		return nil, unknownKid
	}
	ks, ok := r.byKid[kid]
	if !ok {
		return nil, unknownKid
	}
	for _, k := range ks {
		if k.alg == alg {
			return k, found
		}
	}
	return nil, algMismatchK
}

// kidList is the kids of r, for logs.
func (r *keyring) kidList() []string {
	out := make([]string, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k.kid)
	}
	return out
}

// jwk is the members of a JSON Web Key (RFC 7517, 7518) that are read here.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// maxJWKSKeys bounds the keys kept from one document; identity providers
// publish a handful, and a document with thousands is a mistake or an attack.
const maxJWKSKeys = 100

// parseJWKS reads a JWK Set. Keys this package cannot use (other types,
// curves or algorithms, encryption keys, symmetric "oct" keys) are skipped
// and described in skipped, so that a provider that also publishes, say, an
// RS512 key still serves its RS256 ones. A document with no usable key is an
// error: replacing working keys with an empty set would refuse every token.
func parseJWKS(data []byte) (ring *keyring, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %v", err)
	}
	ring = &keyring{byKid: make(map[string][]*publicKey)}
	for i, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		k, err := j.publicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): %v", i, j.Kid, err))
			continue
		}
		if len(ring.keys) == maxJWKSKeys {
			skipped = append(skipped, fmt.Sprintf("keys[%d] and after: more than %d keys", i, maxJWKSKeys))
			break
		}
		ring.keys = append(ring.keys, k)
		if k.kid != "" {
			ring.byKid[k.kid] = append(ring.byKid[k.kid], k)
		}
	}
	if len(ring.keys) == 0 {
		return nil, skipped, errors.New("no usable key in the JWK Set")
	}
	return ring, skipped, nil
}

// publicKey converts one JWK, checking its declared use and algorithm
// against the key type so that a key published for another purpose is never
// used to verify.
func (j *jwk) publicKey() (*publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", j.Use)
	}
	if j.KeyOps != nil {
		ok := false
		for _, op := range j.KeyOps {
			ok = ok || op == "verify"
		}
		if !ok {
			return nil, errors.New("key_ops does not include verify")
		}
	}
	var pub crypto.PublicKey
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != algRS256 {
			return nil, fmt.Errorf("alg %q is not supported", j.Alg)
		}
		n, err1 := b64Field(j.N)
		e, err2 := b64Field(j.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("invalid RSA modulus or exponent")
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	case "EC":
		if j.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q is not supported", j.Crv)
		}
		if j.Alg != "" && j.Alg != algES256 {
			return nil, fmt.Errorf("alg %q is not supported", j.Alg)
		}
		x, err1 := b64Field(j.X)
		y, err2 := b64Field(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("invalid EC coordinates")
		}
		// ParseUncompressedPublicKey checks the point is on the curve, which
		// a hand-built ecdsa.PublicKey would not.
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("invalid EC point: %v", err)
		}
		pub = p
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("curve %q is not supported", j.Crv)
		}
		// "Ed25519" is the fully specified name of RFC 9864 for the same
		// algorithm; tokens must still say "EdDSA".
		if j.Alg != "" && j.Alg != algEdDSA && j.Alg != "Ed25519" {
			return nil, fmt.Errorf("alg %q is not supported", j.Alg)
		}
		x, err := b64Field(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("invalid Ed25519 key")
		}
		pub = ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("kty %q is not supported", j.Kty)
	}
	return newPublicKey(pub, j.Kid)
}

// b64Field decodes a base64url member of a JWK. Padding is tolerated here
// (unlike in tokens, where one token must have one spelling) because some
// publishers add it and it changes no key.
func b64Field(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
