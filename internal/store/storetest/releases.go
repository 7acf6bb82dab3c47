package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func testPublish(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "svc")

	_, err := s.Publish(ctx, svc.ID, "production", "")
	wantInvalid(t, err, "environment")
	_, err = s.Publish(ctx, svc.ID, "draft", "")
	wantInvalid(t, err, "environment")
	_, err = s.Publish(ctx, "svc-0000000000000000", "release", "")
	wantNotFound(t, err, "service", "svc-0000000000000000")

	// Nothing to publish is refused rather than serving an empty version.
	_, err = s.Publish(ctx, svc.ID, "release", "")
	var inv *store.InvalidError
	if !asInvalid(err, &inv) {
		t.Fatalf("Publish without APIs: %v, want an InvalidError", err)
	}

	a := mkAPI(t, s, svc.ID, "ping", "GET", "/ping", "")
	r1, err := s.Publish(ctx, svc.ID, "test", "first")
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if r1.Version == "" || r1.ServiceID != svc.ID || r1.Environment != "test" || r1.Description != "first" {
		t.Fatalf("Publish = %+v", r1)
	}
	checkStamps(t, r1.CreatedAt, r1.CreatedAt)

	r2, err := s.Publish(ctx, svc.ID, "release", "second")
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	r3 := publish(t, s, svc.ID, "release")
	if r1.Version == r2.Version || r2.Version == r3.Version || r1.Version == r3.Version {
		t.Fatalf("versions are not unique: %s %s %s", r1.Version, r2.Version, r3.Version)
	}

	rels, total, err := s.ListReleases(ctx, svc.ID, store.Page{})
	if err != nil || total != 3 || len(rels) != 3 {
		t.Fatalf("ListReleases = %v, %d, %v", rels, total, err)
	}
	for i, want := range []*config.Release{r3, r2, r1} {
		got := rels[i]
		if got.Version != want.Version || got.Environment != want.Environment ||
			got.Description != want.Description || !got.CreatedAt.Equal(want.CreatedAt.Time) || got.ServiceID != svc.ID {
			t.Fatalf("ListReleases[%d] = %+v, want %+v (newest first)", i, got, want)
		}
	}
	rels, total, _ = s.ListReleases(ctx, svc.ID, store.Page{Limit: 1, Offset: 1})
	if total != 3 || len(rels) != 1 || rels[0].Version != r2.Version {
		t.Fatalf("ListReleases page = %v, %d", rels, total)
	}

	envs, err := s.Environments(ctx, svc.ID)
	if err != nil {
		t.Fatalf("Environments: %v", err)
	}
	if len(envs) != 2 || envs[0].Environment != "test" || envs[0].Version != r1.Version ||
		envs[1].Environment != "release" || envs[1].Version != r3.Version {
		t.Fatalf("Environments = %+v, want test=%s, release=%s in display order", envs, r1.Version, r3.Version)
	}
	if !envs[1].PublishedAt.Equal(r3.CreatedAt.Time) {
		t.Fatalf("published_at %v, want the release's created_at %v", envs[1].PublishedAt, r3.CreatedAt)
	}

	st := load(t, s)
	p := published(st, svc.ID, "release")
	if p == nil || p.Version != r3.Version || len(p.APIs) != 1 || p.APIs[0].ID != a.ID {
		t.Fatalf("Load release entry = %+v", p)
	}
	if published(st, svc.ID, "prepub") != nil {
		t.Fatalf("Load serves an environment that was never published")
	}
}

func asInvalid(err error, inv **store.InvalidError) bool {
	return errors.As(err, inv) && (*inv).Message != ""
}

// testPublishSnapshot: a release is a copy. Editing, adding and deleting
// draft APIs afterwards changes nothing that is served, while the service's
// own settings are live.
func testPublishSnapshot(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := mkChannel(t, s, "pool")
	svc := mkService(t, s, "svc")
	a := mkAPI(t, s, svc.ID, "a", "GET", "/a", ch.ID)
	b := mkAPI(t, s, svc.ID, "b", "POST", "/b", "")
	rel := publish(t, s, svc.ID, "release")
	before := published(load(t, s), svc.ID, "release")
	if before == nil {
		t.Fatalf("Load does not serve the published service")
	}
	sameJSON(t, "served APIs", byID(before.APIs), byID([]config.API{*a, *b}))
	if rel.APIs != nil {
		sameJSON(t, "Release.APIs", byID(rel.APIs), byID([]config.API{*a, *b}))
	}

	a.Frontend.Path = "/a2"
	a.Backend = config.Backend{Type: config.BackendURL, URL: "http://10.0.0.9", Path: "/", Timeout: intp(5)}
	if err := s.UpdateAPI(ctx, a); err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	if err := s.DeleteAPI(ctx, svc.ID, b.ID); err != nil {
		t.Fatalf("DeleteAPI: %v", err)
	}
	mkAPI(t, s, svc.ID, "c", "GET", "/c", "")
	svc.Description = "live settings"
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}

	after := published(load(t, s), svc.ID, "release")
	if after == nil || after.Version != rel.Version {
		t.Fatalf("served entry after draft edits = %+v", after)
	}
	sameJSON(t, "served APIs after draft edits", after.APIs, before.APIs)
	if after.Service.Description != "live settings" {
		t.Fatalf("served service = %+v, want its current settings", after.Service)
	}
}

func testRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "svc")
	a := mkAPI(t, s, svc.ID, "a", "GET", "/v1", "")
	r1 := publish(t, s, svc.ID, "release")
	a.Frontend.Path = "/v2"
	if err := s.UpdateAPI(ctx, a); err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	r2 := publish(t, s, svc.ID, "release")
	if got := published(load(t, s), svc.ID, "release"); got.APIs[0].Frontend.Path != "/v2" {
		t.Fatalf("served path %s, want /v2", got.APIs[0].Frontend.Path)
	}

	time.Sleep(2 * time.Millisecond)
	es, err := s.Rollback(ctx, svc.ID, "release", r1.Version, "")
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if es.Environment != "release" || es.Version != r1.Version || !es.PublishedAt.After(r2.CreatedAt.Time) {
		t.Fatalf("Rollback = %+v, want release=%s published after %v", es, r1.Version, r2.CreatedAt)
	}
	got := published(load(t, s), svc.ID, "release")
	if got == nil || got.Version != r1.Version || got.APIs[0].Frontend.Path != "/v1" {
		t.Fatalf("served after rollback = %+v, want %s with /v1", got, r1.Version)
	}
	envs, _ := s.Environments(ctx, svc.ID)
	if len(envs) != 1 || envs[0].Version != r1.Version || !envs[0].PublishedAt.Equal(es.PublishedAt.Time) {
		t.Fatalf("Environments after rollback = %+v", envs)
	}

	// Any version can be served in any environment: promote r2 to test.
	if _, err := s.Rollback(ctx, svc.ID, "test", r2.Version, ""); err != nil {
		t.Fatalf("Rollback into another environment: %v", err)
	}
	if got := published(load(t, s), svc.ID, "test"); got == nil || got.Version != r2.Version {
		t.Fatalf("served in test = %+v, want %s", got, r2.Version)
	}

	// Versions are never handed out twice, rollback or not.
	r3 := publish(t, s, svc.ID, "prepub")
	if r3.Version == r1.Version || r3.Version == r2.Version {
		t.Fatalf("publish after rollback reused version %s", r3.Version)
	}
	if _, total, _ := s.ListReleases(ctx, svc.ID, store.Page{}); total != 3 {
		t.Fatalf("rollback changed the history: %d releases", total)
	}

	_, err = s.Rollback(ctx, svc.ID, "release", "v999", "")
	wantNotFound(t, err, "release", "v999")
	_, err = s.Rollback(ctx, "svc-0000000000000000", "release", r1.Version, "")
	wantNotFound(t, err, "service", "svc-0000000000000000")
	_, err = s.Rollback(ctx, svc.ID, "nowhere", r1.Version, "")
	wantNotFound(t, err, "environment", "nowhere")
	// A version belongs to its service.
	other := mkService(t, s, "other")
	_, err = s.Rollback(ctx, other.ID, "release", r1.Version, "")
	wantNotFound(t, err, "release", r1.Version)
}

// testRollbackDeletedChannel: a version that is not served does not hold its
// channels, so a channel can go; serving that version again is then refused.
func testRollbackDeletedChannel(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := mkChannel(t, s, "pool")
	svc := mkService(t, s, "svc")
	a := mkAPI(t, s, svc.ID, "a", "GET", "/a", ch.ID)
	r1 := publish(t, s, svc.ID, "release")
	a.Backend = config.Backend{Type: config.BackendMock, Path: "/", Timeout: intp(15), Mock: &config.Mock{Status: 200}}
	if err := s.UpdateAPI(ctx, a); err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	publish(t, s, svc.ID, "release")
	if err := s.DeleteChannel(ctx, ch.ID); err != nil {
		t.Fatalf("DeleteChannel no longer served: %v", err)
	}
	rev := revision(t, s)
	_, err := s.Rollback(ctx, svc.ID, "release", r1.Version, "")
	wantInvalid(t, err, "backend.channel_id")
	if revision(t, s) != rev {
		t.Fatalf("a refused rollback changed the revision")
	}
}

func testUnpublish(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "svc")
	mkAPI(t, s, svc.ID, "a", "GET", "/a", "")
	wantNotFound(t, s.Unpublish(ctx, svc.ID, "release", ""), "environment", "release")
	wantNotFound(t, s.Unpublish(ctx, svc.ID, "nowhere", ""), "environment", "nowhere")
	wantNotFound(t, s.Unpublish(ctx, "svc-0000000000000000", "release", ""), "service", "svc-0000000000000000")

	publish(t, s, svc.ID, "release")
	publish(t, s, svc.ID, "test")
	if err := s.Unpublish(ctx, svc.ID, "release", ""); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	envs, err := s.Environments(ctx, svc.ID)
	if err != nil || len(envs) != 1 || envs[0].Environment != "test" {
		t.Fatalf("Environments after unpublish = %+v, %v", envs, err)
	}
	st := load(t, s)
	if published(st, svc.ID, "release") != nil || published(st, svc.ID, "test") == nil {
		t.Fatalf("Load after unpublishing release = %+v", st.Published)
	}
	wantNotFound(t, s.Unpublish(ctx, svc.ID, "release", ""), "environment", "release")
	if err := s.Unpublish(ctx, svc.ID, "test", ""); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	envs, err = s.Environments(ctx, svc.ID)
	if err != nil || envs == nil || len(envs) != 0 {
		t.Fatalf("Environments of an unpublished service = %v, %v; want []", envs, err)
	}
	if _, total, _ := s.ListReleases(ctx, svc.ID, store.Page{}); total != 2 {
		t.Fatalf("unpublishing dropped history: %d releases", total)
	}
}

func testCollisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkService(t, s, "a")
	aGet := mkAPI(t, s, a.ID, "get-x", "GET", "/x", "")
	aAny := mkAPI(t, s, a.ID, "any-y", "ANY", "/y", "")
	aParam := mkAPI(t, s, a.ID, "item", "GET", "/items/{id}", "")
	publish(t, s, a.ID, "release")

	// b has its own custom domain, but is still served on the default host,
	// where a is.
	b := mkService(t, s, "b", "b.example.com")
	bGet := mkAPI(t, s, b.ID, "get-x", "GET", "/x", "")
	mkAPI(t, s, b.ID, "post-x", "POST", "/x", "")     // another method: fine
	mkAPI(t, s, b.ID, "exact-x", "GET", "=/x", "")    // another kind: fine
	mkAPI(t, s, b.ID, "get-z", "GET", "/z", "")       // another path: fine
	bY := mkAPI(t, s, b.ID, "get-y", "GET", "/y", "") // a serves ANY /y
	bParam := mkAPI(t, s, b.ID, "thing", "DELETE", "/items/{name}", "")

	rev := revision(t, s)
	_, err := s.Publish(ctx, b.ID, "release", "")
	details := wantConflict(t, err, "")
	for _, in := range []*config.API{aGet, aAny} {
		if !hasDetail(details, "service_id", a.ID, "api_id", in.ID, "api_name", in.Name,
			"method", in.Frontend.Method, "path", in.Frontend.Path) {
			t.Fatalf("collision details %v do not list %s %s of %s", details, in.Frontend.Method, in.Frontend.Path, a.ID)
		}
	}
	if hasDetail(details, "api_id", aParam.ID) {
		t.Fatalf("collision details %v list GET /items/{id}, which DELETE does not collide with", details)
	}
	if revision(t, s) != rev {
		t.Fatalf("a refused publish changed the revision")
	}
	if _, total, _ := s.ListReleases(ctx, b.ID, store.Page{}); total != 0 {
		t.Fatalf("a refused publish left a release")
	}

	// Other environments are other route tables.
	bTest := publish(t, s, b.ID, "test")
	// Rolling that version into release meets the same check.
	_, err = s.Rollback(ctx, b.ID, "release", bTest.Version, "")
	wantConflict(t, err, "")

	// A service does not collide with its own earlier version.
	publish(t, s, a.ID, "release")

	// Remove what is in the way, and b can go live.
	for _, api := range []*config.API{bGet, bY} {
		if err := s.DeleteAPI(ctx, b.ID, api.ID); err != nil {
			t.Fatalf("DeleteAPI: %v", err)
		}
	}
	publish(t, s, b.ID, "release")

	// A param route with the same shape and method collides whatever the
	// parameter's name.
	bParam.Frontend.Method = "GET"
	if err := s.UpdateAPI(ctx, bParam); err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	_, err = s.Publish(ctx, b.ID, "release", "")
	details = wantConflict(t, err, "")
	if len(details) != 1 || !hasDetail(details, "api_id", aParam.ID, "path", "/items/{id}") {
		t.Fatalf("collision details %v, want only %s", details, aParam.ID)
	}
	// And once a stops serving release, the way is clear.
	if err := s.Unpublish(ctx, a.ID, "release", ""); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	publish(t, s, b.ID, "release")
}

// testHistory: every change of what a service serves is kept, newest
// first, with its note and what it replaced; a failed change leaves no
// trace; the history goes with its service.
func testHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "svc")
	mkAPI(t, s, svc.ID, "ping", "GET", "/ping", "")
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := s.Publish(ctx, svc.ID, "test", "first cut")
	step("publish test", err) // v1
	_, err = s.Rollback(ctx, svc.ID, "release", "v1", "tested")
	step("promote", err)
	_, err = s.Publish(ctx, svc.ID, "release", "second cut")
	step("publish release", err) // v2
	_, err = s.Rollback(ctx, svc.ID, "release", "v1", "v2 is broken")
	step("rollback", err)
	step("unpublish", s.Unpublish(ctx, svc.ID, "test", "test is done"))

	// Refused changes are not history.
	_, err = s.Rollback(ctx, svc.ID, "release", "v9", "")
	wantNotFound(t, err, "release", "v9")
	wantNotFound(t, s.Unpublish(ctx, svc.ID, "prepub", ""), "environment", "prepub")

	got, total, err := s.History(ctx, svc.ID, store.Page{Limit: 10})
	step("history", err)
	want := []config.ReleaseEvent{
		{Action: "unpublish", Environment: "test", Version: "", PreviousVersion: "v1", Description: "test is done"},
		{Action: "rollback", Environment: "release", Version: "v1", PreviousVersion: "v2", Description: "v2 is broken"},
		{Action: "publish", Environment: "release", Version: "v2", PreviousVersion: "v1", Description: "second cut"},
		{Action: "promote", Environment: "release", Version: "v1", PreviousVersion: "", Description: "tested"},
		{Action: "publish", Environment: "test", Version: "v1", PreviousVersion: "", Description: "first cut"},
	}
	if total != len(want) || len(got) != len(want) {
		t.Fatalf("history has %d items (total %d), want %d: %+v", len(got), total, len(want), got)
	}
	for i := range want {
		checkStamps(t, got[i].CreatedAt, got[i].CreatedAt)
		if i+1 < len(got) && got[i+1].CreatedAt.After(got[i].CreatedAt.Time) {
			t.Errorf("history item %d is newer than item %d", i+1, i)
		}
		got[i].CreatedAt = config.Time{}
		if got[i] != want[i] {
			t.Errorf("history item %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	page, total, err := s.History(ctx, svc.ID, store.Page{Limit: 2, Offset: 1})
	step("history page", err)
	if total != len(want) || len(page) != 2 || page[0].Action != "rollback" || page[1].Action != "publish" {
		t.Fatalf("page 2 of 2 = %+v (total %d)", page, total)
	}
	_, _, err = s.History(ctx, "svc-0000000000000000", store.Page{})
	wantNotFound(t, err, "service", "svc-0000000000000000")

	step("unpublish release", s.Unpublish(ctx, svc.ID, "release", ""))
	step("delete service", s.DeleteService(ctx, svc.ID))
	again := mkService(t, s, "svc")
	if _, total, err := s.History(ctx, again.ID, store.Page{}); err != nil || total != 0 {
		t.Fatalf("history of a new service: total %d, %v", total, err)
	}
}
