package storetest

import (
	"errors"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func testApps(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := &config.App{Name: "web", Description: "the shop"}
	if err := s.CreateApp(ctx, a); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if a.AppKey == "" || len(a.AppSecret) < 10 || a.ID == "" {
		t.Fatalf("generated app %+v", a)
	}
	wantConflict(t, s.CreateApp(ctx, &config.App{Name: "web"}), "name")
	upd := *a
	upd.Description, upd.AppKey, upd.AppSecret = "renamed", "", ""
	if err := s.UpdateApp(ctx, &upd); err != nil || upd.AppKey != a.AppKey || upd.AppSecret != a.AppSecret {
		t.Fatalf("UpdateApp must keep the key and secret: %+v %v", upd, err)
	}
	svc := mkService(t, s, "appsvc")
	api := mkAPI(t, s, svc.ID, "x", "GET", "/x", "")
	b := &config.AppBinding{AppID: a.ID, ServiceID: svc.ID, APIID: api.ID, Environment: "release"}
	if err := s.BindApp(ctx, b); err != nil {
		t.Fatalf("BindApp: %v", err)
	}
	wantConflict(t, s.BindApp(ctx, &config.AppBinding{AppID: a.ID, ServiceID: svc.ID, APIID: api.ID, Environment: "release"}), "")
	var inv *store.InvalidError
	if err := s.BindApp(ctx, &config.AppBinding{AppID: "app-0000000000000000", ServiceID: svc.ID, APIID: api.ID, Environment: "test"}); !errors.As(err, &inv) || inv.Field != "app_id" {
		t.Fatalf("an unknown app: %v", err)
	}
	bs, err := s.AppBindings(ctx, svc.ID, api.ID)
	if err != nil || len(bs) != 1 || bs[0].ID != b.ID {
		t.Fatalf("AppBindings: %+v %v", bs, err)
	}
	testAppBindingsOfApp(t, s, a, b)
	st, err := s.Load(ctx)
	if err != nil || len(st.Apps) != 1 || len(st.AppBindings) != 1 {
		t.Fatalf("Load: %d apps, %d bindings, %v", len(st.Apps), len(st.AppBindings), err)
	}
	wantConflict(t, s.DeleteApp(ctx, a.ID), "")
	if err := s.UnbindApp(ctx, svc.ID, api.ID, b.ID); err != nil {
		t.Fatalf("UnbindApp: %v", err)
	}
	wantNotFound(t, s.UnbindApp(ctx, svc.ID, api.ID, b.ID), "binding", b.ID)
	if err := s.DeleteApp(ctx, a.ID); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
}

// testAppBindingsOfApp: an application's bindings, oldest first, paged;
// another application's are not among them. It leaves the store with b
// as the only binding.
func testAppBindingsOfApp(t *testing.T, s store.Store, a *config.App, b *config.AppBinding) {
	ctx := t.Context()
	other := &config.App{Name: "other_app"}
	if err := s.CreateApp(ctx, other); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	svc := mkService(t, s, "appsvc2")
	api := mkAPI(t, s, svc.ID, "y", "GET", "/y", "")
	b2 := &config.AppBinding{AppID: a.ID, ServiceID: svc.ID, APIID: api.ID, Environment: "test"}
	ob := &config.AppBinding{AppID: other.ID, ServiceID: svc.ID, APIID: api.ID, Environment: "test"}
	for _, x := range []*config.AppBinding{b2, ob} {
		if err := s.BindApp(ctx, x); err != nil {
			t.Fatalf("BindApp: %v", err)
		}
	}
	got, total, err := s.ListAppBindings(ctx, a.ID, store.Page{Limit: 10})
	if err != nil || total != 2 || len(got) != 2 || got[0].ID != b.ID || got[1].ID != b2.ID {
		t.Fatalf("ListAppBindings = %+v (total %d), %v; want %s, %s", got, total, err, b.ID, b2.ID)
	}
	if g := got[1]; g.AppID != a.ID || g.ServiceID != svc.ID || g.APIID != api.ID || g.Environment != "test" ||
		!g.CreatedAt.Equal(b2.CreatedAt.Time) {
		t.Fatalf("ListAppBindings[1] = %+v, want %+v", g, *b2)
	}
	got, total, err = s.ListAppBindings(ctx, a.ID, store.Page{Limit: 1, Offset: 1})
	if err != nil || total != 2 || len(got) != 1 || got[0].ID != b2.ID {
		t.Fatalf("second page = %+v (total %d), %v", got, total, err)
	}
	got, total, err = s.ListAppBindings(ctx, other.ID, store.Page{Limit: 10})
	if err != nil || total != 1 || len(got) != 1 || got[0].ID != ob.ID {
		t.Fatalf("the other app's bindings = %+v (total %d), %v", got, total, err)
	}
	_, _, err = s.ListAppBindings(ctx, "app-0000000000000000", store.Page{Limit: 10})
	wantNotFound(t, err, "app", "app-0000000000000000")
	for _, x := range []*config.AppBinding{b2, ob} {
		if err := s.UnbindApp(ctx, x.ServiceID, x.APIID, x.ID); err != nil {
			t.Fatalf("UnbindApp: %v", err)
		}
	}
	if err := s.DeleteApp(ctx, other.ID); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	if _, total, err := s.ListAppBindings(ctx, other.ID, store.Page{Limit: 10}); !store.IsNotFound(err) || total != 0 {
		t.Fatalf("bindings of a deleted app: %d, %v", total, err)
	}
}
