package declarative

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// fuzzEnv knows the variables whose names start with SET.
func fuzzEnv(name string) (string, bool) {
	if strings.HasPrefix(name, "SET") {
		return "v-" + strings.ToLower(name), true
	}
	return "", false
}

// FuzzParse: Parse never panics and refuses with a *DocumentError; a
// document it accepts, written in either format, reads back equal.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	for _, seed := range []string{
		"{}",
		`{"channels":[{"name":"a","network":"n","scheme":"http","nodes":[{"host":"10.0.0.1","port":80,"weight":1}]}]}`,
		"channels:\n  - {name: a, network: ${SETNET}, scheme: http, nodes: [{host: h.example, port: 1, weight: 0}], retries: 1}\n",
		"channels:\n  - &c {name: a, network: n, scheme: https, nodes: [{host: h, port: 1, weight: 1}], tls: {server_name: x}}\n  - <<: *c\n    name: b\n",
		"services:\n  - name: s\n    description: \"$${x} ${SETD}\"\n    domains: [{host: A.example.com., environment: test}]\n    environments: [test]\n" +
			"    apis:\n      - {name: a, frontend: {path: \"/a/{id}\", method: any}, backend: {type: mock, mock: {status: 201, headers: {X-A: b}, body: \"multi\\nline\\n\"}}}\n" +
			"      - {name: b, protocol: websocket, frontend: {path: =/b, method: GET}, backend: {type: url, url: \"https://x.example\", tls: {insecure_skip_verify: true}}, auth: {type: jwt, jwt: {jwks_url: \"https://id.example/k\", claim_headers: {sub: X-Sub}}}}\n",
		"keys: [{name: k, secret_id: kkkkk, secret_key: 0123456789}]\nusage_plans: [{name: p, quota: 5, keys: [k]}]\n",
		"services: [{name: s, apis: [{name: a, frontend: {path: /a, method: GET}, backend: {type: mock, mock: {}}}]}]\n" +
			"applications: [{name: app, bindings: [{service: s, environment: release, api: a}]}]\n" +
			"plugins: [{name: t, type: traffic_control, config: {window: day, special_apps: [{app: app, limit: 3}], special_ips: [{ip: \"::1\", limit: 2}]}, bindings: [{service: s, environment: test, apis: [a]}]}]\n",
		"channels: [{name: a, network: n, scheme: http, nodes: [{host: h, port: 1, weight: 1}], health_check: {enable_active_check: true, healthy_http_status: [200, 200], active_request_headers: {X-A: \"1\"}}}]\n",
		"a: &a [*a]\n",
		"channels: [{name: x, schema: 1, nodes: {}}]\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		doc, err := Parse([]byte(text), "", fuzzEnv)
		if err != nil {
			var de *DocumentError
			if !errors.As(err, &de) || len(de.Problems) == 0 {
				t.Fatalf("Parse error %v (%T) is not a *DocumentError with problems", err, err)
			}
			return
		}
		for _, format := range []Format{YAML, JSON} {
			out, err := Marshal(doc, format)
			if err != nil {
				t.Fatalf("Marshal %s: %v", format, err)
			}
			again, err := Parse(out, "", nil)
			if err != nil {
				t.Fatalf("the %s of a parsed document does not parse: %v\n%s", format, err, out)
			}
			if !reflect.DeepEqual(again, doc) {
				t.Fatalf("the %s of a parsed document reads back different:\n%s\nfirst:  %+v\nsecond: %+v", format, out, doc, again)
			}
		}
	})
}
