package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// now is the fixed time tokens are checked at.
var now = time.Unix(1_700_000_000, 0)

// testKey is a signing key of one algorithm and its public half.
type testKey struct {
	method jwt.SigningMethod
	priv   crypto.Signer
	pub    crypto.PublicKey
	kid    string
}

var (
	keysOnce                      sync.Once
	rsaKey, rsaKey2, ecKey, edKey *testKey
)

// testKeys generates the keys once per test binary: RSA generation is slow
// under -race.
func testKeys(tb testing.TB) (rs, rs2, es, ed *testKey) {
	tb.Helper()
	keysOnce.Do(func() {
		r1, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		r2, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		_, d, err := ed25519.GenerateKey(rand.Reader)
		must(err)
		rsaKey = &testKey{jwt.SigningMethodRS256, r1, &r1.PublicKey, "r1"}
		rsaKey2 = &testKey{jwt.SigningMethodRS256, r2, &r2.PublicKey, "r2"}
		ecKey = &testKey{jwt.SigningMethodES256, e, &e.PublicKey, "e1"}
		edKey = &testKey{jwt.SigningMethodEdDSA, d, d.Public(), "d1"}
	})
	return rsaKey, rsaKey2, ecKey, edKey
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// pemOf is the SubjectPublicKeyInfo PEM of pub.
func pemOf(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	must(err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// claims are a good token's claims at now; tests change them.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "alice",
		"iss": "https://idp.example",
		"aud": "orders",
		"exp": now.Add(time.Hour).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"iat": now.Add(-time.Minute).Unix(),
	}
}

// sign signs claims with k through golang-jwt, with k's kid unless kid is
// "-" (no kid) or another value (that kid).
func sign(tb testing.TB, k *testKey, claims jwt.MapClaims, kid string) string {
	tb.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	switch kid {
	case "-":
	case "":
		tok.Header["kid"] = k.kid
	default:
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// signRaw signs exactly the given header and claims JSON, for the cases
// golang-jwt cannot produce (duplicate members, odd types).
func signRaw(tb testing.TB, k *testKey, header, claims string) string {
	tb.Helper()
	input := seg(header) + "." + seg(claims)
	sig, err := k.method.Sign(input, k.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// claimsJSON is goodClaims as JSON with extra members spliced in (raw JSON
// after the opening brace).
func claimsJSON(extra string) string {
	b, err := json.Marshal(goodClaims())
	must(err)
	if extra == "" {
		return string(b)
	}
	return "{" + extra + "," + string(b[1:])
}

// wantReason checks err is an *Error with reason.
func wantReason(tb testing.TB, err error, reason string) {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v, want *Error %q", err, reason)
	}
	if e.Reason != reason {
		tb.Fatalf("reason = %q, want %q", e.Reason, reason)
	}
}

// jwkOf is the JWK of k's public key.
func jwkOf(k *testKey, kid string) map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": kid, "use": "sig"}
	switch p := k.pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["alg"] = "RSA", "RS256"
		m["n"] = b64(p.N.Bytes())
		m["e"] = b64(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := p.Bytes()
		must(err)
		m["kty"], m["crv"], m["alg"] = "EC", "P-256", "ES256"
		m["x"], m["y"] = b64(raw[1:33]), b64(raw[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["alg"] = "OKP", "Ed25519", "EdDSA"
		m["x"] = b64(p)
	}
	return m
}

// jwksDoc is a JWK Set of the given keys, each under its own kid.
func jwksDoc(keys ...*testKey) []byte {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	for _, k := range keys {
		set.Keys = append(set.Keys, jwkOf(k, k.kid))
	}
	b, err := json.Marshal(set)
	must(err)
	return b
}

// jwksServer serves a JWK Set that tests can replace or take down, and
// counts the fetches.
type jwksServer struct {
	*httptest.Server
	doc  atomic.Pointer[[]byte]
	down atomic.Bool
	hits atomic.Int64
	// delay, when set, holds each answer that long.
	delay atomic.Int64
}

func newJWKSServer(tb testing.TB, doc []byte) *jwksServer {
	s := &jwksServer{}
	s.doc.Store(&doc)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if d := time.Duration(s.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(*s.doc.Load())
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.doc.Store(&doc) }

// newTestKeys is a Keys with timings short enough for tests.
func newTestKeys(tb testing.TB, client *http.Client) *Keys {
	log := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, bench := tb.(*testing.B); bench {
		log = nil // keep benchmark output to the figures
	}
	k := NewKeys(client, log)
	k.minMiss = 300 * time.Millisecond
	k.retryMin = 20 * time.Millisecond
	k.retryMax = 100 * time.Millisecond
	k.fetchTimeout = 2 * time.Second
	tb.Cleanup(k.Close)
	return k
}

func mustEC() crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	return k
}

func mustEd() crypto.Signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
}
