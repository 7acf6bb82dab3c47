package snapshot

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/router"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/upstream"
)

// waitRevision waits until the manager serves revision rev or later.
func waitRevision(tb testing.TB, m *Manager, rev int64, limit time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		if s := m.Current(); s != nil && s.Revision >= rev {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("revision %d not served after %v (current %+v)", rev, limit, m.Status())
		}
		time.Sleep(time.Millisecond)
	}
}

func newManager(tb testing.TB) (*Manager, *sqlite.Store) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	m := NewManager(st, upstream.NewPool(), slog.New(slog.DiscardHandler))
	if err := m.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return m, st
}

func TestManagerFollowsPublishes(t *testing.T) {
	m, st := newManager(t)
	ctx := context.Background()
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
	var match router.Match
	if _, err := st.Publish(ctx, svc.ID, "release", ""); err != nil {
		t.Fatal(err)
	}
	rev, _ := st.Revision(ctx)
	waitRevision(t, m, rev, 5*time.Second)
	if _, _, res := m.Current().Lookup("gw", "GET", "/hello", &match); res != router.Found {
		t.Fatalf("published API not served: %v", res)
	}
	if err := st.Unpublish(ctx, svc.ID, "release"); err != nil {
		t.Fatal(err)
	}
	rev, _ = st.Revision(ctx)
	waitRevision(t, m, rev, 5*time.Second)
	if _, _, res := m.Current().Lookup("gw", "GET", "/hello", &match); res != router.NotFound {
		t.Fatalf("unpublished API still served: %v", res)
	}
}

// BenchmarkWriteToServe measures the time from a committed channel edit to the
// snapshot that serves it, on one node (the target is well under 50 ms).
func BenchmarkWriteToServe(b *testing.B) {
	m, st := newManager(b)
	ctx := context.Background()
	ch := testChannel("", 1, 1)
	if err := st.CreateChannel(ctx, &ch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w := i%100 + 1
		ch.Nodes[0].Weight = &w
		if err := st.UpdateChannel(ctx, &ch); err != nil {
			b.Fatal(err)
		}
		rev, _ := st.Revision(ctx)
		waitRevision(b, m, rev, 5*time.Second)
	}
}
