package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/router"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/upstream"
)

// flakyStore is a store that can be made unreachable.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

func (f *flakyStore) Revision(ctx context.Context) (int64, error) {
	if f.down.Load() {
		return 0, &store.UnavailableError{Op: "revision", Err: errors.New("connection refused")}
	}
	return f.Store.Revision(ctx)
}

func (f *flakyStore) Load(ctx context.Context) (*config.State, error) {
	if f.down.Load() {
		return nil, &store.UnavailableError{Op: "load", Err: errors.New("connection refused")}
	}
	return f.Store.Load(ctx)
}

// sameState compares two configurations through their JSON.
func sameState(t *testing.T, what string, got, want *config.State) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// fill writes a configuration with a published API, a key pair secret and
// an application secret.
func fill(t *testing.T, st store.Store) {
	t.Helper()
	ctx := t.Context()
	svc := &config.Service{Name: "shop"}
	if err := config.ValidateService(svc); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	a := testAPI("hello", "GET", "/hello", mock("hi"))
	a.ServiceID = svc.ID
	if err := st.CreateAPI(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(ctx, svc.ID, "release", "first"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, &config.Key{Name: "partner"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateApp(ctx, &config.App{Name: "web"}); err != nil {
		t.Fatal(err)
	}
}

func TestLastAppliedRoundTrip(t *testing.T) {
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fill(t, st)
	want, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Keys) != 1 || want.Keys[0].SecretKey == "" || len(want.Apps) != 1 || want.Apps[0].AppSecret == "" {
		t.Fatalf("fixture without secrets: %+v", want)
	}
	path := filepath.Join(t.TempDir(), LastAppliedFile)
	if _, _, err := ReadLastApplied(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadLastApplied of no file: %v, want fs.ErrNotExist", err)
	}
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	if err := WriteLastApplied(path, want, at); err != nil {
		t.Fatal(err)
	}
	got, gotAt, err := ReadLastApplied(path)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "read back", got, want)
	if !gotAt.Equal(at) {
		t.Errorf("applied at %v, want %v", gotAt, at)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the file holds secrets", fi.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A damaged file is refused with a reason, not served.
	for name, body := range map[string]string{
		"not json":       "{",
		"other format":   `{"format":99,"revision":1,"state":{"Revision":1}}`,
		"no state":       `{"format":1,"revision":1}`,
		"revision mixup": `{"format":1,"revision":2,"state":{"Revision":1}}`,
	} {
		bad := filepath.Join(t.TempDir(), LastAppliedFile)
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadLastApplied(bad); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

// waitSaved waits until the manager's file holds revision rev.
func waitSaved(t *testing.T, m *Manager, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.saver.savedRevision() != rev {
		if time.Now().After(deadline) {
			t.Fatalf("the last-applied file holds revision %d, want %d", m.saver.savedRevision(), rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStartFromLastApplied: a manager keeps what it applies in the file; a
// node that starts while the store is unreachable serves that file, says
// it is stale, and catches up once the store is back.
func TestStartFromLastApplied(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, LastAppliedFile)
	inner, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	st := &flakyStore{Store: inner}

	// First life: applies and saves.
	m := NewManager(st, upstream.NewPool(), slog.New(slog.DiscardHandler))
	m.SetLastApplied(path)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	fill(t, st)
	rev, _ := st.Revision(ctx)
	waitRevision(t, m, rev, 10*time.Second)
	waitSaved(t, m, rev)
	stop()
	<-done
	saved, _, err := ReadLastApplied(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := inner.Load(ctx)
	sameState(t, "saved configuration", saved, want)

	// Second life: the store is down at start.
	st.down.Store(true)
	m = NewManager(st, upstream.NewPool(), slog.New(slog.DiscardHandler))
	m.SetLastApplied(path)
	cause := m.Refresh(ctx)
	if !store.IsUnavailable(cause) {
		t.Fatalf("Refresh with the store down: %v", cause)
	}
	if _, ok := m.Stale(); ok {
		t.Fatal("stale before serving anything")
	}
	if err := m.Restore(saved, cause); err != nil {
		t.Fatal(err)
	}
	var match router.Match
	if _, _, res := m.Current().Lookup("gw", "GET", "/hello", &match); res != router.Found {
		t.Fatalf("the restored configuration does not serve /hello: %v", res)
	}
	status := m.Status().(Status)
	if !status.Stale || status.StaleSince == nil || status.StaleError == "" || status.Revision != rev {
		t.Fatalf("status %+v, want stale at revision %d", status, rev)
	}

	// The store comes back with a newer revision: caught up, not stale.
	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	ch := m.Changes()
	st.down.Store(false)
	if err := inner.CreateChannel(ctx, &config.Channel{Network: "default", Scheme: "http",
		Nodes: []config.Node{{Host: "127.0.0.1", Port: 9, Weight: intp(1)}}}); err != nil {
		t.Fatal(err)
	}
	rev2, _ := inner.Revision(ctx)
	waitRevision(t, m, rev2, 15*time.Second)
	select {
	case <-ch:
	default:
		t.Error("Changes was not closed by the catch-up")
	}
	if s, ok := m.Stale(); ok {
		t.Fatalf("still stale after catching up: %+v", s)
	}
	waitSaved(t, m, rev2)
}

// TestStaleWhileStoreDown: a running node whose store fails says so, keeps
// serving, and clears the flag once the store answers again.
func TestStaleWhileStoreDown(t *testing.T) {
	ctx := t.Context()
	inner, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	st := &flakyStore{Store: inner}
	m := NewManager(st, upstream.NewPool(), slog.New(slog.DiscardHandler))
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC()
	st.down.Store(true)
	if err := m.Refresh(ctx); !store.IsUnavailable(err) {
		t.Fatalf("Refresh = %v", err)
	}
	s, ok := m.Stale()
	if !ok || s.FromFile || s.Since.After(before) {
		t.Fatalf("Stale = %+v, %v; want stale since the last good read (before %v)", s, ok, before)
	}
	first := s.Since
	if err := m.Refresh(ctx); err == nil {
		t.Fatal("Refresh succeeded with the store down")
	}
	if s, _ := m.Stale(); !s.Since.Equal(first) {
		t.Errorf("stale_since moved from %v to %v during one outage", first, s.Since)
	}
	if m.Current() == nil {
		t.Fatal("the snapshot went away")
	}
	st.down.Store(false)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Stale(); ok {
		t.Fatal("still stale with the store back at the same revision")
	}
}
