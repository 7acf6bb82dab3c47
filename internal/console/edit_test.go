package console_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

var (
	formRe     = regexp.MustCompile(`(?s)<form\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</form>`)
	inputRe    = regexp.MustCompile(`<input\b([^>]*)>`)
	textareaRe = regexp.MustCompile(`(?s)<textarea\b([^>]*)>(.*?)</textarea>`)
	selectRe   = regexp.MustCompile(`(?s)<select\b([^>]*)>(.*?)</select>`)
	optionRe   = regexp.MustCompile(`<option\b([^>]*)>`)
	attrRe     = regexp.MustCompile(`([a-z-]+)(?:="([^"]*)")?`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// formOf is what a browser would submit of the form with id on the page
// (without its buttons): the values the page shows.
func formOf(t *testing.T, body, id string) url.Values {
	t.Helper()
	var f string
	for _, m := range formRe.FindAllStringSubmatch(body, -1) {
		if m[1] == id {
			f = m[2]
		}
	}
	if f == "" {
		t.Fatalf("no form %q on the page:\n%s", id, body)
	}
	v := url.Values{}
	for _, m := range inputRe.FindAllStringSubmatch(f, -1) {
		a := attrs(m[1])
		_, checked := a["checked"]
		switch a["type"] {
		case "checkbox", "radio":
			if checked {
				v.Add(a["name"], cmpOr(a["value"], "on"))
			}
		default:
			v.Add(a["name"], a["value"])
		}
	}
	for _, m := range textareaRe.FindAllStringSubmatch(f, -1) {
		v.Add(attrs(m[1])["name"], html.UnescapeString(m[2]))
	}
	for _, m := range selectRe.FindAllStringSubmatch(f, -1) {
		name, chosen := attrs(m[1])["name"], ""
		for i, o := range optionRe.FindAllStringSubmatch(m[2], -1) {
			a := attrs(o[1])
			if _, sel := a["selected"]; sel || i == 0 {
				chosen = a["value"]
			}
		}
		v.Add(name, chosen)
	}
	v.Del("csrf")
	return v
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestChannelEditAllFields: the form shows every field the API has, TLS
// and the health-check thresholds included; saving it as shown changes
// nothing, a change is saved, and a bad value is refused at its input.
func TestChannelEditAllFields(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	st, m := e.api("POST", "/api/v1/channels", `{"name":"secure","network":"idc-sh","scheme":"https",
		"nodes":[{"host":"10.0.0.1","port":443,"weight":1}],"tls":{"server_name":"legacy.example"},
		"health_check":{"enable_passive_check":true,"http_failure_threshold":3,"unhealthy_timeout":45,
		"unhealthy_http_status":[502,503],"active_request_headers":{"X-Probe":"console"}}}`)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, m)
	}
	id := m["id"].(string)
	b := e.browser()
	b.signIn()
	_, body := b.get("/console/channels/" + id)
	mustContain(t, body, `class="warning"`, `network &#34;idc-sh&#34; is not among this instance&#39;s networks`,
		"legacy.example", "HTTP failures 3")
	_, body = b.get("/console/channels/" + id + "/edit")
	mustContain(t, body, `id="hc-custom" name="hc_mode" value="custom" checked`, `value="10.0.0.1"`)
	v := formOf(t, body, "channel-form")
	for k, want := range map[string]string{"tls.server_name": "legacy.example", "health_check.http_failure_threshold": "3",
		"health_check.unhealthy_timeout": "45", "health_check.unhealthy_http_status": "502, 503",
		"health_check.active_request_headers": "X-Probe: console\n", "health_check.tcp_failure_threshold": "1"} {
		if v.Get(k) != want {
			t.Errorf("%s shows %q, want %q", k, v.Get(k), want)
		}
	}
	before, _ := e.store.GetChannel(t.Context(), id)
	v.Set("op", "save")
	_, body = b.post("/console/channels/"+id+"/edit", v)
	mustContain(t, body, "Saved channel secure")
	after, _ := e.store.GetChannel(t.Context(), id)
	if *after.TLS != *before.TLS || *after.HealthCheck.HTTPFailureThreshold != 3 || *after.HealthCheck.UnhealthyTimeout != 45 ||
		after.HealthCheck.ActiveRequestHeaders["X-Probe"] != "console" || len(after.HealthCheck.UnhealthyHTTPStatus) != 2 {
		t.Fatalf("saving the form as shown changed the channel: tls %+v hc %+v", after.TLS, after.HealthCheck)
	}
	// A change of each section is saved.
	b.get("/console/channels/" + id + "/edit")
	v.Set("health_check.timeout_threshold", "7")
	v.Set("tls.insecure_skip_verify", "on")
	v.Set("health_check.enable_active_check", "on")
	v.Set("health_check.active_check_http_path", "/healthz")
	b.post("/console/channels/"+id+"/edit", v)
	after, _ = e.store.GetChannel(t.Context(), id)
	if !after.TLS.InsecureSkipVerify || *after.HealthCheck.TimeoutThreshold != 7 || !after.HealthCheck.EnableActiveCheck ||
		after.HealthCheck.ActiveCheckHTTPPath != "/healthz" {
		t.Fatalf("edit missed fields: tls %+v hc %+v", after.TLS, after.HealthCheck)
	}
	// Bad values are refused at their input, and change nothing.
	for field, bad := range map[string]string{"tls.ca_pem": "not a certificate", "health_check.tcp_failure_threshold": "300",
		"health_check.healthy_http_status": "200, 99", "health_check.active_check_interval": "99999"} {
		b.get("/console/channels/" + id + "/edit")
		w := url.Values{}
		for k, x := range v {
			w[k] = x
		}
		w.Set(field, bad)
		st, body = b.post("/console/channels/"+id+"/edit", w)
		if st != http.StatusBadRequest {
			t.Fatalf("%s=%q: %d", field, bad, st)
		}
		fid := "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(field)
		mustContain(t, body, `id="`+fid+`-err">`+strings.SplitN(field, "[", 2)[0], `href="#`+fid+`"`)
	}
	// tls on a plain-HTTP channel is refused at the TLS section.
	v.Set("scheme", "http")
	b.get("/console/channels/" + id + "/edit")
	_, body = b.post("/console/channels/"+id+"/edit", v)
	mustContain(t, body, `id="f-tls-err">tls applies to https and grpcs channels only`)
	if ch, _ := e.store.GetChannel(t.Context(), id); ch.Scheme != "https" || *ch.HealthCheck.TimeoutThreshold != 7 {
		t.Fatalf("a refused edit changed the channel: %+v", ch)
	}
	// Back to the implicit check.
	v.Set("scheme", "https")
	v.Set("hc_mode", "implicit")
	b.get("/console/channels/" + id + "/edit")
	b.post("/console/channels/"+id+"/edit", v)
	if ch, _ := e.store.GetChannel(t.Context(), id); ch.HealthCheck != nil {
		t.Fatal("health_check kept after choosing the implicit check")
	}
}

// TestServiceEdit: the form shows the service with its domains; a change
// (a second domain, forced to HTTPS, with a certificate) is saved; a bad
// host is refused next to its row and changes nothing.
func TestServiceEdit(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	certPEM, keyPEM := selfSigned(t, "shop.example.com")
	_, cm := e.api("POST", "/api/v1/certificates", jsonString(map[string]string{"name": "shop", "cert_pem": certPEM, "key_pem": keyPEM}))
	cert := cm["id"].(string)
	_, m := e.api("POST", "/api/v1/services", `{"name":"shop","description":"old","protocols":["https"],
		"domains":[{"host":"api.example.com","environment":"release"}]}`)
	svc := m["id"].(string)
	b := e.browser()
	b.signIn()
	_, body := b.get("/console/services/" + svc)
	mustContain(t, body, `id="edit-service"`)
	_, body = b.get("/console/services/" + svc + "/edit")
	v := formOf(t, body, "service-form")
	if v.Get("name") != "shop" || v.Get("description") != "old" || v.Get("protocol_http") != "" || v.Get("protocol_https") != "on" ||
		v.Get("domains[0].host") != "api.example.com" || v.Get("domains[0].environment") != "release" || v.Get("domain_rows") != "2" {
		t.Fatalf("edit form: %v", v)
	}
	mustContain(t, body, `<option value="`+cert+`">shop (shop.example.com)</option>`)
	v.Set("description", "the web shop")
	v.Set("protocol_http", "on")
	v.Set("domains[1].host", "shop.example.com")
	v.Set("domains[1].certificate_id", cert)
	v.Set("domains[1].force_https", "on")
	v.Set("op", "save")
	_, body = b.post("/console/services/"+svc+"/edit", v)
	mustContain(t, body, "Saved service shop", "the web shop", "shop.example.com")
	s, _ := e.store.GetService(t.Context(), svc)
	if s.Description != "the web shop" || len(s.Protocols) != 2 || len(s.Domains) != 2 ||
		s.Domains[1].CertificateID != cert || !s.Domains[1].ForceHTTPS || s.Domains[0].Environment != "release" {
		t.Fatalf("saved: %+v", s)
	}
	// A row is added with the button, and nothing is saved.
	_, body = b.get("/console/services/" + svc + "/edit")
	v = formOf(t, body, "service-form")
	v.Set("op", "add")
	_, body = b.post("/console/services/"+svc+"/edit", v)
	mustContain(t, body, `name="domain_rows" value="4"`)
	// A bad host on the second row, after an empty row: the message is
	// at that row, and the service is as it was.
	v = formOf(t, body, "service-form")
	v.Set("domains[1].host", "")
	v.Set("domains[1].certificate_id", "")
	v.Set("domains[1].force_https", "")
	v.Set("domains[2].host", "not a host!")
	v.Set("description", "changed")
	v.Set("op", "save")
	st, body := b.post("/console/services/"+svc+"/edit", v)
	if st != http.StatusBadRequest {
		t.Fatalf("bad host: %d", st)
	}
	mustContain(t, body, `id="f-domains-2-host-err">domains[2].host must be a DNS name`, `href="#f-domains-2-host"`)
	if s2, _ := e.store.GetService(t.Context(), svc); s2.Description != "the web shop" || len(s2.Domains) != 2 {
		t.Fatalf("a refused edit changed the service: %+v", s2)
	}
}

// TestAPIEdit: the wizard edits an API: the form holds its values; the
// backend moves from a channel to a URL; JWT authentication is set from
// step 1; bad values are refused on the step that has them, and change
// nothing.
func TestAPIEdit(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	_, m := e.api("POST", "/api/v1/channels", `{"name":"pool","network":"default","scheme":"http","nodes":[{"host":"10.0.0.1","port":80,"weight":1}]}`)
	ch := m["id"].(string)
	_, m = e.api("POST", "/api/v1/services", `{"name":"shop"}`)
	svc := m["id"].(string)
	_, m = e.api("POST", "/api/v1/services/"+svc+"/apis", `{"name":"orders","frontend":{"path":"/orders/{id}","method":"GET"},
		"backend":{"type":"channel","channel_id":"`+ch+`","path":"/v1/orders/{id}","timeout":20}}`)
	api := m["id"].(string)
	apiPath := "/api/v1/services/" + svc + "/apis/" + api
	read := func() config.API {
		a, err := e.store.GetAPI(t.Context(), svc, api)
		if err != nil {
			t.Fatal(err)
		}
		return *a
	}
	b := e.browser()
	b.signIn()
	_, body := b.get("/console/services/" + svc)
	mustContain(t, body, `href="/console/services/`+svc+`/apis/`+api+`/edit"`)
	_, body = b.get("/console/services/" + svc + "/apis/" + api + "/edit")
	mustContain(t, body, "Edit API", `id="wizard-save-1"`)
	v := formOf(t, body, "api-wizard")
	if v.Get("name") != "orders" || v.Get("frontend.path") != "/orders/{id}" || v.Get("backend.channel_id") != ch ||
		v.Get("backend.timeout") != "20" || v.Get("auth.type") != "none" || v.Get("protocol") != "http" {
		t.Fatalf("step 1: %v", v)
	}
	// Step 2 shows the backend; it becomes a URL.
	v.Set("op", "next")
	_, body = b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	v = formOf(t, body, "api-wizard")
	if v.Get("backend.type") != "channel" || v.Get("backend.channel_id") != ch || v.Get("backend.path") != "/v1/orders/{id}" {
		t.Fatalf("step 2: %v", v)
	}
	v.Set("backend.type", "url")
	v.Set("backend.url", "https://orders.internal:8443")
	v.Set("backend.tls.server_name", "orders.internal")
	v.Set("op", "save")
	_, body = b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	mustContain(t, body, "Saved API orders", "https://orders.internal:8443/v1/orders/{id}")
	if a := read(); a.Backend.Type != "url" || a.Backend.URL != "https://orders.internal:8443" || a.Backend.ChannelID != "" ||
		a.Backend.TLS == nil || a.Backend.TLS.ServerName != "orders.internal" || *a.Backend.Timeout != 20 {
		t.Fatalf("backend: %+v", a.Backend)
	}
	// A step-2 value out of range is refused on step 2.
	_, body = b.get("/console/services/" + svc + "/apis/" + api + "/edit")
	v = formOf(t, body, "api-wizard")
	v.Set("backend.timeout", "99999")
	v.Set("op", "save")
	st, body := b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	if st != http.StatusBadRequest {
		t.Fatalf("timeout 99999: %d", st)
	}
	mustContain(t, body, `id="f-backend-timeout-err">backend.timeout must be 1-1800 seconds`, `aria-current="step">2.`)
	// JWT from step 1: no key source is refused at the JWT section.
	v.Set("backend.timeout", "20")
	v.Set("auth.type", "jwt")
	st, body = b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	if st != http.StatusBadRequest {
		t.Fatalf("jwt without a key: %d", st)
	}
	mustContain(t, body, `id="f-auth-jwt-err">auth.jwt`, `aria-current="step">1.`)
	v = formOf(t, body, "api-wizard")
	v.Set("auth.jwt.jwks_url", "https://id.example.com/jwks.json")
	v.Set("auth.jwt.issuer", "https://id.example.com/")
	v.Set("auth.jwt.claim_headers", "sub: X-User-Id\nhttps://example.com/role: X-Role")
	v.Set("op", "save")
	_, body = b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	mustContain(t, body, "Saved API orders", "JSON Web Token", "https://id.example.com/jwks.json", "sub → X-User-Id")
	a := read()
	if j := a.Auth.JWT; a.Auth.Type != "jwt" || j == nil || j.JWKSURL != "https://id.example.com/jwks.json" ||
		j.ClaimHeaders["https://example.com/role"] != "X-Role" || j.Issuer != "https://id.example.com/" {
		t.Fatalf("auth: %+v %+v", a.Auth, a.Auth.JWT)
	}
	// A reserved header for a claim is refused next to the claims.
	_, body = b.get("/console/services/" + svc + "/apis/" + api + "/edit")
	v = formOf(t, body, "api-wizard")
	if v.Get("auth.jwt.claim_headers") != "https://example.com/role: X-Role\nsub: X-User-Id" {
		t.Fatalf("claims shown: %q", v.Get("auth.jwt.claim_headers"))
	}
	v.Set("auth.jwt.claim_headers", "sub: Authorization")
	v.Set("op", "save")
	_, body = b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	mustContain(t, body, `id="f-auth-jwt-claim-headers-err">auth.jwt.claim_headers[`)
	if read().Auth.JWT.ClaimHeaders["sub"] != "X-User-Id" {
		t.Fatal("a refused edit changed the API")
	}
	// A mock backend with its headers, from the admin API's view.
	v.Set("auth.jwt.claim_headers", "")
	v.Set("auth.type", "key")
	v.Set("backend.type", "mock")
	v.Set("backend.mock.status", "418")
	v.Set("backend.mock.headers", "Content-Type: application/json\nX-Mock: yes")
	v.Set("backend.mock.body", `{"ok":true}`)
	b.post("/console/services/"+svc+"/apis/"+api+"/edit", v)
	_, am := e.api("GET", apiPath, "")
	mock, _ := am["backend"].(map[string]any)["mock"].(map[string]any)
	if am["auth"].(map[string]any)["type"] != "key" || mock == nil || mock["status"] != float64(418) ||
		mock["headers"].(map[string]any)["X-Mock"] != "yes" || mock["body"] != `{"ok":true}` {
		t.Fatalf("mock: %v", am)
	}
}

// TestAppBindings: an application is bound to an API in an environment
// on the API's page, and unbound.
func TestAppBindings(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	_, m := e.api("POST", "/api/v1/apps", `{"name":"shop_web"}`)
	app := m["id"].(string)
	_, m = e.api("POST", "/api/v1/services", `{"name":"shop"}`)
	svc := m["id"].(string)
	_, m = e.api("POST", "/api/v1/services/"+svc+"/apis", `{"name":"orders","frontend":{"path":"/orders","method":"GET"},
		"backend":{"type":"mock","mock":{"status":200}},"auth":{"type":"app"}}`)
	api := m["id"].(string)
	page := "/console/services/" + svc + "/apis/" + api
	b := e.browser()
	b.signIn()
	_, body := b.get(page)
	mustContain(t, body, "The applications that may call this API", `id="api-apps-empty"`, `<option value="`+app+`">shop_web</option>`)
	st, body := b.post(page+"/apps", url.Values{"app_id": {app}, "environment": {"nowhere"}})
	if st != http.StatusBadRequest {
		t.Fatalf("bad environment: %d", st)
	}
	mustContain(t, body, `id="f-environment-err">environment must be one of test, prepub, release`)
	_, body = b.post(page+"/apps", url.Values{"app_id": {app}, "environment": {"test"}})
	mustContain(t, body, "Application bound.", `id="api-apps"`, `<a href="/console/apps/`+app+`">shop_web</a>`, ">test<")
	_, lm := e.api("GET", "/api/v1/services/"+svc+"/apis/"+api+"/apps", "")
	items := lm["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("bindings: %v", lm)
	}
	bid := items[0].(map[string]any)["id"].(string)
	_, body = b.post(page+"/apps/"+bid+"/remove", url.Values{})
	mustContain(t, body, "Application unbound.", `id="api-apps-empty"`)
}

// TestResourceEdits: keys, usage plans, applications, plugins and
// certificates: the edit form shows the stored values, a change is saved
// (read back through the admin API), a bad value is refused next to its
// field and changes nothing.
func TestResourceEdits(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	certPEM, keyPEM := selfSigned(t, "a.example.com")
	cert2, key2 := selfSigned(t, "b.example.com")
	for _, c := range []struct {
		name, apiPath, create, nav, formID string
		shows                              map[string]string // field: value the edit form shows
		change                             map[string]string
		check                              func(obj map[string]any) bool
		bad                                map[string]string // one bad value
		badErr                             string            // what is shown at the field
	}{
		{name: "key", apiPath: "/api/v1/keys", nav: "keys", formID: "key-form",
			create: `{"name":"partner","secret_id":"partner_id_1","secret_key":"0123456789abc"}`,
			shows:  map[string]string{"name": "partner", "secret_id": "partner_id_1", "secret_key": ""},
			change: map[string]string{"name": "partner_b"},
			check:  func(o map[string]any) bool { return o["name"] == "partner_b" && o["secret_key"] == "0123456789abc" },
			bad:    map[string]string{"secret_id": "ab"}, badErr: `id="f-secret-id-err">secret_id must be 5-50`},
		{name: "plan", apiPath: "/api/v1/usage-plans", nav: "plans", formID: "plan-form",
			create: `{"name":"gold","max_requests_per_second":50}`,
			shows:  map[string]string{"name": "gold", "max_requests_per_second": "50", "quota": "-1"},
			change: map[string]string{"quota": "1000"},
			check: func(o map[string]any) bool {
				return o["quota"] == float64(1000) && o["max_requests_per_second"] == float64(50)
			},
			bad: map[string]string{"max_requests_per_second": "0"}, badErr: `id="f-max-requests-per-second-err">max_requests_per_second must be -1`},
		{name: "app", apiPath: "/api/v1/apps", nav: "apps", formID: "app-form",
			create: `{"name":"web","description":"old"}`,
			shows:  map[string]string{"name": "web", "description": "old"},
			change: map[string]string{"description": "the web shop"},
			check:  func(o map[string]any) bool { return o["description"] == "the web shop" },
			bad:    map[string]string{"name": "bad name"}, badErr: `id="f-name-err">name must be 1-50`},
		{name: "plugin", apiPath: "/api/v1/plugins", nav: "plugins", formID: "plugin-form",
			create: `{"name":"limits","type":"traffic_control","config":{"window":"minute","api_limit":100,"special_ips":[{"ip":"10.0.0.9","limit":5}]}}`,
			shows: map[string]string{"name": "limits", "type": "traffic_control", "config.window": "minute", "config.api_limit": "100",
				"config.special_ips": "10.0.0.9 5", "config.app_limit": ""},
			change: map[string]string{"config.special_apps": "app-0123456789abcdef 7", "config.api_limit": "200"},
			check: func(o map[string]any) bool {
				c := o["config"].(map[string]any)
				return c["api_limit"] == float64(200) && len(c["special_ips"].([]any)) == 1 && len(c["special_apps"].([]any)) == 1
			},
			bad: map[string]string{"config.special_ips": "10.0.0.9 5\n10.0.0.300 1"}, badErr: `id="f-config-special-ips-err">config.special_ips[1].ip`},
		{name: "certificate", apiPath: "/api/v1/certificates", nav: "certificates", formID: "certificate-form",
			create: jsonString(map[string]string{"name": "site", "cert_pem": certPEM, "key_pem": keyPEM}),
			shows:  map[string]string{"name": "site", "cert_pem": certPEM, "key_pem": ""},
			change: map[string]string{"cert_pem": cert2, "key_pem": key2},
			check: func(o map[string]any) bool {
				h := o["hosts"].([]any)
				return len(h) == 1 && h[0] == "b.example.com"
			},
			// The first certificate's key does not match the second.
			bad: map[string]string{"key_pem": keyPEM}, badErr: `id="f-key-pem-err">`},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, m := e.api("POST", c.apiPath, c.create)
			if st != http.StatusCreated {
				t.Fatalf("create: %d %v", st, m)
			}
			id := m["id"].(string)
			edit := "/console/" + c.nav + "/" + id + "/edit"
			_, body := b.get(edit)
			v := formOf(t, body, c.formID)
			for k, want := range c.shows {
				if got := v.Get(k); got != want {
					t.Errorf("%s shows %q, want %q", k, got, want)
				}
			}
			if c.name == "certificate" {
				// The key is asked again: a certificate is replaced whole.
				v.Set("key_pem", keyPEM)
			}
			for k, x := range c.change {
				v.Set(k, x)
			}
			st, body = b.post(edit, v)
			if st != http.StatusOK {
				t.Fatalf("save: %d\n%s", st, body)
			}
			mustContain(t, body, "Saved ")
			_, obj := e.api("GET", c.apiPath+"/"+id, "")
			if !c.check(obj) {
				t.Fatalf("not saved: %v", obj)
			}
			_, body = b.get(edit)
			v = formOf(t, body, c.formID)
			for k, x := range c.bad {
				v.Set(k, x)
			}
			st, body = b.post(edit, v)
			if st != http.StatusBadRequest {
				t.Fatalf("bad value: %d\n%s", st, body)
			}
			mustContain(t, body, c.badErr, `aria-invalid="true"`)
			if strings.Contains(body, "PRIVATE KEY") || strings.Contains(body, "0123456789abc<") || strings.Contains(body, `"0123456789abc"`) {
				t.Fatal("a secret is shown again")
			}
			_, again := e.api("GET", c.apiPath+"/"+id, "")
			if jsonString(again) != jsonString(obj) {
				t.Fatalf("a refused edit changed the object:\n%v\n%v", obj, again)
			}
			// The pages render in Chinese too, with every string translated.
			b.get("/console/lang?to=zh&back=/console/")
			for _, p := range []string{edit, "/console/" + c.nav, "/console/" + c.nav + "/new", "/console/" + c.nav + "?q=x"} {
				if st, _ := b.get(p); st != http.StatusOK {
					t.Fatalf("%s in Chinese: %d", p, st)
				}
			}
			b.get("/console/lang?to=en&back=/console/")
		})
	}
}

// TestListFilter: lists filter by name (and id, description…), page the
// matches, and say when nothing matches.
func TestListFilter(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	for _, n := range []string{"partner_a", "partner_b", "internal"} {
		e.api("POST", "/api/v1/keys", `{"name":"`+n+`"}`)
	}
	b := e.browser()
	b.signIn()
	_, body := b.get("/console/keys?q=PARTNER")
	mustContain(t, body, `role="search"`, `value="PARTNER"`, "partner_a", "partner_b", "2 in all")
	if strings.Contains(body, ">internal<") {
		t.Fatal("the filter kept a key that does not match")
	}
	_, body = b.get("/console/keys?q=zzz")
	mustContain(t, body, `id="list-empty">Nothing matches “zzz”.`)
	_, body = b.get("/console/channels?q=zzz")
	mustContain(t, body, `id="list-empty">Nothing matches “zzz”.`)
}

// TestChineseErrors: in Chinese, the admin API's English message comes
// after a Chinese lead-in, marked as English, at the field and above the
// form.
func TestChineseErrors(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	b.get("/console/lang?to=zh&back=/console/keys")
	st, body := b.post("/console/keys/new", url.Values{"name": {"bad name"}})
	if st != http.StatusBadRequest {
		t.Fatalf("bad name: %d", st)
	}
	mustContain(t, body, `<p class="err" id="f-name-err">取值无效，管理 API 的说明（英文）： <span lang="en">name must be 1-50`,
		`网关拒绝了此修改：</strong> 取值无效，管理 API 的说明（英文）： <span lang="en">name must be`)
	_, body = b.get("/console/keys/key-0000000000000000")
	mustContain(t, body, `对象不存在，管理 API 的说明（英文）： <span lang="en">`)
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
