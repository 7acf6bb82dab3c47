package declarative

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

// TestExportNotes: what a document cannot hold fails the export (a draft
// API on an unnamed channel) or is noted (a served version older than the
// draft, references to deleted APIs); applying the export with prune then
// cleans up.
func TestExportNotes(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	unnamed := &config.Channel{Network: "n", Scheme: "http", Nodes: []config.Node{{Host: "10.0.0.1", Port: 80, Weight: intp(1)}}}
	must(t, config.ValidateChannel(unnamed))
	must(t, s.CreateChannel(ctx, unnamed))
	svc := &config.Service{Name: "s"}
	must(t, config.ValidateService(svc))
	must(t, s.CreateService(ctx, svc))
	a := &config.API{ServiceID: svc.ID, Name: "a", Frontend: config.Frontend{Path: "/a", Method: "GET"},
		Backend: config.Backend{Type: "channel", ChannelID: unnamed.ID}}
	b := &config.API{ServiceID: svc.ID, Name: "b", Frontend: config.Frontend{Path: "/b", Method: "GET"},
		Backend: config.Backend{Type: "mock", Mock: &config.Mock{}}}
	for _, x := range []*config.API{a, b} {
		must(t, config.ValidateAPI(x))
		must(t, s.CreateAPI(ctx, x))
	}
	_, err := s.Publish(ctx, svc.ID, "release", "")
	must(t, err)

	_, err = Export(ctx, s)
	var ee *ExportError
	if !errors.As(err, &ee) || !reflect.DeepEqual(ee.Problems, []string{"API s/a uses channel " + unnamed.ID + ", which has no name"}) {
		t.Fatalf("err = %v, want an ExportError about s/a", err)
	}

	// a moves to a mock (the draft now differs from what release serves);
	// a plugin and an application are bound to b, which is then deleted.
	a.Backend = config.Backend{Type: "mock", Mock: &config.Mock{Body: "a"}}
	must(t, config.ValidateAPI(a))
	must(t, s.UpdateAPI(ctx, a))
	plug := &config.Plugin{Name: "p", Type: "ip_control", Config: []byte(`{"type":"black_list","blocks":["10.0.0.1"]}`)}
	must(t, s.CreatePlugin(ctx, plug))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: plug.ID, ServiceID: svc.ID, Environment: "test", APIIDs: []string{a.ID, b.ID}}))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: plug.ID, ServiceID: svc.ID, Environment: "prepub", APIIDs: []string{b.ID}}))
	app := &config.App{Name: "app"}
	must(t, s.CreateApp(ctx, app))
	must(t, s.BindApp(ctx, &config.AppBinding{AppID: app.ID, ServiceID: svc.ID, APIID: b.ID, Environment: "test"}))
	must(t, s.DeleteAPI(ctx, svc.ID, b.ID))

	doc := export(t, s)
	wantNotes := []string{
		"channel " + unnamed.ID + " has no name: a document cannot hold it, and applying it with prune deletes it",
		"service s: release serves version v1, which differs from the draft; applying this document publishes the draft there",
		"application app: its binding to API " + b.ID + " in test is dropped: the API is no longer in the draft",
		"plugin p: its binding to s/test names API " + b.ID + ", which is no longer in the draft; it is dropped",
		"plugin p: its binding to s/prepub names API " + b.ID + ", which is no longer in the draft; it is dropped",
		"plugin p: its binding to s/prepub is dropped: none of its APIs is in the draft any more",
	}
	if !reflect.DeepEqual(doc.Notes, wantNotes) {
		t.Errorf("notes:\n%s\nwant:\n%s", indent(strings.Join(doc.Notes, "\n")), indent(strings.Join(wantNotes, "\n")))
	}
	if got := doc.Plugins[0].Bindings; !reflect.DeepEqual(got, []Binding{{Service: "s", Environment: "test", APIs: []string{"a"}}}) {
		t.Errorf("plugin bindings = %+v", got)
	}

	// The export, applied back without prune: the draft is published and
	// the bindings naming a deleted API are replaced or removed (they match
	// nothing); the unnamed channel stays. With prune, it goes too.
	want := []string{
		"- plugin p binding s/test [a, " + b.ID + " (deleted)]",
		"- plugin p binding s/prepub [" + b.ID + " (deleted)]",
		"- application app binding s/test [" + b.ID + " (deleted)]",
		"publish service s to release",
		"+ plugin p binding s/test [a]",
	}
	if got := texts(plan(t, s, doc, Options{})); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
	want = []string{
		"- plugin p binding s/test [a, " + b.ID + " (deleted)]",
		"- plugin p binding s/prepub [" + b.ID + " (deleted)]",
		"- application app binding s/test [" + b.ID + " (deleted)]",
		"publish service s to release",
		"+ plugin p binding s/test [a]",
		"- channel " + unnamed.ID + " (unnamed: a document cannot name it)",
	}
	p := apply(t, s, doc, Options{Prune: true})
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("prune plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
	again := export(t, s)
	if len(again.Notes) != 0 || marshalT(t, again, YAML) != marshalT(t, doc, YAML) {
		t.Errorf("after prune: notes %q, document:\n%s", again.Notes, marshalT(t, again, YAML))
	}
}

// TestCertificateDiff: PEM text is said to change, never shown.
func TestCertificateDiff(t *testing.T) {
	s := openStore(t)
	c1, k1 := newCert(t, "a.example.com")
	c2, k2 := newCert(t, "a.example.com")
	doc := func(c, k string) *Document {
		return &Document{Certificates: []Certificate{{Name: "c", CertPEM: c, KeyPEM: k}}}
	}
	apply(t, s, doc(c1, k1), Options{})
	p := plan(t, s, doc(c2, k2), Options{})
	if got := texts(p); !reflect.DeepEqual(got, []string{"~ certificate c: cert_pem (changed); key_pem (changed)"}) {
		t.Errorf("plan = %q", got)
	}
	// A document built in code is checked as Parse checks it.
	_, err := NewPlan(context.Background(), s, doc(c1, k2), Options{})
	var de *DocumentError
	if !errors.As(err, &de) || de.Problems[0].Path != "certificates[0].key_pem" {
		t.Errorf("mismatched key: %v", err)
	}
}

// TestPlanJSON: the plan as the admin endpoint answers it.
func TestPlanJSON(t *testing.T) {
	s := openStore(t)
	doc := parseT(t, "channels: [{name: a, network: n, scheme: http, nodes: [{host: h.example, port: 80, weight: 1}]}]\n", nil)
	apply(t, s, doc, Options{})
	doc.Channels[0].Nodes[0].Weight = intp(2)
	p := plan(t, s, doc, Options{})
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	must(t, enc.Encode(p))
	b := strings.TrimSpace(buf.String())
	want := `{"changes":[{"op":"update","kind":"channel","name":"a","diff":["nodes[0].weight 1 -> 2"],` +
		`"text":"~ channel a: nodes[0].weight 1 -> 2"}],"revision":1}`
	if b != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
	empty, err := json.Marshal(plan(t, openStore(t), &Document{}, Options{}))
	must(t, err)
	if string(empty) != `{"changes":[],"revision":0}` {
		t.Errorf("empty plan json = %s", empty)
	}
}

// TestKeySecretIDs: a secret_id moves between keys in order; one the
// document leaves with its key is a problem.
func TestKeySecretIDs(t *testing.T) {
	s := openStore(t)
	apply(t, s, parseT(t, "keys: [{name: a, secret_id: aaaaa_id}, {name: b, secret_id: bbbbb_id}]\n", nil), Options{})
	_, err := NewPlan(context.Background(), s, parseT(t, "keys: [{name: a, secret_id: bbbbb_id}, {name: b}]\n", nil), Options{})
	if err == nil || err.Error() != `keys[a].secret_id: is the secret_id of key "b", which keeps it (the document gives it none)` {
		t.Errorf("err = %v", err)
	}
	p := apply(t, s, parseT(t, "keys: [{name: a, secret_id: bbbbb_id}, {name: b, secret_id: ccccc_id}]\n", nil), Options{})
	want := []string{`~ key b: secret_id "bbbbb_id" -> "ccccc_id"`, `~ key a: secret_id "aaaaa_id" -> "bbbbb_id"`}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %q, want %q", got, want)
	}
}
