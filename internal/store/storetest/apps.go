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
