package declarative

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

// TestPrune: without prune, what the document does not name stays (and is
// listed as kept); with prune it is deleted, in dependency order, and the
// gateway then exports exactly the document.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	doc := parseT(t, exampleDoc(t), exampleEnv)
	apply(t, s, doc, Options{})
	shop := planIDs(t, s, doc)

	// What the document does not name: a named and an unnamed channel, a
	// service served in test that uses them, an API of shop published
	// everywhere with it, shop served in prepub, a key held by gold, a
	// plan, an application bound to the other service, a plugin, a binding
	// of office_only to the other service, a certificate.
	legacyPool := &config.Channel{Name: "legacy_pool", Network: "n", Scheme: "http", Nodes: []config.Node{{Host: "10.1.0.1", Port: 80, Weight: intp(1)}}}
	unnamed := &config.Channel{Network: "n", Scheme: "http", Nodes: []config.Node{{Host: "10.1.0.2", Port: 80, Weight: intp(1)}}}
	for _, c := range []*config.Channel{legacyPool, unnamed} {
		must(t, config.ValidateChannel(c))
		must(t, s.CreateChannel(ctx, c))
	}
	legacy := &config.Service{Name: "legacy"}
	must(t, config.ValidateService(legacy))
	must(t, s.CreateService(ctx, legacy))
	legacyAPI := &config.API{ServiceID: legacy.ID, Name: "legacy_api", Frontend: config.Frontend{Path: "/legacy", Method: "GET"},
		Backend: config.Backend{Type: "channel", ChannelID: unnamed.ID}}
	oldAPI := &config.API{ServiceID: shop["shop"], Name: "old_api", Frontend: config.Frontend{Path: "/old", Method: "GET"},
		Backend: config.Backend{Type: "channel", ChannelID: legacyPool.ID}}
	for _, a := range []*config.API{legacyAPI, oldAPI} {
		must(t, config.ValidateAPI(a))
		must(t, s.CreateAPI(ctx, a))
	}
	for _, p := range []struct{ svc, env string }{{legacy.ID, "test"}, {shop["shop"], "test"}, {shop["shop"], "release"}, {shop["shop"], "prepub"}} {
		_, err := s.Publish(ctx, p.svc, p.env, "")
		must(t, err)
	}
	extraKey := &config.Key{Name: "extra_key"}
	must(t, s.CreateKey(ctx, extraKey))
	must(t, s.AddPlanKeys(ctx, shop["gold"], []string{extraKey.ID}))
	legacyPlan := &config.UsagePlan{Name: "legacy_plan"}
	must(t, config.ValidatePlan(legacyPlan))
	must(t, s.CreatePlan(ctx, legacyPlan))
	must(t, s.BindPlan(ctx, &config.PlanBinding{PlanID: legacyPlan.ID, ServiceID: legacy.ID, Environment: "test"}))
	legacyApp := &config.App{Name: "legacy_app"}
	must(t, s.CreateApp(ctx, legacyApp))
	must(t, s.BindApp(ctx, &config.AppBinding{AppID: legacyApp.ID, ServiceID: legacy.ID, APIID: legacyAPI.ID, Environment: "test"}))
	legacyPlugin := &config.Plugin{Name: "legacy_plugin", Type: "traffic_control", Config: []byte(`{"window":"second","api_limit":10}`)}
	must(t, s.CreatePlugin(ctx, legacyPlugin))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: legacyPlugin.ID, ServiceID: legacy.ID, Environment: "test"}))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: shop["office_only"], ServiceID: legacy.ID, Environment: "test"}))
	certPEM, keyPEM := newCert(t, "extra.example.com")
	extraCert := &config.Certificate{Name: "extra_cert", CertPEM: certPEM, KeyPEM: keyPEM}
	must(t, config.ValidateCertificate(extraCert))
	must(t, s.CreateCertificate(ctx, extraCert))

	p := plan(t, s, doc, Options{})
	if !p.Empty() {
		t.Errorf("without prune the plan changes:\n%s", p)
	}
	wantKept := []string{
		"channel legacy_pool (not in the document)",
		"channel " + unnamed.ID + " (unnamed: a document cannot name it)",
		"certificate extra_cert (not in the document)",
		"plugin office_only binding legacy/test (the document cannot name it)",
		"plugin legacy_plugin (not in the document)",
		"usage_plan gold key extra_key (not in the document)",
		"usage_plan legacy_plan (not in the document)",
		"key extra_key (not in the document)",
		"application legacy_app (not in the document)",
		"api shop/old_api (not in the document)",
		"service shop in prepub (not in its environments)",
		"service legacy (not in the document)",
	}
	if !reflect.DeepEqual(p.Kept, wantKept) {
		t.Errorf("kept:\n%s\nwant:\n%s", indent(strings.Join(p.Kept, "\n")), indent(strings.Join(wantKept, "\n")))
	}

	p = apply(t, s, doc, Options{Prune: true})
	want := []string{
		"- plugin office_only binding legacy/test",
		"- plugin legacy_plugin binding legacy/test",
		"- usage_plan gold key extra_key",
		"- usage_plan legacy_plan binding legacy/test",
		"- application legacy_app binding legacy/test [legacy_api]",
		"unpublish service shop from prepub",
		"unpublish service legacy from test",
		"- plugin legacy_plugin",
		"- usage_plan legacy_plan",
		"- key extra_key",
		"- application legacy_app",
		"- api shop/old_api",
		"- service legacy",
		"publish service shop to test",
		"publish service shop to release",
		"- channel legacy_pool",
		"- channel " + unnamed.ID + " (unnamed: a document cannot name it)",
		"- certificate extra_cert",
	}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("prune plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
	if len(p.Kept) != 0 {
		t.Errorf("prune keeps %q", p.Kept)
	}
	if got, want := marshalT(t, export(t, s), YAML), marshalT(t, doc, YAML); got != want {
		t.Errorf("after prune the gateway exports:\n%s\nwant:\n%s", got, want)
	}

	// An empty document with prune empties the gateway.
	apply(t, s, &Document{}, Options{Prune: true})
	st, err := s.Load(ctx)
	must(t, err)
	if len(st.Channels)+len(st.Published)+len(st.Plugins)+len(st.Keys)+len(st.Plans)+len(st.Apps)+len(st.Certificates) != 0 {
		t.Errorf("after an empty document with prune: %+v", st)
	}
	if d := export(t, s); !reflect.DeepEqual(d, &Document{}) {
		t.Errorf("export = %+v", d)
	}
}

// planIDs returns the ids of shop, gold and office_only.
func planIDs(t *testing.T, s interface {
	Load(context.Context) (*config.State, error)
}, _ *Document) map[string]string {
	t.Helper()
	st, err := s.Load(context.Background())
	must(t, err)
	ids := map[string]string{}
	for _, p := range st.Published {
		ids[p.Service.Name] = p.Service.ID
	}
	for _, p := range st.Plans {
		ids[p.Name] = p.ID
	}
	for _, p := range st.Plugins {
		ids[p.Name] = p.ID
	}
	return ids
}

// TestMoves: a domain, a route, a secret_id that moves from one object to
// another is given up before it is taken, whatever the names' order; a
// plugin whose type changes is replaced.
func TestMoves(t *testing.T) {
	s := openStore(t)
	mock := `backend: {type: mock, mock: {}}`
	apply(t, s, parseT(t, `
services:
  - name: a
    environments: [release]
    apis:
      - {name: w, frontend: {path: /w, method: GET}, `+mock+`}
      - {name: x, frontend: {path: /x, method: GET}, `+mock+`}
  - name: b
    domains: [{host: moving.example.com}]
    environments: [release]
    apis:
      - {name: y, frontend: {path: /y, method: GET}, `+mock+`}
keys:
  - {name: k1, secret_id: first_id}
  - {name: k2, secret_id: second_id}
plugins:
  - {name: p, type: ip_control, config: {type: white_list, blocks: [10.0.0.0/8]}, bindings: [{service: a, environment: release}]}
`, nil), Options{})

	// a takes b's domain and b's route /y; a's API w takes x's route, x
	// moves to /z; k1 takes k2's secret_id; p becomes traffic_control.
	p := apply(t, s, parseT(t, `
services:
  - name: a
    domains: [{host: moving.example.com}]
    environments: [release]
    apis:
      - {name: w, frontend: {path: /x, method: GET}, `+mock+`}
      - {name: x, frontend: {path: /z, method: GET}, `+mock+`}
      - {name: y2, frontend: {path: /y, method: GET}, `+mock+`}
  - name: b
    environments: [release]
    apis:
      - {name: y, frontend: {path: /y2, method: GET}, `+mock+`}
keys:
  - {name: k1, secret_id: second_id}
  - {name: k2, secret_id: third_id}
plugins:
  - {name: p, type: traffic_control, config: {window: second, api_limit: 5}, bindings: [{service: a, environment: release}]}
`, nil), Options{})
	want := []string{
		"- plugin p binding a/release",
		"- plugin p (its type changes from ip_control to traffic_control: it is replaced)",
		`~ key k2: secret_id "second_id" -> "third_id"`,
		`~ key k1: secret_id "first_id" -> "second_id"`,
		`~ service b: domains [{"host":"moving.example.com"}] -> (none)`,
		`~ service a: domains (none) -> [{"host":"moving.example.com"}]`,
		`~ api a/x: frontend.path "/x" -> "/z"`,
		`~ api a/w: frontend.path "/w" -> "/x"`,
		"+ api a/y2",
		`~ api b/y: frontend.path "/y" -> "/y2"`,
		"publish service b to release",
		"publish service a to release",
		"+ plugin p",
		"+ plugin p binding a/release",
	}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
}

// TestReplaceKeepsBindings: a plugin whose type changes is bound again to
// what the document cannot name; a plan loses the bindings the document
// no longer lists.
func TestReplaceKeepsBindings(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	mock := `backend: {type: mock, mock: {}}`
	apply(t, s, parseT(t, `
services:
  - name: a
    environments: [release]
    apis:
      - {name: w, frontend: {path: /w, method: GET}, `+mock+`}
usage_plans:
  - {name: gold, bindings: [{service: a, environment: release}]}
plugins:
  - {name: p, type: ip_control, config: {type: white_list, blocks: [10.0.0.0/8]}, bindings: [{service: a, environment: release}]}
`, nil), Options{})
	other := &config.Service{Name: "other"}
	must(t, config.ValidateService(other))
	must(t, s.CreateService(ctx, other))
	ids := planIDs(t, s, nil)
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: ids["p"], ServiceID: other.ID, Environment: "test"}))

	doc := parseT(t, `
services:
  - name: a
    environments: [release]
    apis:
      - {name: w, frontend: {path: /w, method: GET}, `+mock+`}
usage_plans:
  - {name: gold}
plugins:
  - {name: p, type: traffic_control, config: {window: second, api_limit: 5}, bindings: [{service: a, environment: release}]}
`, nil)
	p := apply(t, s, doc, Options{})
	want := []string{
		"- plugin p binding a/release",
		"- plugin p binding other/test",
		"- usage_plan gold binding a/release",
		"- plugin p (its type changes from ip_control to traffic_control: it is replaced)",
		"+ plugin p",
		"+ plugin p binding a/release",
		"+ plugin p binding other/test (kept from the replaced plugin)",
	}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
	if want := []string{"service other (not in the document)"}; !reflect.DeepEqual(p.Kept, want) {
		t.Errorf("kept %q, want %q", p.Kept, want)
	}
	if p := plan(t, s, doc, Options{}); !p.Empty() {
		t.Errorf("planned again:\n%s", p)
	}
	st, err := s.Load(ctx)
	must(t, err)
	if len(st.Plugins) != 1 || st.Plugins[0].Type != "traffic_control" || len(st.Plugins[0].Bindings) != 2 {
		t.Errorf("plugins after apply: %+v", st.Plugins)
	}
}
