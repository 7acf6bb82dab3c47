package declarative

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// pool is a valid channel, to refer to.
const pool = `{name: pool, network: n, scheme: http, nodes: [{host: 10.0.0.1, port: 80, weight: 1}]}`

// TestParseProblems: each kind of error, with its exact path, message and
// line; a document with any problem is refused whole.
func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		env  map[string]string
		want []Problem
	}{
		{name: "unknown field", doc: `
channels:
  - name: a
    network: n
    schema: http
`, want: []Problem{{"channels[0].schema", "unknown field (did you mean scheme?)", 5}}},
		{name: "unknown top-level field", doc: `
channel: []
`, want: []Problem{{"channel", "unknown field (did you mean channels?)", 2}}},
		{name: "unknown nested field", doc: `
channels:
  - name: a
    network: n
    scheme: https
    nodes: [{host: h, port: 1, weight: 1}]
    tls: {verify: false}
`, want: []Problem{{"channels[0].tls.verify", "unknown field", 7}}},
		{name: "unknown plugin config field", doc: `
plugins:
  - {name: p, type: ip_control, config: {type: white_list, block: [10.0.0.0/8]}}
`, want: []Problem{{"plugins[0].config.block", "unknown field (did you mean blocks?)", 3}}},
		{name: "an id where a name goes", doc: `
services:
  - name: shop
    apis:
      - {name: a, frontend: {path: /a, method: GET}, backend: {type: channel, channel_id: ch-1}}
`, want: []Problem{{"services[0].apis[0].backend.channel_id", "unknown field (a document refers to objects by name: did you mean channel?)", 5}}},
		{name: "bad reference", doc: `
channels:
  - ` + pool + `
services:
  - name: shop
    apis:
      - {name: a, frontend: {path: /a, method: GET}, backend: {type: channel, channel: pool}}
      - {name: b, frontend: {path: /b, method: GET}, backend: {type: channel, channel: x}}
`, want: []Problem{{"services[0].apis[1].backend.channel", `no channel "x"`, 8}}},
		{name: "missing variable", doc: `
keys:
  - {name: partner_a, secret_id: partner_a_id, secret_key: "${PARTNER_A_SECRET}"}
`, want: []Problem{{"keys[0].secret_key", "variable PARTNER_A_SECRET is not set", 3}}},
		{name: "invalid field value", doc: `
channels:
  - {name: a, network: n, scheme: http, nodes: [{host: 10.0.0.1, port: 80, weight: 1}]}
  - {name: b, network: n, scheme: http, nodes: [{host: 10.0.0.1, port: 80, weight: 1}]}
  - name: c
    network: n
    scheme: http
    nodes:
      - {host: 10.0.0.1, port: 80800, weight: 1}
`, want: []Problem{{"channels[2].nodes[0].port", "must be 1-65535", 9}}},
		{name: "duplicate names", doc: `
channels:
  - ` + pool + `
  - ` + pool + `
`, want: []Problem{{"channels[1].name", `"pool" is already the name of channels[0]`, 4}}},
		{name: "channel without a name", doc: `
channels:
  - {network: n, scheme: http, nodes: [{host: 10.0.0.1, port: 80, weight: 1}]}
`, want: []Problem{{"channels[0].name", "is required: a channel in a document must have a name, by which APIs refer to it", 3}}},
		{name: "wrong type", doc: `
channels:
  - {name: a, network: n, scheme: http, nodes: [{host: 10.0.0.1, port: "80", weight: 1}]}
`, want: []Problem{{"channels[0].nodes[0].port", "must be an integer, not a string", 3}}},
		{name: "object for a list", doc: `
channels: {name: a}
`, want: []Problem{{"channels", "must be a list, not an object", 2}}},
		{name: "repeated key", doc: `
channels:
  - name: a
    name: b
`, want: []Problem{{"channels[0].name", "repeats a key given earlier in the object", 4}}},
		{name: "empty", doc: "# nothing\n", want: []Problem{{"", "the document is empty (an empty configuration is written {})", 0}}},
		{name: "two documents", doc: "{}\n---\n{}\n", want: []Problem{{"", "the input holds more than one YAML document", 2}}},
		{name: "YAML syntax", doc: "channels:\n  - name: [a\n", want: []Problem{{"", "invalid YAML: did not find expected ',' or ']'", 1}}},
		{name: "unnamed references", doc: `
certificates: []
services:
  - name: shop
    domains: [{host: a.example.com, certificate: nope}]
    environments: [release, staging]
keys: [{name: k}]
usage_plans:
  - {name: p, keys: [k, nokey], bindings: [{service: nosvc, environment: test}, {service: shop, environment: test, apis: [noapi]}]}
applications:
  - {name: app, bindings: [{service: shop, environment: release, api: noapi}]}
plugins:
  - {name: tc, type: traffic_control, config: {window: minute, special_apps: [{app: noapp, limit: 1}]}}
`, want: []Problem{
			{"services[0].domains[0].certificate", `no certificate "nope"`, 5},
			{"services[0].environments[1]", "must be one of test, prepub, release", 6},
			{"services[0].environments", "a service is published with its APIs: list at least one in apis", 6},
			{"usage_plans[0].keys[1]", `no key "nokey"`, 9},
			{"usage_plans[0].bindings[0].service", `no service "nosvc"`, 9},
			{"usage_plans[0].bindings[1].apis[0]", `service "shop" has no API "noapi"`, 9},
			{"applications[0].bindings[0].api", `service "shop" has no API "noapi"`, 11},
			{"plugins[0].config.special_apps[0].app", `no application "noapp"`, 13},
		}},
		{name: "config rules with document names", doc: `
channels:
  - ` + pool + `
services:
  - name: shop
    apis:
      - {name: a, frontend: {path: /a, method: GET}, backend: {type: channel}}
      - {name: b, frontend: {path: /b, method: GET}, backend: {type: url, url: "http://x", channel: pool}}
      - {name: c, frontend: {path: "/c/{id}", method: GET}, backend: {type: mock, mock: {}}}
      - {name: d, frontend: {path: "/c/{x}", method: ANY}, backend: {type: mock, mock: {}}}
      - {name: e, frontend: {path: /e, method: GET}, backend: {type: mock, mock: {}}, auth: {type: jwt}}
usage_plans:
  - {name: p1, bindings: [{service: shop, environment: test, apis: [c]}]}
  - {name: p2, bindings: [{service: shop, environment: test, apis: [b, c]}]}
  - {name: p3, bindings: [{service: shop, environment: release, apis: [a, a]}]}
`, want: []Problem{
			{"services[0].apis[0].backend.channel", "is required for a channel backend", 7},
			{"services[0].apis[1].backend.type", "url backends take url only, not channel or mock", 8},
			{"services[0].apis[3].frontend.path", "ANY /c/{x} serves the same requests as apis[2] (GET /c/{id})", 10},
			{"services[0].apis[4].auth.jwt", `is required for auth type jwt: {"public_key_pem" or "jwks_url", "issuer", "audience", "claim_headers"}`, 11},
			{"usage_plans[1].bindings[0]", "shop/test/c is already bound at usage_plans[0].bindings[0] (one usage plan per API)", 14},
			{"usage_plans[2].bindings[0].apis[1]", "must be a distinct API name", 15},
		}},
		{name: "domain on two services", doc: `
services:
  - {name: a, domains: [{host: API.example.com}]}
  - {name: b, domains: [{host: api.example.com.}]}
`, want: []Problem{{"services[1].domains[0].host", "api.example.com is already a domain at services[0].domains[0].host", 4}}},
		{name: "secret_id twice", doc: `
keys:
  - {name: a, secret_id: same_id}
  - {name: b, secret_id: same_id}
`, want: []Problem{{"keys[1].secret_id", "is already the secret_id of keys[0]", 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.TrimPrefix(tc.doc, "\n")
			_, err := Parse([]byte(text), "", envLookup(tc.env))
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DocumentError", err)
			}
			got := de.Problems
			// The cases start with a newline, dropped: lines count from
			// the first line of the case.
			for i := range tc.want {
				if tc.want[i].Line > 0 && text != tc.doc {
					tc.want[i].Line--
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", showProblems(got), showProblems(tc.want))
			}
		})
	}
}

func showProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String())
		if p.Line > 0 {
			b.WriteString(" (line " + itoa(p.Line) + ")")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestDocumentErrorText: the error reads one problem per line.
func TestDocumentErrorText(t *testing.T) {
	_, err := Parse([]byte("channels: [{name: a}, {name: a}]\nkeys: [{name: 'b c'}]\n"), "", nil)
	want := "channels[0].network: is required\n" +
		`channels[1].name: "a" is already the name of channels[0]` + "\n" +
		"keys[0].name: must be 1-50 of A-Z a-z 0-9 _"
	if err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant:\n%s", err, want)
	}
}

// TestEmptyObject: {} is an empty configuration, and so is an empty
// JSON document.
func TestEmptyObject(t *testing.T) {
	for _, in := range []string{"{}", "{}\n", " {\t}\n", "---\n{}\n"} {
		d, err := Parse([]byte(in), "", nil)
		if err != nil || !reflect.DeepEqual(d, &Document{}) {
			t.Errorf("Parse(%q) = %+v, %v", in, d, err)
		}
	}
}

// TestJSONInput: a JSON document with tabs (which YAML refuses as
// indentation) reads as JSON.
func TestJSONInput(t *testing.T) {
	in := "{\n\t\"channels\": [\n\t\t{\"name\": \"a\", \"network\": \"n\", \"scheme\": \"http\",\n\t\t \"nodes\": [{\"host\": \"10.0.0.1\", \"port\": 80, \"weight\": 1}]}\n\t]\n}\n"
	d := parseT(t, in, nil)
	if len(d.Channels) != 1 || d.Channels[0].Name != "a" || *d.Channels[0].Retries != config.DefaultRetries {
		t.Errorf("doc = %+v", d)
	}
	// JSON indented with spaces keeps its lines in problems.
	_, err := Parse([]byte("{\n  \"channels\": [\n    {\"name\": \"a\", \"port\": 1}\n  ]\n}\n"), "", nil)
	var de *DocumentError
	if !errors.As(err, &de) || !reflect.DeepEqual(de.Problems, []Problem{{"channels[0].port", "unknown field", 3}}) {
		t.Errorf("err = %#v", err)
	}
}

// TestPlanProblems: what only the gateway shows is a problem of the plan,
// named by object names.
func TestPlanProblems(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	legacy := &config.Service{Name: "legacy"}
	holder := &config.Service{Name: "holder", Domains: []config.Domain{{Host: "api.example.com"}}}
	for _, svc := range []*config.Service{legacy, holder} {
		must(t, config.ValidateService(svc))
		must(t, s.CreateService(ctx, svc))
	}
	k := &config.Key{Name: "old", SecretID: "shared_id"}
	must(t, s.CreateKey(ctx, k))
	plug := &config.Plugin{Name: "old_ip", Type: "ip_control", Config: []byte(`{"type":"black_list","blocks":["10.0.0.1"]}`)}
	must(t, s.CreatePlugin(ctx, plug))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: plug.ID, ServiceID: legacy.ID, Environment: "test"}))

	doc := parseT(t, `
services:
  - {name: shop, domains: [{host: api.example.com}]}
  - name: legacy
keys:
  - {name: new, secret_id: shared_id}
plugins:
  - {name: ip, type: ip_control, config: {type: white_list, blocks: [10.0.0.0/8]}, bindings: [{service: legacy, environment: test}]}
`, nil)
	_, err := NewPlan(ctx, s, doc, Options{})
	want := "plugins[ip].bindings[0]: legacy/test is already bound to plugin old_ip, which the document does not name (delete that binding, or apply with prune)\n" +
		`keys[new].secret_id: is the secret_id of key "old", which the document does not name (delete it, or apply with prune)` + "\n" +
		`services[shop].domains[0].host: api.example.com is a domain of service "holder", which the document does not name (remove it there, or apply with prune)`
	var de *DocumentError
	if !errors.As(err, &de) || err.Error() != want {
		t.Fatalf("err =\n%v\nwant:\n%s", err, want)
	}
	// The domain's holder is in the document: no problem, it gives the
	// domain up first.
	doc2 := parseT(t, `
services:
  - {name: a_shop, domains: [{host: api.example.com}]}
  - name: holder
`, nil)
	p := apply(t, s, doc2, Options{})
	if got, want := texts(p), []string{"~ service holder: domains [{\"host\":\"api.example.com\"}] -> (none)", "+ service a_shop"}; !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %q, want %q", got, want)
	}
	// With prune, what is in the way is deleted first.
	p = apply(t, s, doc, Options{Prune: true})
	for _, c := range []string{"- plugin old_ip binding legacy/test", "- plugin old_ip", "- key old", "- service a_shop", "- service holder"} {
		if !strings.Contains(p.String(), c+"\n") {
			t.Errorf("prune plan lacks %q:\n%s", c, p)
		}
	}
}

// TestApplyError: a change the store refuses stops Apply with an
// *ApplyError that names the change and wraps the store's error.
func TestApplyError(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	apply(t, s, parseT(t, `
services:
  - name: a
    environments: [release]
    apis: [{name: x, frontend: {path: /x, method: GET}, backend: {type: mock, mock: {}}}]
`, nil), Options{})
	doc := parseT(t, `
services:
  - name: b
    environments: [release]
    apis: [{name: x, frontend: {path: /x, method: GET}, backend: {type: mock, mock: {}}}]
`, nil)
	p := plan(t, s, doc, Options{})
	err := p.Apply(ctx, s)
	var ae *ApplyError
	var ce *store.ConflictError
	if !errors.As(err, &ae) || ae.Change.Text != "publish service b to release" || !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want an ApplyError on the publish wrapping a ConflictError", err, err)
	}
	// With prune, a is unpublished and deleted first.
	s2 := openStore(t)
	apply(t, s2, parseT(t, "services: [{name: a, environments: [release], apis: [{name: x, frontend: {path: /x, method: GET}, backend: {type: mock, mock: {}}}]}]", nil), Options{})
	p = apply(t, s2, doc, Options{Prune: true})
	want := []string{"unpublish service a from release", "- service a", "+ service b", "+ api b/x", "publish service b to release"}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %q, want %q", got, want)
	}
}
