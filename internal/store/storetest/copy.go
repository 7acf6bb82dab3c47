package storetest

import (
	"sort"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlshared"
)

// Fill writes, through the interface, a configuration that uses every kind
// of object and every table: channels, certificates, services with custom
// domains, APIs, releases with history (a rollback, an unpublished
// environment, a deleted API whose release keeps it), plugins and their
// bindings, key pairs, usage plans with keys and bindings, applications
// and their bindings, and the admin token; with deletions along the way,
// so that the sequence numbers have gaps.
func Fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Fill: %s: %v", what, err)
		}
	}
	ch := mkChannel(t, s, "pool")
	unnamed := mkChannel(t, s, "")
	gone := mkChannel(t, s, "gone")
	must("delete channel", s.DeleteChannel(ctx, gone.ID))
	cert := mkCertificate(t, s, "shop")
	mkCertificate(t, s, "spare")

	svc := newServiceDomains(t, "shop",
		config.Domain{Host: "shop.example.com", CertificateID: cert.ID, ForceHTTPS: true},
		config.Domain{Host: "test.shop.example.com", Environment: "test"})
	must("create service", s.CreateService(ctx, svc))
	orders := mkAPI(t, s, svc.ID, "orders", "GET", "/orders", ch.ID)
	mkAPI(t, s, svc.ID, "carts", "POST", "/carts", unnamed.ID)
	temp := mkAPI(t, s, svc.ID, "temp", "GET", "/temp", "")
	publish(t, s, svc.ID, "release")                      // v1: orders, carts, temp
	must("delete api", s.DeleteAPI(ctx, svc.ID, temp.ID)) // gone from the draft, kept by v1
	orders.Frontend.Path = "/orders/v2"
	must("update api", s.UpdateAPI(ctx, orders))
	publish(t, s, svc.ID, "release") // v2
	publish(t, s, svc.ID, "test")
	publish(t, s, svc.ID, "prepub")
	_, err := s.Rollback(ctx, svc.ID, "release", "v1", "")
	must("rollback", err)
	must("unpublish", s.Unpublish(ctx, svc.ID, "prepub", ""))

	other := mkService(t, s, "other")
	mkAPI(t, s, other.ID, "ping", "GET", "/ping", "")
	publish(t, s, other.ID, "release")
	dropped := mkService(t, s, "dropped")
	must("delete service", s.DeleteService(ctx, dropped.ID))

	ipc := newPlugin("office_only", config.PluginIPControl, `{"type":"white_list","blocks":["10.0.0.0/8"]}`)
	must("create plugin", s.CreatePlugin(ctx, ipc))
	must("bind plugin", s.BindPlugin(ctx, &config.PluginBinding{PluginID: ipc.ID, ServiceID: svc.ID, Environment: "release"}))
	must("bind plugin to an api", s.BindPlugin(ctx, &config.PluginBinding{PluginID: ipc.ID, ServiceID: svc.ID,
		Environment: "test", APIIDs: []string{orders.ID}}))

	k1 := &config.Key{Name: "partner_a"}
	must("create key", s.CreateKey(ctx, k1))
	k2 := &config.Key{Name: "partner_b", SecretID: "client_42", SecretKey: "s3cret-s3cret"}
	must("create key", s.CreateKey(ctx, k2))
	rps, quota := int64(10), int64(1000)
	plan := &config.UsagePlan{Name: "gold", MaxRequestsPerSecond: &rps, Quota: &quota}
	must("create plan", s.CreatePlan(ctx, plan))
	must("add plan keys", s.AddPlanKeys(ctx, plan.ID, []string{k1.ID, k2.ID}))
	must("bind plan", s.BindPlan(ctx, &config.PlanBinding{PlanID: plan.ID, ServiceID: svc.ID, Environment: "release"}))

	app := &config.App{Name: "web", Description: "the web shop"}
	must("create app", s.CreateApp(ctx, app))
	must("bind app", s.BindApp(ctx, &config.AppBinding{AppID: app.ID, ServiceID: svc.ID, APIID: orders.ID, Environment: "release"}))

	must("set admin token", s.SetAdminToken(ctx, "token-of-the-source"))
}

// SameStores checks that two stores hold the same configuration: the same
// Load (revision included), the same lists, histories and bindings, and
// the same admin token.
func SameStores(t *testing.T, a, b store.Store) {
	t.Helper()
	ctx := t.Context()
	sa, sb := load(t, a), load(t, b)
	sameJSON(t, "Load", sb, sa)
	all := store.Page{Limit: 1000}
	type lister func(s store.Store) (any, error)
	list := map[string]lister{
		"channels":     func(s store.Store) (any, error) { v, _, err := s.ListChannels(ctx, all); return v, err },
		"services":     func(s store.Store) (any, error) { v, _, err := s.ListServices(ctx, all); return v, err },
		"plugins":      func(s store.Store) (any, error) { v, _, err := s.ListPlugins(ctx, all); return v, err },
		"keys":         func(s store.Store) (any, error) { v, _, err := s.ListKeys(ctx, all); return v, err },
		"plans":        func(s store.Store) (any, error) { v, _, err := s.ListPlans(ctx, all); return v, err },
		"apps":         func(s store.Store) (any, error) { v, _, err := s.ListApps(ctx, all); return v, err },
		"certificates": func(s store.Store) (any, error) { v, _, err := s.ListCertificates(ctx, all); return v, err },
		"admin token":  func(s store.Store) (any, error) { return s.AdminToken(ctx) },
	}
	for what, l := range list {
		va, err := l(a)
		if err != nil {
			t.Fatalf("%s of the source: %v", what, err)
		}
		vb, err := l(b)
		if err != nil {
			t.Fatalf("%s of the copy: %v", what, err)
		}
		sameJSON(t, what, vb, va)
	}
	services, _, err := a.ListServices(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range services {
		per := map[string]lister{
			"apis":         func(s store.Store) (any, error) { v, _, err := s.ListAPIs(ctx, svc.ID, all); return v, err },
			"releases":     func(s store.Store) (any, error) { v, _, err := s.ListReleases(ctx, svc.ID, all); return v, err },
			"environments": func(s store.Store) (any, error) { return s.Environments(ctx, svc.ID) },
		}
		for what, l := range per {
			va, err := l(a)
			if err != nil {
				t.Fatalf("%s of %s in the source: %v", what, svc.Name, err)
			}
			vb, err := l(b)
			if err != nil {
				t.Fatalf("%s of %s in the copy: %v", what, svc.Name, err)
			}
			sameJSON(t, what+" of "+svc.Name, vb, va)
		}
	}
}

// CheckWritable checks that a copied store numbers new objects after the
// copied ones: they list last, and publishing goes on from the copied
// version numbers.
func CheckWritable(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	before, total, err := s.ListChannels(ctx, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c := mkChannel(t, s, "after_copy")
	after, _, err := s.ListChannels(ctx, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != total+1 || after[len(after)-1].ID != c.ID {
		t.Fatalf("a channel created after the copy lists at %v among %d (before: %d)", after, len(after), len(before))
	}
	services, _, err := s.ListServices(ctx, store.Page{Limit: 1000})
	if err != nil || len(services) == 0 {
		t.Fatalf("services: %v %v", services, err)
	}
	rels, n, err := s.ListReleases(ctx, services[0].ID, store.Page{Limit: 1})
	if err != nil || len(rels) == 0 {
		t.Fatalf("releases: %v %v", rels, err)
	}
	rel := publish(t, s, services[0].ID, "test")
	if rel.Version == rels[0].Version {
		t.Fatalf("publishing after the copy reused version %s (of %d)", rel.Version, n)
	}
}

// CheckCopyCovers compares the tables a copy moves (sqlshared.Tables)
// with a store's schema (table -> its columns, sorted): every table is
// copied, column for column, or left out on purpose (NotCopied).
func CheckCopyCovers(t *testing.T, schema map[string][]string) {
	t.Helper()
	listed := map[string]bool{}
	for _, tb := range sqlshared.Tables {
		listed[tb.Name] = true
		cols := append([]string(nil), tb.Columns...)
		sort.Strings(cols)
		got, ok := schema[tb.Name]
		got = append([]string(nil), got...)
		sort.Strings(got)
		if !ok {
			t.Errorf("the copy lists table %s, which the schema does not have", tb.Name)
			continue
		}
		if len(got) != len(cols) {
			t.Errorf("table %s: the schema has columns %v, the copy %v", tb.Name, got, cols)
			continue
		}
		for i := range got {
			if got[i] != cols[i] {
				t.Errorf("table %s: the schema has columns %v, the copy %v", tb.Name, got, cols)
				break
			}
		}
	}
	for table := range schema {
		if _, skip := sqlshared.NotCopied[table]; !listed[table] && !skip {
			t.Errorf("table %s is neither copied nor left out on purpose (sqlshared.Tables, NotCopied)", table)
		}
	}
}
