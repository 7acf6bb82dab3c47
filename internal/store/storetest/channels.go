package storetest

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func testChannelCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newChannel(t, "pool_a")
	c.ID = "ch-chosen-by-client" // ignored: ids are the store's
	c.Warnings = []string{"computed per node, never stored"}
	if err := s.CreateChannel(ctx, c); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	checkID(t, "ch-", c.ID)
	checkStamps(t, c.CreatedAt, c.UpdatedAt)
	if !c.UpdatedAt.Equal(c.CreatedAt.Time) {
		t.Fatalf("new channel: updated_at %v != created_at %v", c.UpdatedAt, c.CreatedAt)
	}

	got, err := s.GetChannel(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetChannel: %v", err)
	}
	want := *c
	want.Warnings = nil
	sameJSON(t, "GetChannel", got, &want)

	time.Sleep(2 * time.Millisecond) // so that updated_at can move
	upd := *got
	upd.Description = "edited"
	upd.Nodes = append(upd.Nodes, config.Node{Host: "10.0.0.2", Port: 8080, Weight: intp(0)})
	upd.CreatedAt = config.Time{} // a client may send anything; created_at is kept
	if err := s.UpdateChannel(ctx, &upd); err != nil {
		t.Fatalf("UpdateChannel: %v", err)
	}
	if !upd.CreatedAt.Equal(c.CreatedAt.Time) {
		t.Fatalf("UpdateChannel: created_at %v, want %v", upd.CreatedAt, c.CreatedAt)
	}
	if !upd.UpdatedAt.After(c.UpdatedAt.Time) {
		t.Fatalf("UpdateChannel: updated_at %v not after %v", upd.UpdatedAt, c.UpdatedAt)
	}
	got, err = s.GetChannel(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetChannel: %v", err)
	}
	sameJSON(t, "GetChannel after update", got, &upd)

	missing := "ch-0000000000000000"
	_, err = s.GetChannel(ctx, missing)
	wantNotFound(t, err, "channel", missing)
	ghost := newChannel(t, "")
	ghost.ID = missing
	wantNotFound(t, s.UpdateChannel(ctx, ghost), "channel", missing)
	wantNotFound(t, s.DeleteChannel(ctx, missing), "channel", missing)

	if err := s.DeleteChannel(ctx, c.ID); err != nil {
		t.Fatalf("DeleteChannel: %v", err)
	}
	_, err = s.GetChannel(ctx, c.ID)
	wantNotFound(t, err, "channel", c.ID)
	wantNotFound(t, s.DeleteChannel(ctx, c.ID), "channel", c.ID)
}

func testChannelNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Names are optional, and only given names must be unique.
	mkChannel(t, s, "")
	mkChannel(t, s, "")
	a := mkChannel(t, s, "shared")

	dup := newChannel(t, "shared")
	details := wantConflict(t, s.CreateChannel(ctx, dup), "name")
	if !hasDetail(details, "id", a.ID, "name", "shared") {
		t.Fatalf("conflict details %v do not name %s", details, a.ID)
	}
	if dup.ID != "" {
		t.Fatalf("a failed create set the id %q", dup.ID)
	}

	b := mkChannel(t, s, "other")
	b.Name = "shared"
	wantConflict(t, s.UpdateChannel(ctx, b), "name")

	// Keeping one's own name is not a conflict.
	a.Description = "still shared"
	if err := s.UpdateChannel(ctx, a); err != nil {
		t.Fatalf("UpdateChannel keeping its name: %v", err)
	}
	// A name is free again once its holder lets go of it.
	a.Name = "renamed"
	if err := s.UpdateChannel(ctx, a); err != nil {
		t.Fatalf("UpdateChannel rename: %v", err)
	}
	if err := s.UpdateChannel(ctx, b); err != nil {
		t.Fatalf("UpdateChannel to a freed name: %v", err)
	}
	// And once its holder is deleted.
	if err := s.DeleteChannel(ctx, b.ID); err != nil {
		t.Fatalf("DeleteChannel: %v", err)
	}
	mkChannel(t, s, "shared")
}

// testListPaging covers Page for the three lists that share the rules:
// creation order, total over everything, Limit <= 0 meaning 20.
func testListPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	chans, total, err := s.ListChannels(ctx, store.Page{})
	if err != nil || chans == nil || len(chans) != 0 || total != 0 {
		t.Fatalf("empty ListChannels = %v, %d, %v; want [], 0, nil", chans, total, err)
	}
	svcs, total, err := s.ListServices(ctx, store.Page{})
	if err != nil || svcs == nil || len(svcs) != 0 || total != 0 {
		t.Fatalf("empty ListServices = %v, %d, %v; want [], 0, nil", svcs, total, err)
	}
	svc := mkService(t, s, "paging")
	apis, total, err := s.ListAPIs(ctx, svc.ID, store.Page{})
	if err != nil || apis == nil || len(apis) != 0 || total != 0 {
		t.Fatalf("empty ListAPIs = %v, %d, %v; want [], 0, nil", apis, total, err)
	}
	_, _, err = s.ListAPIs(ctx, "svc-0000000000000000", store.Page{})
	wantNotFound(t, err, "service", "svc-0000000000000000")

	// Lists are in creation order (created_at, then the order of creation
	// for objects stamped in the same millisecond), not in id order.
	var chOrder, apiOrder []string
	for i := 0; i < 23; i++ {
		chOrder = append(chOrder, mkChannel(t, s, "").ID)
		a := mkAPI(t, s, svc.ID, "api"+string(rune('a'+i)), "GET", "/p/"+string(rune('a'+i)), "")
		apiOrder = append(apiOrder, a.ID)
	}

	pages := []struct {
		p        store.Page
		from, to int
	}{
		{store.Page{}, 0, 20},
		{store.Page{Limit: -1}, 0, 20},
		{store.Page{Limit: 5}, 0, 5},
		{store.Page{Limit: 5, Offset: 20}, 20, 23},
		{store.Page{Limit: 100, Offset: 3}, 3, 23},
		{store.Page{Limit: 10, Offset: 23}, 23, 23},
		{store.Page{Limit: 10, Offset: 99}, 23, 23},
	}
	for _, pg := range pages {
		chans, total, err := s.ListChannels(ctx, pg.p)
		if err != nil {
			t.Fatalf("ListChannels(%+v): %v", pg.p, err)
		}
		if total != 23 || chans == nil {
			t.Fatalf("ListChannels(%+v): total %d (want 23), items %v", pg.p, total, chans)
		}
		got := make([]string, len(chans))
		for i, c := range chans {
			got[i] = c.ID
		}
		if want := chOrder[pg.from:pg.to]; !equal(got, want) {
			t.Fatalf("ListChannels(%+v) = %v, want %v", pg.p, got, want)
		}

		apis, total, err := s.ListAPIs(ctx, svc.ID, pg.p)
		if err != nil {
			t.Fatalf("ListAPIs(%+v): %v", pg.p, err)
		}
		if total != 23 || apis == nil {
			t.Fatalf("ListAPIs(%+v): total %d (want 23), items %v", pg.p, total, apis)
		}
		got = make([]string, len(apis))
		for i, a := range apis {
			got[i] = a.ID
		}
		if want := apiOrder[pg.from:pg.to]; !equal(got, want) {
			t.Fatalf("ListAPIs(%+v) = %v, want %v", pg.p, got, want)
		}
	}

	other := mkService(t, s, "paging-2")
	mkAPI(t, s, other.ID, "elsewhere", "GET", "/p/a", "")
	if _, total, _ := s.ListAPIs(ctx, svc.ID, store.Page{}); total != 23 {
		t.Fatalf("ListAPIs counts another service's APIs: total %d", total)
	}
	svcs, total, err = s.ListServices(ctx, store.Page{Limit: 1, Offset: 1})
	if err != nil || total != 2 || len(svcs) != 1 || svcs[0].ID != other.ID {
		t.Fatalf("ListServices page 2 = %v, %d, %v", svcs, total, err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testChannelBindings(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := mkChannel(t, s, "pool")
	unused := mkChannel(t, s, "unused")
	svc := mkService(t, s, "users")
	a := mkAPI(t, s, svc.ID, "get-user", "GET", "/user/{id}", ch.ID)
	mkAPI(t, s, svc.ID, "mocked", "GET", "/mock", "")

	bs, err := s.ChannelBindings(ctx, unused.ID)
	if err != nil || bs == nil || len(bs) != 0 {
		t.Fatalf("ChannelBindings(unused) = %v, %v; want [], nil", bs, err)
	}
	_, err = s.ChannelBindings(ctx, "ch-0000000000000000")
	wantNotFound(t, err, "channel", "ch-0000000000000000")

	publish(t, s, svc.ID, "test")
	publish(t, s, svc.ID, "prepub")
	bs, err = s.ChannelBindings(ctx, ch.ID)
	if err != nil {
		t.Fatalf("ChannelBindings: %v", err)
	}
	var envs []string
	for _, b := range bs {
		if b.ServiceID != svc.ID || b.ServiceName != "users" || b.APIID != a.ID || b.APIName != "get-user" {
			t.Fatalf("binding %+v does not describe API %s of %s", b, a.ID, svc.ID)
		}
		envs = append(envs, b.Environment)
	}
	sameIDs(t, "binding environments", envs, []string{"draft", "test", "prepub"})

	// Once the draft moves off the channel, only the served copies bind it.
	a.Backend = config.Backend{Type: config.BackendURL, URL: "http://10.1.1.1:80", Path: "/"}
	if err := s.UpdateAPI(ctx, a); err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	bs, _ = s.ChannelBindings(ctx, ch.ID)
	envs = envs[:0]
	for _, b := range bs {
		envs = append(envs, b.Environment)
	}
	sameIDs(t, "binding environments after the draft changed", envs, []string{"test", "prepub"})
}

func testDeleteChannelInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := mkChannel(t, s, "pool")
	svc := mkService(t, s, "orders")
	a := mkAPI(t, s, svc.ID, "list", "GET", "/orders", ch.ID)

	// Bound by a draft API.
	details := wantConflict(t, s.DeleteChannel(ctx, ch.ID), "")
	if !hasDetail(details, "service_id", svc.ID, "service_name", "orders", "api_id", a.ID, "api_name", "list", "environment", "draft") {
		t.Fatalf("conflict details %v do not list the draft binding", details)
	}
	if _, err := s.GetChannel(ctx, ch.ID); err != nil {
		t.Fatalf("channel gone after a refused delete: %v", err)
	}

	// Bound only by a served version: the draft API is gone.
	publish(t, s, svc.ID, "release")
	if err := s.DeleteAPI(ctx, svc.ID, a.ID); err != nil {
		t.Fatalf("DeleteAPI: %v", err)
	}
	details = wantConflict(t, s.DeleteChannel(ctx, ch.ID), "")
	if len(details) != 1 || !hasDetail(details, "api_id", a.ID, "environment", "release") {
		t.Fatalf("conflict details %v, want only the release binding", details)
	}

	// A version that is no longer served does not hold the channel.
	if err := s.Unpublish(ctx, svc.ID, "release", ""); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	if err := s.DeleteChannel(ctx, ch.ID); err != nil {
		t.Fatalf("DeleteChannel of an unbound channel: %v", err)
	}
}
