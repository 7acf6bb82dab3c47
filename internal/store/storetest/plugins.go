package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func newPlugin(name, typ, cfg string) *config.Plugin {
	return &config.Plugin{Name: name, Type: typ, Config: json.RawMessage(cfg)}
}

func testPluginCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPlugin("office_only", config.PluginIPControl, `{"type":"white_list","blocks":["10.0.0.0/8"]}`)
	if err := s.CreatePlugin(ctx, p); err != nil {
		t.Fatalf("CreatePlugin: %v", err)
	}
	if len(p.ID) < 5 || p.ID[:4] != "plg-" {
		t.Fatalf("id %q: want plg-…", p.ID)
	}
	checkStamps(t, p.CreatedAt, p.UpdatedAt)
	got, err := s.GetPlugin(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetPlugin: %v", err)
	}
	sameJSON(t, "GetPlugin", got, p)

	wantConflict(t, s.CreatePlugin(ctx, newPlugin("office_only", config.PluginIPControl, `{}`)), "name")

	time.Sleep(2 * time.Millisecond)
	upd := *got
	upd.Config = json.RawMessage(`{"type":"black_list","blocks":["1.2.3.4"]}`)
	if err := s.UpdatePlugin(ctx, &upd); err != nil {
		t.Fatalf("UpdatePlugin: %v", err)
	}
	if !upd.UpdatedAt.After(upd.CreatedAt.Time) || !upd.CreatedAt.Equal(p.CreatedAt.Time) {
		t.Fatalf("update stamps: created %v updated %v", upd.CreatedAt, upd.UpdatedAt)
	}
	retype := upd
	retype.Type = config.PluginTrafficControl
	var inv *store.InvalidError
	if err := s.UpdatePlugin(ctx, &retype); !errors.As(err, &inv) || inv.Field != "type" {
		t.Fatalf("changing the type: %v, want an InvalidError on type", err)
	}
	items, total, err := s.ListPlugins(ctx, store.Page{Limit: 10})
	if err != nil || total != 1 || len(items) != 1 || string(items[0].Config) != string(upd.Config) {
		t.Fatalf("ListPlugins: %d %v %v", total, items, err)
	}
	if err := s.DeletePlugin(ctx, p.ID); err != nil {
		t.Fatalf("DeletePlugin: %v", err)
	}
	_, err = s.GetPlugin(ctx, p.ID)
	wantNotFound(t, err, "plugin", p.ID)
	wantNotFound(t, s.DeletePlugin(ctx, p.ID), "plugin", p.ID)
}

func testPluginBindings(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "shop")
	a1 := mkAPI(t, s, svc.ID, "a1", "GET", "/a1", "")
	a2 := mkAPI(t, s, svc.ID, "a2", "GET", "/a2", "")
	other := mkService(t, s, "other")
	foreign := mkAPI(t, s, other.ID, "x", "GET", "/x", "")

	ipc := newPlugin("deny", config.PluginIPControl, `{"type":"black_list","blocks":["1.2.3.4"]}`)
	ipc2 := newPlugin("deny2", config.PluginIPControl, `{"type":"black_list","blocks":["5.6.7.8"]}`)
	tc := newPlugin("slow", config.PluginTrafficControl, `{"window":"second","api_limit":5}`)
	for _, p := range []*config.Plugin{ipc, ipc2, tc} {
		if err := s.CreatePlugin(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	whole := &config.PluginBinding{PluginID: ipc.ID, ServiceID: svc.ID, Environment: "release"}
	if err := s.BindPlugin(ctx, whole); err != nil {
		t.Fatalf("BindPlugin whole service: %v", err)
	}
	if whole.ID == "" || whole.CreatedAt.IsZero() {
		t.Fatalf("binding not stamped: %+v", whole)
	}
	// Same type, same target: conflict; another type or an API-level one is fine.
	wantConflict(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: ipc2.ID, ServiceID: svc.ID, Environment: "release"}), "")
	apiLevel := &config.PluginBinding{PluginID: ipc2.ID, ServiceID: svc.ID, Environment: "release", APIIDs: []string{a1.ID, a2.ID}}
	if err := s.BindPlugin(ctx, apiLevel); err != nil {
		t.Fatalf("API-level binding beside a service-level one: %v", err)
	}
	wantConflict(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: ipc.ID, ServiceID: svc.ID, Environment: "release", APIIDs: []string{a2.ID}}), "")
	if err := s.BindPlugin(ctx, &config.PluginBinding{PluginID: tc.ID, ServiceID: svc.ID, Environment: "release"}); err != nil {
		t.Fatalf("another type on the same target: %v", err)
	}
	var inv *store.InvalidError
	if err := s.BindPlugin(ctx, &config.PluginBinding{PluginID: tc.ID, ServiceID: "svc-0000000000000000", Environment: "test"}); !errors.As(err, &inv) || inv.Field != "service_id" {
		t.Fatalf("unknown service: %v", err)
	}
	if err := s.BindPlugin(ctx, &config.PluginBinding{PluginID: tc.ID, ServiceID: svc.ID, Environment: "test", APIIDs: []string{foreign.ID}}); !errors.As(err, &inv) || inv.Field != "api_ids[0]" {
		t.Fatalf("an API of another service: %v", err)
	}
	wantNotFound(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: "plg-0000000000000000", ServiceID: svc.ID, Environment: "test"}), "plugin", "plg-0000000000000000")

	got, err := s.GetPlugin(ctx, ipc2.ID)
	if err != nil || len(got.Bindings) != 1 || len(got.Bindings[0].APIIDs) != 2 {
		t.Fatalf("bindings of %s: %+v %v", ipc2.ID, got, err)
	}
	st, err := s.Load(ctx)
	if err != nil || len(st.Plugins) != 3 {
		t.Fatalf("Load: %d plugins, %v", len(st.Plugins), err)
	}
	wantConflict(t, s.DeletePlugin(ctx, ipc.ID), "")
	if err := s.UnbindPlugin(ctx, ipc.ID, whole.ID); err != nil {
		t.Fatalf("UnbindPlugin: %v", err)
	}
	wantNotFound(t, s.UnbindPlugin(ctx, ipc.ID, whole.ID), "binding", whole.ID)
	if err := s.DeletePlugin(ctx, ipc.ID); err != nil {
		t.Fatalf("DeletePlugin after unbinding: %v", err)
	}
	// Deleting the service takes its bindings along.
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	if got, _ := s.GetPlugin(ctx, tc.ID); got == nil || len(got.Bindings) != 0 {
		t.Fatalf("bindings of a deleted service remain: %+v", got)
	}
}
