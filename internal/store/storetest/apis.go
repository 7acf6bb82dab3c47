package storetest

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func testAPICRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := mkChannel(t, s, "pool")
	svc := mkService(t, s, "users")

	missing := "svc-0000000000000000"
	wantNotFound(t, s.CreateAPI(ctx, newAPI(t, missing, "x", "GET", "/x", "")), "service", missing)

	a := newAPI(t, svc.ID, "get-user", "GET", "/user/{id}", ch.ID)
	a.Backend.Path = "/users/{id}"
	a.Backend.Timeout = intp(30)
	if err := s.CreateAPI(ctx, a); err != nil {
		t.Fatalf("CreateAPI: %v", err)
	}
	checkID(t, "api-", a.ID)
	checkStamps(t, a.CreatedAt, a.UpdatedAt)
	got, err := s.GetAPI(ctx, svc.ID, a.ID)
	if err != nil {
		t.Fatalf("GetAPI: %v", err)
	}
	sameJSON(t, "GetAPI", got, a)

	time.Sleep(2 * time.Millisecond)
	upd := *got
	upd.Description = "now a mock"
	upd.Backend = config.Backend{Type: config.BackendMock, Path: "/", Timeout: intp(15),
		Mock: &config.Mock{Status: 201, Headers: map[string]string{"X-A": "b"}, Body: "{}"}}
	upd.CreatedAt = config.Time{}
	if err := s.UpdateAPI(ctx, &upd); err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	if !upd.CreatedAt.Equal(a.CreatedAt.Time) || !upd.UpdatedAt.After(a.UpdatedAt.Time) {
		t.Fatalf("UpdateAPI timestamps: created %v (want %v), updated %v (want after %v)",
			upd.CreatedAt, a.CreatedAt, upd.UpdatedAt, a.UpdatedAt)
	}
	got, _ = s.GetAPI(ctx, svc.ID, a.ID)
	sameJSON(t, "GetAPI after update", got, &upd)

	missingAPI := "api-0000000000000000"
	_, err = s.GetAPI(ctx, svc.ID, missingAPI)
	wantNotFound(t, err, "api", missingAPI)
	ghost := newAPI(t, svc.ID, "ghost", "GET", "/ghost", "")
	ghost.ID = missingAPI
	wantNotFound(t, s.UpdateAPI(ctx, ghost), "api", missingAPI)
	wantNotFound(t, s.DeleteAPI(ctx, svc.ID, missingAPI), "api", missingAPI)
	_, err = s.GetAPI(ctx, missing, a.ID)
	wantNotFound(t, err, "service", missing)

	if err := s.DeleteAPI(ctx, svc.ID, a.ID); err != nil {
		t.Fatalf("DeleteAPI: %v", err)
	}
	_, err = s.GetAPI(ctx, svc.ID, a.ID)
	wantNotFound(t, err, "api", a.ID)
}

// testAPIWrongService: an API is only reachable through its own service.
func testAPIWrongService(t *testing.T, s store.Store) {
	ctx := t.Context()
	one := mkService(t, s, "one")
	two := mkService(t, s, "two")
	a := mkAPI(t, s, one.ID, "ping", "GET", "/ping", "")

	_, err := s.GetAPI(ctx, two.ID, a.ID)
	wantNotFound(t, err, "api", a.ID)
	moved := *a
	moved.ServiceID = two.ID
	wantNotFound(t, s.UpdateAPI(ctx, &moved), "api", a.ID)
	wantNotFound(t, s.DeleteAPI(ctx, two.ID, a.ID), "api", a.ID)
	if _, err := s.GetAPI(ctx, one.ID, a.ID); err != nil {
		t.Fatalf("GetAPI through its own service: %v", err)
	}
	if _, total, _ := s.ListAPIs(ctx, two.ID, store.Page{}); total != 0 {
		t.Fatalf("the API moved to the other service")
	}
}

func testAPIChannelMustExist(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "svc")
	missing := "ch-0000000000000000"
	bad := newAPI(t, svc.ID, "x", "GET", "/x", missing)
	wantInvalid(t, s.CreateAPI(ctx, bad), "backend.channel_id")

	a := mkAPI(t, s, svc.ID, "x", "GET", "/x", "")
	a.Backend = config.Backend{Type: config.BackendChannel, ChannelID: missing, Path: "/", Timeout: intp(15)}
	wantInvalid(t, s.UpdateAPI(ctx, a), "backend.channel_id")

	ch := mkChannel(t, s, "")
	a.Backend.ChannelID = ch.ID
	if err := s.UpdateAPI(ctx, a); err != nil {
		t.Fatalf("UpdateAPI onto an existing channel: %v", err)
	}
}

func testAPINames(t *testing.T, s store.Store) {
	ctx := t.Context()
	one := mkService(t, s, "one")
	two := mkService(t, s, "two")
	a := mkAPI(t, s, one.ID, "list", "GET", "/list", "")
	details := wantConflict(t, s.CreateAPI(ctx, newAPI(t, one.ID, "list", "GET", "/other", "")), "name")
	if !hasDetail(details, "id", a.ID, "name", "list") {
		t.Fatalf("conflict details %v do not name %s", details, a.ID)
	}
	// Names are per service.
	mkAPI(t, s, two.ID, "list", "GET", "/list", "")

	b := mkAPI(t, s, one.ID, "other", "GET", "/other", "")
	b.Name = "list"
	wantConflict(t, s.UpdateAPI(ctx, b), "name")
	a.Description = "same name"
	if err := s.UpdateAPI(ctx, a); err != nil {
		t.Fatalf("UpdateAPI keeping its name: %v", err)
	}
}

func testAPIRoutes(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "svc")
	get := mkAPI(t, s, svc.ID, "get", "GET", "/items", "")
	param := mkAPI(t, s, svc.ID, "item", "GET", "/items/{id}", "")
	post := mkAPI(t, s, svc.ID, "post", "POST", "/items", "") // another method
	mkAPI(t, s, svc.ID, "exact", "GET", "=/items", "")        // another kind
	mkAPI(t, s, svc.ID, "prefix", "GET", "^~/items", "")      // another kind
	mkAPI(t, s, svc.ID, "deeper", "GET", "/items/{id}/x", "") // another shape

	cases := []struct {
		name, method, path string
		in                 []*config.API // any of them may be named
	}{
		{"same", "GET", "/items", []*config.API{get}},
		{"any", "ANY", "/items", []*config.API{get, post}},
		{"param-renamed", "GET", "/items/{key}", []*config.API{param}},
		{"param-any", "ANY", "/items/{x}", []*config.API{param}},
	}
	for _, c := range cases {
		details := wantConflict(t, s.CreateAPI(ctx, newAPI(t, svc.ID, c.name, c.method, c.path, "")), "frontend.path")
		named := false
		for _, in := range c.in {
			named = named || hasDetail(details, "id", in.ID, "name", in.Name,
				"method", in.Frontend.Method, "path", in.Frontend.Path)
		}
		if !named {
			t.Fatalf("%s %s: conflict details %v do not name the API in the way", c.method, c.path, details)
		}
	}

	// Moving an API onto another's route is refused; keeping its own is not.
	b := mkAPI(t, s, svc.ID, "put", "PUT", "/items", "")
	b.Frontend.Method = "GET"
	wantConflict(t, s.UpdateAPI(ctx, b), "frontend.path")
	get.Description = "same route"
	if err := s.UpdateAPI(ctx, get); err != nil {
		t.Fatalf("UpdateAPI keeping its route: %v", err)
	}
	// Another service may use the same route in its draft; publishing is
	// where services meet.
	other := mkService(t, s, "other")
	mkAPI(t, s, other.ID, "get", "GET", "/items", "")
}
