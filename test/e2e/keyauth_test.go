package e2e

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
	"testing"
	"time"
)

type keyPair struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	SecretID  string `json:"secret_id,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
}

type usagePlan struct {
	ID       string   `json:"id,omitempty"`
	Name     string   `json:"name"`
	RPS      int64    `json:"max_requests_per_second"`
	Quota    int64    `json:"quota"`
	KeyIDs   []string `json:"key_ids,omitempty"`
	Bindings []struct {
		ID string `json:"id"`
	} `json:"bindings,omitempty"`
}

// signKey signs a request the way a client of a key pair does, written
// here from the rule alone: each listed header as "name: value", joined by
// "\n", HMAC'd with the secret key and base64-encoded.
func signKey(alg, id, secret string, headers [][2]string) string {
	var lines, names []string
	for _, h := range headers {
		lines = append(lines, strings.ToLower(h[0])+": "+h[1])
		names = append(names, strings.ToLower(h[0]))
	}
	var mac hash.Hash
	switch alg {
	case "hmac-sha1":
		mac = hmac.New(sha1.New, []byte(secret))
	default:
		mac = hmac.New(sha256.New, []byte(secret))
	}
	mac.Write([]byte(strings.Join(lines, "\n")))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return `hmac id="` + id + `", algorithm="` + alg + `", headers="` + strings.Join(names, " ") + `", signature="` + sig + `"`
}

// TestKeyAuth: key pairs and usage plans end to end.
func TestKeyAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	sid, _ := g.admin.publishedService("keyed", api{
		Name: "orders", Frontend: frontend{Method: "GET", Path: "/orders"},
		Backend: backendCfg{Type: "mock", Mock: &mock{Body: "orders"}},
		Auth:    &authCfg{Type: "key"},
	})
	var k, stranger keyPair
	g.admin.write(http.MethodPost, "/keys", keyPair{Name: "client_a"}, http.StatusCreated, &k)
	g.admin.write(http.MethodPost, "/keys", keyPair{Name: "client_b", SecretID: "stranger_1", SecretKey: "0123456789abc"}, http.StatusCreated, &stranger)
	if k.SecretID == "" || len(k.SecretKey) < 10 {
		t.Fatalf("generated key %+v", k)
	}
	var plan usagePlan
	g.admin.write(http.MethodPost, "/usage-plans", usagePlan{Name: "basic", RPS: -1, Quota: 5}, http.StatusCreated, &plan)
	g.admin.write(http.MethodPost, "/usage-plans/"+plan.ID+"/keys", map[string][]string{"key_ids": {k.ID}}, http.StatusOK, nil)
	g.admin.write(http.MethodPost, "/usage-plans/"+plan.ID+"/bindings", binding{ServiceID: sid, Environment: "release"}, http.StatusCreated, nil)

	now := time.Now().UTC().Format(http.TimeFormat)
	signed := func(alg, id, secret, date string) []string {
		return []string{"X-Date", date, "Source", "e2e",
			"Authorization", signKey(alg, id, secret, [][2]string{{"x-date", date}, {"source", "e2e"}})}
	}
	if r := g.get("/orders", signed("hmac-sha256", k.SecretID, k.SecretKey, now)...); r.status != 200 || string(r.body) != "orders" {
		t.Fatalf("a good signature: %s", r)
	}
	// Clients of the cloud gateway sign a Date header instead.
	dated := []string{"Date", now, "Source", "e2e",
		"Authorization", signKey("hmac-sha1", k.SecretID, k.SecretKey, [][2]string{{"date", now}, {"source", "e2e"}})}
	if r := g.get("/orders", dated...); r.status != 200 {
		t.Fatalf("hmac-sha1 over a Date header: %s", r)
	}
	old := time.Now().Add(-20 * time.Minute).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		name    string
		headers []string
		want    string
	}{
		{"no signature", nil, "authorization"},
		{"wrong secret", signed("hmac-sha256", k.SecretID, "not-the-secret", now), "signature"},
		{"unknown algorithm", []string{"X-Date", now, "Authorization", `hmac id="` + k.SecretID + `", algorithm="hmac-md5", headers="x-date", signature="AAAA"`}, "algorithm"},
		{"expired date", signed("hmac-sha256", k.SecretID, k.SecretKey, old), "date"},
		{"unknown key", signed("hmac-sha256", "nobody_42", "whatever123", now), "unknown key"},
		{"key not in a bound plan", signed("hmac-sha256", stranger.SecretID, stranger.SecretKey, now), "usage plan"},
	} {
		r := g.get("/orders", c.headers...)
		e := wantGatewayError(t, r, http.StatusUnauthorized)
		if !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: message %q does not say %q failed", c.name, e.Message, c.want)
		}
		if strings.Contains(string(r.body), k.SecretKey) {
			t.Errorf("%s: the answer shows the secret", c.name)
		}
	}

	// Quota: 5 calls in all; 2 used above.
	for i := range 3 {
		if r := g.get("/orders", signed("hmac-sha256", k.SecretID, k.SecretKey, now)...); r.status != 200 {
			t.Fatalf("call %d within the quota: %s", i+3, r)
		}
	}
	wantGatewayError(t, g.get("/orders", signed("hmac-sha256", k.SecretID, k.SecretKey, now)...), http.StatusTooManyRequests)
	var use struct {
		Items []struct {
			KeyID string `json:"key_id"`
			Used  int64  `json:"used"`
			Quota int64  `json:"quota"`
		} `json:"items"`
	}
	g.admin.do(http.MethodGet, "/usage-plans/"+plan.ID+"/quota", nil, http.StatusOK, &use)
	if len(use.Items) != 1 || use.Items[0].Used != 5 || use.Items[0].Quota != 5 {
		t.Fatalf("quota use %+v, want 5 of 5", use.Items)
	}
	g.admin.do(http.MethodDelete, "/usage-plans/"+plan.ID+"/quota/"+k.ID, nil, http.StatusNoContent, nil)
	if r := g.get("/orders", signed("hmac-sha256", k.SecretID, k.SecretKey, now)...); r.status != 200 {
		t.Fatalf("after a quota reset: %s", r)
	}

	// A key in a plan and a bound plan cannot be deleted silently.
	g.admin.do(http.MethodDelete, "/keys/"+k.ID, nil, http.StatusConflict, nil)
	g.admin.do(http.MethodDelete, "/usage-plans/"+plan.ID, nil, http.StatusConflict, nil)

	// A rate: 2 per second per key.
	two := usagePlan{Name: "basic", RPS: 2, Quota: -1}
	g.admin.write(http.MethodPut, "/usage-plans/"+plan.ID, two, http.StatusOK, nil)
	limited := 0
	for range 5 {
		if r := g.get("/orders", signed("hmac-sha256", k.SecretID, k.SecretKey, now)...); r.status == 429 {
			limited++
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 5 immediate calls refused at 2 per second", limited)
	}
}
