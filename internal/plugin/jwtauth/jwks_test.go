package jwtauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// jwksVerifier builds a Verifier of srv's JWKS on keys.
func jwksVerifier(tb testing.TB, keys *Keys, url string) *Verifier {
	tb.Helper()
	v, err := New(Config{JWKSURL: url, Issuer: "https://idp.example", Audience: "orders",
		ClaimHeaders: map[string]string{"sub": "X-User-Id"}}, keys)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// waitLoaded waits until url's keys are cached.
func waitLoaded(tb testing.TB, keys *Keys, url string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		keys.mu.Lock()
		s := keys.sets[url]
		keys.mu.Unlock()
		if s != nil && s.ring.Load() != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("%s never loaded", url)
}

func TestJWKSKidSelection(t *testing.T) {
	rs, rs2, es, ed := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(rs, rs2, es, ed))
	keys := newTestKeys(t, srv.Client())
	v := jwksVerifier(t, keys, srv.URL)

	// The first token waits for the initial fetch, which is already running.
	for _, k := range []*testKey{rs, rs2, es, ed} {
		got, err := v.Verify([]byte(sign(t, k, goodClaims(), "")), now)
		if err != nil {
			t.Fatalf("%s (kid %s): %v", k.method.Alg(), k.kid, err)
		}
		if len(got) != 1 || got[0] != (Claim{"X-User-Id", "alice"}) {
			t.Fatalf("claims = %v", got)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// The kid picks the key: rs's signature under rs2's kid is not rs2's.
	_, err := v.Verify([]byte(sign(t, rs, goodClaims(), "r2")), now)
	wantReason(t, err, ReasonSignature)
	// The kid names an EC key; the token says RS256.
	_, err = v.Verify([]byte(sign(t, rs, goodClaims(), "e1")), now)
	wantReason(t, err, ReasonAlgorithm)
	// Without a kid: the only EdDSA key serves; two RSA keys are ambiguous.
	if _, err := v.Verify([]byte(sign(t, ed, goodClaims(), "-")), now); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify([]byte(sign(t, rs, goodClaims(), "-")), now)
	wantReason(t, err, ReasonUnknownKid)
	// Claims are still checked.
	c := goodClaims()
	c["exp"] = now.Add(-time.Hour).Unix()
	_, err = v.Verify([]byte(sign(t, es, c, "")), now)
	wantReason(t, err, ReasonExpired)
}

// TestJWKSRotation: a token signed with a key the cache does not have is
// refused, fetched for at most once per minMiss, and accepted once the
// provider publishes the key.
func TestJWKSRotation(t *testing.T) {
	rs, rs2, _, ed := testKeys(t)
	// Signed before the clock matters: signing is slow under -race.
	var bogus [2][50][]byte
	for i := range bogus {
		for j := range bogus[i] {
			bogus[i][j] = []byte(sign(t, ed, goodClaims(), fmt.Sprint("bogus-", i, "-", j)))
		}
	}
	srv := newJWKSServer(t, jwksDoc(rs))
	keys := newTestKeys(t, srv.Client())
	keys.minMiss = 500 * time.Millisecond
	v := jwksVerifier(t, keys, srv.URL)
	if _, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil {
		t.Fatal(err)
	}
	rotated := []byte(sign(t, rs2, goodClaims(), ""))

	// Within minMiss of the first fetch: refused at once, no fetch.
	start := time.Now()
	_, err := v.Verify(rotated, now)
	wantReason(t, err, ReasonUnknownKid)
	srv.set(jwksDoc(rs, rs2)) // the provider rotates
	_, err = v.Verify(rotated, now)
	wantReason(t, err, ReasonUnknownKid)
	if d := time.Since(start); d > time.Second { // a wait would be MissWait, 2 s
		t.Fatalf("rate-limited refusals took %v", d)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}

	// Past minMiss, the unknown kid triggers one fetch and waits for it.
	time.Sleep(time.Until(start.Add(keys.minMiss + 50*time.Millisecond)))
	if _, err := v.Verify(rotated, now); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// A flood of made-up kids right after: refused at once, no fetch.
	flood := func(tokens [50][]byte) {
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				if _, err := v.Verify(tok, now); err == nil || err.(*Error).Reason != ReasonUnknownKid {
					t.Errorf("bogus kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood(bogus[0])
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after a flood of bad kids, want 2", n)
	}

	// The next flood, past minMiss: one fetch between them all.
	time.Sleep(keys.minMiss + 50*time.Millisecond)
	flood(bogus[1])
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches after the second flood, want 3", n)
	}

	// The withdrawn key stops verifying at the next refresh.
	srv.set(jwksDoc(rs2))
	time.Sleep(keys.minMiss + 50*time.Millisecond)
	_, err = v.Verify([]byte(sign(t, rs, goodClaims(), "bogus")), now) // triggers the refresh
	wantReason(t, err, ReasonUnknownKid)
	_, err = v.Verify([]byte(sign(t, rs, goodClaims(), "")), now)
	wantReason(t, err, ReasonUnknownKid)
}

// TestJWKSNoWaitWhenCached: while a refresh is slow, tokens whose key is
// cached are served at once.
func TestJWKSNoWaitWhenCached(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(rs))
	keys := newTestKeys(t, srv.Client())
	keys.minMiss = 0
	keys.missWait = 300 * time.Millisecond
	v := jwksVerifier(t, keys, srv.URL)
	waitLoaded(t, keys, srv.URL)

	unknown := []byte(sign(t, rs, goodClaims(), "unknown"))
	good := []byte(sign(t, rs, goodClaims(), ""))
	srv.delay.Store(int64(5 * time.Second))
	start := time.Now()
	_, err := v.Verify(unknown, now) // starts a slow refresh
	wantReason(t, err, ReasonUnknownKid)
	if d := time.Since(start); d < keys.missWait || d > keys.missWait+2*time.Second {
		t.Fatalf("unknown kid waited %v, want about %v", d, keys.missWait)
	}
	start = time.Now()
	if _, err := v.Verify(good, now); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a cached key waited %v for a refresh", d)
	}
}

// TestJWKSDownAtStart: tokens are refused with a reason that says the keys
// are missing, and accepted once the provider is up.
func TestJWKSDownAtStart(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(rs))
	srv.down.Store(true)
	keys := newTestKeys(t, srv.Client())
	v := jwksVerifier(t, keys, srv.URL)
	tok := []byte(sign(t, rs, goodClaims(), ""))
	_, err := v.Verify(tok, now)
	wantReason(t, err, ReasonKeysUnavailable)

	srv.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(tok, now)
		if err == nil {
			break
		}
		wantReason(t, err, ReasonKeysUnavailable)
		if time.Now().After(deadline) {
			t.Fatal("keys never came")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Down again: a failed refresh keeps the cached keys.
	srv.down.Store(true)
	keys.mu.Lock()
	s := keys.sets[srv.URL]
	keys.mu.Unlock()
	s.mu.Lock()
	s.lastStart = time.Time{} // let a miss refresh at once
	s.mu.Unlock()
	_, err = v.Verify([]byte(sign(t, rs, goodClaims(), "other")), now)
	wantReason(t, err, ReasonUnknownKid)
	if _, err := v.Verify(tok, now); err != nil {
		t.Fatalf("cached key after failed refreshes: %v", err)
	}
}

// TestJWKSUnreachable: nothing listens at the URL.
func TestJWKSUnreachable(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	keys := newTestKeys(t, nil)
	v := jwksVerifier(t, keys, url)
	_, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now)
	wantReason(t, err, ReasonKeysUnavailable)
}

// TestJWKSSharedAcrossConfigs: a configuration change (a new Verifier for
// the same URL) uses the cached keys and fetches nothing.
func TestJWKSSharedAcrossConfigs(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(rs))
	keys := newTestKeys(t, srv.Client())
	v1 := jwksVerifier(t, keys, srv.URL)
	waitLoaded(t, keys, srv.URL)
	v2, err := New(Config{JWKSURL: srv.URL, Audience: "billing"}, keys)
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims()
	c["aud"] = "billing"
	if _, err := v2.Verify([]byte(sign(t, rs, c, "")), now); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestJWKSRefreshAndDrop: entries refresh on schedule, and stop once no
// Verifier uses them.
func TestJWKSRefreshAndDrop(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(rs))
	keys := newTestKeys(t, srv.Client())
	keys.refresh = 20 * time.Millisecond
	func() { // v unreachable after this
		v := jwksVerifier(t, keys, srv.URL)
		waitLoaded(t, keys, srv.URL)
		time.Sleep(200 * time.Millisecond)
		if n := srv.hits.Load(); n < 3 {
			t.Fatalf("%d fetches in 200 ms with a 20 ms refresh", n)
		}
		if _, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		keys.mu.Lock()
		n := len(keys.sets)
		keys.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unused entry was never dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	hits := srv.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if n := srv.hits.Load(); n != hits {
		t.Fatalf("a dropped entry kept fetching: %d -> %d", hits, n)
	}
	// The URL comes back with a new Verifier.
	v := jwksVerifier(t, keys, srv.URL)
	if _, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil {
		t.Fatal(err)
	}
}

func TestKeysClose(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(rs))
	keys := newTestKeys(t, srv.Client())
	keys.refresh = 10 * time.Millisecond
	v := jwksVerifier(t, keys, srv.URL)
	waitLoaded(t, keys, srv.URL)
	keys.Close()
	time.Sleep(50 * time.Millisecond) // a request sent before Close may reach the server after it
	hits := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if n := srv.hits.Load(); n != hits {
		t.Fatalf("fetches after Close: %d -> %d", hits, n)
	}
	// Cached keys still serve; unknown kids are refused without waiting.
	if _, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil {
		t.Fatal(err)
	}
	unknown := []byte(sign(t, rs, goodClaims(), "new"))
	start := time.Now()
	_, err := v.Verify(unknown, now)
	wantReason(t, err, ReasonUnknownKid)
	if d := time.Since(start); d > time.Second { // a wait would be MissWait, 2 s
		t.Fatalf("waited %v after Close", d)
	}
	if _, err := New(Config{JWKSURL: srv.URL}, keys); err == nil {
		t.Fatal("New after Close succeeded")
	}
	keys.Close() // twice is harmless
}

// TestJWKSFetchLimits: oversized documents, bad statuses and redirects
// that leave http(s) are failures, and the keys stay unavailable.
func TestJWKSFetchLimits(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	doc := jwksDoc(rs)
	huge := append(append([]byte(nil), doc[:len(doc)-1]...), []byte(`,"pad":"`+strings.Repeat("x", MaxJWKSBytes)+`"}`)...)
	for name, h := range map[string]http.HandlerFunc{
		"too big":  func(w http.ResponseWriter, r *http.Request) { w.Write(huge) },
		"status":   func(w http.ResponseWriter, r *http.Request) { http.Error(w, string(doc), http.StatusNotFound) },
		"not json": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
		"no keys":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"keys":[]}`)) },
		"to file": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		},
		"redirect loop": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path+"x", http.StatusFound) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			keys := newTestKeys(t, srv.Client())
			v := jwksVerifier(t, keys, srv.URL)
			_, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now)
			wantReason(t, err, ReasonKeysUnavailable)
			keys.Close()
		})
	}

	// Just under the limit is fine.
	fits := append(append([]byte(nil), doc[:len(doc)-1]...), []byte(`,"pad":"`+strings.Repeat("x", MaxJWKSBytes-len(doc)-20)+`"}`)...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(fits) }))
	defer srv.Close()
	keys := newTestKeys(t, srv.Client())
	v := jwksVerifier(t, keys, srv.URL)
	if _, err := v.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil {
		t.Fatal(err)
	}
}

func TestRedirectPolicy(t *testing.T) {
	policy := redirectPolicy(nil)
	req := func(u string) *http.Request {
		r, err := http.NewRequest("GET", u, nil)
		must(err)
		return r
	}
	https, http1 := req("https://idp.example/a"), req("http://idp.example/a")
	if err := policy(req("https://idp.example/b"), []*http.Request{http1}); err != nil {
		t.Fatal(err)
	}
	if err := policy(req("http://idp.example/b"), []*http.Request{https}); err == nil {
		t.Fatal("https -> http allowed")
	}
	if err := policy(req("http://idp.example/b"), []*http.Request{http1, http1, http1, http1, http1}); err == nil {
		t.Fatal("sixth redirect allowed")
	}
}

func TestParseJWKS(t *testing.T) {
	rs, _, es, ed := testKeys(t)
	with := func(k *testKey, kid string, edit func(map[string]any)) map[string]any {
		m := jwkOf(k, kid)
		edit(m)
		return m
	}
	keep := func(map[string]any) {}
	docKeys := []map[string]any{
		with(rs, "ok-rsa", keep),
		with(es, "ok-ec", keep),
		with(ed, "ok-ed", func(m map[string]any) { m["alg"] = "Ed25519"; delete(m, "use") }),
		with(rs, "no-alg", func(m map[string]any) { delete(m, "alg") }),
		with(rs, "rs512", func(m map[string]any) { m["alg"] = "RS512" }),
		with(rs, "enc", func(m map[string]any) { m["use"] = "enc" }),
		with(rs, "ops", func(m map[string]any) { m["key_ops"] = []string{"encrypt"} }),
		with(rs, "small", func(m map[string]any) { m["n"] = "AQAB" }),
		with(rs, "even-e", func(m map[string]any) { m["e"] = "AQAA" }),
		with(es, "p384", func(m map[string]any) { m["crv"] = "P-384" }),
		with(es, "off-curve", func(m map[string]any) { m["y"] = m["x"] }),
		with(es, "short-x", func(m map[string]any) { m["x"] = "AAAA" }),
		with(ed, "x448", func(m map[string]any) { m["crv"] = "X25519" }),
		{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		{"kid": "no-kty"},
	}
	b, err := json.Marshal(map[string]any{"keys": append(docKeys, map[string]any{"kty": 7})})
	must(err)
	ring, skipped, err := parseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ring.kidList(), ","); got != "ok-rsa,ok-ec,ok-ed,no-alg" {
		t.Fatalf("kept %s; skipped:\n%s", got, strings.Join(skipped, "\n"))
	}
	if len(skipped) != len(docKeys)-4+1 {
		t.Fatalf("skipped %d:\n%s", len(skipped), strings.Join(skipped, "\n"))
	}
	for _, bad := range []string{``, `[]`, `{"keys":{}}`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"eA"}]}`} {
		if _, _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("parseJWKS(%s) succeeded", bad)
		}
	}
	// Too many keys: the first maxJWKSKeys are kept.
	var many []map[string]any
	for i := range maxJWKSKeys + 5 {
		many = append(many, jwkOf(ed, fmt.Sprint(i)))
	}
	b, err = json.Marshal(map[string]any{"keys": many})
	must(err)
	ring, _, err = parseJWKS(b)
	if err != nil || len(ring.keys) != maxJWKSKeys {
		t.Fatalf("many keys: %v, %d kept", err, len(ring.keys))
	}
}
