package console_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// api calls the admin API directly (the console's server mounts it too).
func (e *env) api(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func TestNodeRows(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	// Add keeps what was typed and appends an empty row of weight 1.
	v := channelForm("p", "10.0.0.1:80:3")
	v.Set("op", "add")
	st, body := b.post("/console/channels/new", v)
	if st != http.StatusOK {
		t.Fatalf("add: %d", st)
	}
	mustContain(t, body, `name="rows" value="2"`, `name="nodes[0].host" type="text" value="10.0.0.1"`, `name="nodes[1].weight" type="text" inputmode="numeric" value="1"`)
	// Remove drops that row and renumbers the rest.
	v = channelForm("p", "10.0.0.1:80:3", "10.0.0.2:80:3", "10.0.0.3:80:3")
	v.Set("op", "remove:1")
	_, body = b.post("/console/channels/new", v)
	mustContain(t, body, `name="rows" value="2"`, `value="10.0.0.3"`)
	if strings.Contains(body, `value="10.0.0.2"`) {
		t.Fatal("the removed row is still there")
	}
	if _, n, _ := e.store.ListChannels(t.Context(), storePage()); n != 0 {
		t.Fatal("adding or removing a row saved the channel")
	}

	// 200 rows are accepted; a 201st cannot be added.
	nodes := make([]string, 200)
	for i := range nodes {
		nodes[i] = "10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1) + ":8080:1"
	}
	v = channelForm("big", nodes...)
	v.Set("op", "add")
	_, body = b.post("/console/channels/new", v)
	mustContain(t, body, "A channel has at most 200 nodes.", `name="rows" value="200"`)
	v.Set("op", "save")
	st, body = b.post("/console/channels/new", v)
	if st != http.StatusOK {
		t.Fatalf("200 nodes: %d", st)
	}
	mustContain(t, body, "Created channel big", "10.0.0.200")
	// 201 rows (a crafted form) are the API's refusal, on the node table.
	v = channelForm("bigger", append(nodes, "10.0.9.9:8080:1")...)
	st, body = b.post("/console/channels/new", v)
	if st != http.StatusBadRequest {
		t.Fatalf("201 nodes: %d", st)
	}
	mustContain(t, body, `<p class="err" id="f-nodes" tabindex="-1">nodes`)
}

func TestServiceDeleteAndPublishErrors(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	_, body := b.post("/console/services/new", url.Values{"name": {"empty"}, "protocol_http": {"on"}})
	svc := lastID(t, body, "services")
	// Publishing a service without APIs is refused; the language link of
	// that page goes back to the environments page.
	st, body := b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"test"}})
	if st != http.StatusBadRequest {
		t.Fatalf("publish without APIs: %d", st)
	}
	mustContain(t, body, `id="refusal"`, `back=%2fconsole%2fservices%2f`+svc+`"`)
	// No protocol: the API's message next to the protocols.
	st, body = b.post("/console/services/new", url.Values{"name": {"noproto"}})
	if st != http.StatusBadRequest {
		t.Fatalf("no protocols: %d", st)
	}
	mustContain(t, body, `id="f-protocols-err">protocols must name http, https or both`)
	// A published service cannot be deleted: the environments are shown.
	e.api("POST", "/api/v1/services/"+svc+"/apis", `{"name":"ping","frontend":{"path":"=/ping","method":"GET"},"backend":{"type":"mock","mock":{"status":200,"body":"pong"}}}`)
	b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"release"}})
	b.get("/console/services/" + svc + "/delete")
	st, body = b.post("/console/services/"+svc+"/delete", url.Values{})
	if st != http.StatusConflict {
		t.Fatalf("delete published service: %d", st)
	}
	mustContain(t, body, "unpublish it first", ">release<", ">v1<")
	b.post("/console/services/"+svc+"/unpublish", url.Values{"environment": {"release"}})
	b.get("/console/services/" + svc + "/delete")
	_, body = b.post("/console/services/"+svc+"/delete", url.Values{})
	mustContain(t, body, "Deleted service empty")
}

func TestKeysPlansApps(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	st, body := b.post("/console/keys/new", url.Values{"name": {"bad name"}})
	if st != http.StatusBadRequest {
		t.Fatalf("bad key name: %d", st)
	}
	mustContain(t, body, `id="f-name-err"`)
	_, body = b.post("/console/keys/new", url.Values{"name": {"partner_a"}, "secret_key": {"0123456789abcdef"}})
	mustContain(t, body, "Created key partner_a", "<details><summary>Show the secret</summary><code>0123456789abcdef</code>")
	key := lastID(t, body, "keys")

	_, body = b.post("/console/plans/new", url.Values{"name": {"partner"}, "max_requests_per_second": {"50"}, "quota": {"x"}})
	mustContain(t, body, `id="f-quota-err"`)
	_, body = b.post("/console/plans/new", url.Values{"name": {"partner"}, "max_requests_per_second": {"50"}})
	mustContain(t, body, "Created usage plan partner")
	plan := lastID(t, body, "plans")
	_, body = b.post("/console/plans/"+plan+"/keys", url.Values{"key_id": {key}})
	mustContain(t, body, "Key added to the plan.", `href="/console/keys/`+key+`">partner_a</a>`)
	// The key cannot be deleted while the plan holds it.
	b.get("/console/keys/" + key + "/delete")
	st, body = b.post("/console/keys/"+key+"/delete", url.Values{})
	if st != http.StatusConflict {
		t.Fatalf("delete a key in a plan: %d", st)
	}
	mustContain(t, body, "What stands in the way")
	// Bind the plan to a service, then remove the binding.
	_, m := e.api("POST", "/api/v1/services", `{"name":"shop"}`)
	svc := m["id"].(string)
	b.get("/console/plans/" + plan)
	st, body = b.post("/console/plans/"+plan+"/bindings", url.Values{"service_id": {svc}, "environment": {"nowhere"}})
	if st != http.StatusBadRequest {
		t.Fatalf("bad environment: %d", st)
	}
	mustContain(t, body, `id="f-environment-err"`)
	_, body = b.post("/console/plans/"+plan+"/bindings", url.Values{"service_id": {svc}, "environment": {"release"}})
	mustContain(t, body, "Binding added.", `<a href="/console/services/`+svc+`">shop</a>`)
	p, _ := e.store.GetPlan(t.Context(), plan)
	if len(p.Bindings) != 1 {
		t.Fatalf("bindings: %+v", p.Bindings)
	}
	_, body = b.post("/console/plans/"+plan+"/bindings/"+p.Bindings[0].ID+"/remove", url.Values{})
	mustContain(t, body, "Binding removed.", "No bindings.")
	_, body = b.post("/console/plans/"+plan+"/keys/"+key+"/remove", url.Values{})
	mustContain(t, body, "Key removed from the plan.")
	b.get("/console/keys/" + key + "/delete")
	_, body = b.post("/console/keys/"+key+"/delete", url.Values{})
	mustContain(t, body, "Deleted key partner_a")

	_, body = b.post("/console/apps/new", url.Values{"name": {"shop_web"}, "description": {"the web shop"}})
	mustContain(t, body, "Created application shop_web", "App key", "Show the secret")
	_, body = b.get("/console/apps")
	mustContain(t, body, "shop_web", "the web shop")
}

func TestPlugins(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	v := url.Values{"name": {"office"}, "type": {"ip_control"}, "config.type": {"white_list"}, "config.blocks": {"10.0.0.0/8\n10.0.0.300\n"}}
	st, body := b.post("/console/plugins/new", v)
	if st != http.StatusBadRequest {
		t.Fatalf("bad block: %d", st)
	}
	mustContain(t, body, `id="f-config-blocks-err"`, "config.blocks[1]", "10.0.0.300")
	v.Set("config.blocks", "10.0.0.0/8\n127.0.0.1\n")
	_, body = b.post("/console/plugins/new", v)
	mustContain(t, body, "Created plugin office", "10.0.0.0/8")
	plg := lastID(t, body, "plugins")
	_, m := e.api("POST", "/api/v1/services", `{"name":"shop"}`)
	svc := m["id"].(string)
	_, body = b.post("/console/plugins/"+plg+"/bindings", url.Values{"service_id": {svc}, "environment": {"release"}})
	mustContain(t, body, "Binding added.")
	b.get("/console/plugins/" + plg + "/delete")
	st, body = b.post("/console/plugins/"+plg+"/delete", url.Values{})
	if st != http.StatusConflict {
		t.Fatalf("delete a bound plugin: %d", st)
	}
	mustContain(t, body, "What stands in the way", "release")
	pl, _ := e.store.GetPlugin(t.Context(), plg)
	b.get("/console/plugins/" + plg)
	b.post("/console/plugins/"+plg+"/bindings/"+pl.Bindings[0].ID+"/remove", url.Values{})
	b.get("/console/plugins/" + plg + "/delete")
	_, body = b.post("/console/plugins/"+plg+"/delete", url.Values{})
	mustContain(t, body, "Deleted plugin office")

	tc := url.Values{"name": {"limits"}, "type": {"traffic_control"}, "config.window": {"minute"}, "config.api_limit": {"100"}}
	_, body = b.post("/console/plugins/new", tc)
	mustContain(t, body, "Created plugin limits", `&#34;api_limit&#34;: 100`)
}

func TestCertificates(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	certPEM, keyPEM := selfSigned(t, "api.example.com")
	st, body := b.post("/console/certificates/new", url.Values{"name": {"api"}, "cert_pem": {"not pem"}, "key_pem": {keyPEM}})
	if st != http.StatusBadRequest {
		t.Fatalf("bad PEM: %d", st)
	}
	mustContain(t, body, `id="f-cert-pem-err"`)
	if strings.Contains(body, "PRIVATE KEY") {
		t.Fatal("the private key is shown again after a refusal")
	}
	_, body = b.post("/console/certificates/new", url.Values{"name": {"api"}, "cert_pem": {certPEM}, "key_pem": {keyPEM}})
	mustContain(t, body, "Created certificate api", "api.example.com")
	if strings.Contains(body, "PRIVATE KEY") {
		t.Fatal("the private key is shown")
	}
}

func selfSigned(t *testing.T, host string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func TestStatusPage(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	st, body := b.get("/console/status")
	if st != http.StatusOK {
		t.Fatalf("status: %d", st)
	}
	mustContain(t, body, `id="status"`, "Disabled APIs", "Unhealthy nodes")
}
