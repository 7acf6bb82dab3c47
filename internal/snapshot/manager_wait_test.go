package snapshot

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/upstream"
)

// TestWaitRevision: WaitRevision returns once the written revision is
// served, and gives up only with its context.
func TestWaitRevision(t *testing.T) {
	m, st := newManager(t)
	ctx := t.Context()
	for i := range 20 {
		c := testChannel("", 1)
		if err := st.CreateChannel(ctx, &c); err != nil {
			t.Fatal(err)
		}
		rev, _ := st.Revision(ctx)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.WaitRevision(wctx, rev)
		cancel()
		if err != nil {
			t.Fatalf("write %d: WaitRevision(%d) = %v (serving %d)", i, rev, err, m.ServedRevision())
		}
		if got := m.ServedRevision(); got < rev {
			t.Fatalf("WaitRevision returned while serving %d < %d", got, rev)
		}
	}
	// A revision nobody wrote: only the context ends the wait.
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := m.WaitRevision(wctx, m.ServedRevision()+100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRevision of a future revision = %v, want the deadline", err)
	}
}

// TestWaitRevisionBuildError: a revision that cannot be built ends the
// wait with the build error rather than the deadline.
func TestWaitRevisionBuildError(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := NewManager(st, upstream.NewPool(), slog.New(slog.DiscardHandler))
	m.build = func(s *config.State) *Snapshot {
		if s.Revision > 0 {
			panic("compiler bug")
		}
		return m.builder.Build(s)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	if err := st.CreateService(ctx, &config.Service{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	rev, _ := st.Revision(ctx)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var be *BuildError
	if err := m.WaitRevision(wctx, rev); !errors.As(err, &be) || be.Revision != rev {
		t.Fatalf("WaitRevision = %v, want the BuildError of revision %d", err, rev)
	}
}
