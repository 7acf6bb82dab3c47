package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTAuth: bearer tokens checked against a JWKS the gateway fetches,
// claims passed on as headers, a client's own copy of such a header
// dropped, every failure a 401 naming the reason.
func TestJWTAuth(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := func(kid string, k *rsa.PrivateKey) map[string]string {
		return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	}
	var withRotated atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := []map[string]string{jwk("k1", key)}
		if withRotated.Load() {
			keys = append(keys, jwk("k2", rotated))
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer jwks.Close()

	be := newBackend(t, "jwt-be")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(be.node(1)))
	sid := g.admin.createService("jwtsvc")
	cfg := map[string]any{"jwks_url": jwks.URL, "issuer": "https://id.example", "audience": "orders",
		"claim_headers": map[string]string{"sub": "X-User-Id"}}
	body := map[string]any{"name": "me", "frontend": map[string]string{"path": "/me", "method": "GET"},
		"backend": map[string]string{"type": "channel", "channel_id": ch.ID, "path": "/me"},
		"auth":    map[string]any{"type": "jwt", "jwt": cfg}}
	g.admin.do(http.MethodPost, "/services/"+sid+"/apis", body, http.StatusCreated, nil)
	g.admin.publish(sid, "release")

	sign := func(kid string, k *rsa.PrivateKey, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := jwt.MapClaims{"sub": "user-7", "iss": "https://id.example", "aud": "orders", "exp": time.Now().Add(time.Hour).Unix()}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	// The first fetch of the JWKS happens in the background; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	var r reply
	for {
		r = g.get("/me", append(bearer(sign("k1", key, good)), "X-User-Id", "admin")...)
		if r.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	e := decodeEcho(t, r)
	if got := e.Header.Values("X-User-Id"); len(got) != 1 || got[0] != "user-7" {
		t.Fatalf("the backend saw X-User-Id %q: want the token's sub, never the client's own copy", got)
	}

	expired := jwt.MapClaims{"sub": "u", "iss": "https://id.example", "aud": "orders", "exp": time.Now().Add(-time.Hour).Unix()}
	wrongIss := jwt.MapClaims{"sub": "u", "iss": "https://evil.example", "aud": "orders", "exp": time.Now().Add(time.Hour).Unix()}
	for _, c := range []struct {
		name, want string
		headers    []string
	}{
		{"no token", "missing bearer token", nil},
		{"expired", "token expired", bearer(sign("k1", key, expired))},
		{"wrong issuer", "wrong issuer", bearer(sign("k1", key, wrongIss))},
		{"unknown kid", "unknown key id", bearer(sign("k9", key, good))},
		{"signed by another key", "signature invalid", bearer(sign("k1", rotated, good))},
		{"garbage", "malformed token", bearer("not.a.token")},
	} {
		ge := wantGatewayError(t, g.get("/me", c.headers...), http.StatusUnauthorized)
		if !strings.Contains(ge.Message, c.want) {
			t.Errorf("%s: %q, want it to say %q", c.name, ge.Message, c.want)
		}
	}
	// A key rotated in at the identity provider is picked up on its kid.
	withRotated.Store(true)
	deadline = time.Now().Add(45 * time.Second)
	for {
		r = g.get("/me", bearer(sign("k2", rotated, good))...)
		if r.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.status != 200 {
		t.Fatalf("a token signed with a newly published key: %s", r)
	}
}
