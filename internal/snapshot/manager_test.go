package snapshot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/balancer"
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
	if err := st.Unpublish(ctx, svc.ID, "release", ""); err != nil {
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

// TestManagerBuildPanicKeepsServing: a build that panics (a bug, or stored
// data the compiler does not expect) does not stop the manager: the previous
// snapshot keeps serving, the failure is logged once with its stack and shown
// by Status, and the next write is built again.
func TestManagerBuildPanicKeepsServing(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs syncBuffer
	m := NewManager(st, upstream.NewPool(), slog.New(slog.NewTextHandler(&logs, nil)))
	var panicking atomic.Bool
	var builds atomic.Int32
	m.build = func(s *config.State) *Snapshot {
		builds.Add(1)
		if panicking.Load() {
			panic("compiler bug")
		}
		return m.builder.Build(s)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	good := m.Current()

	panicking.Store(true)
	svc := &config.Service{Name: "shop"}
	if err := st.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	rev, _ := st.Revision(ctx)
	err = m.Refresh(ctx)
	var be *BuildError
	if !errors.As(err, &be) || be.Revision != rev || !strings.Contains(be.Message, "compiler bug") {
		t.Fatalf("Refresh = %v, want a BuildError for revision %d naming the panic", err, rev)
	}
	if m.Current() != good {
		t.Fatal("the previous snapshot was replaced")
	}
	status := m.Status().(Status)
	if status.BuildError == nil || status.BuildError.Revision != rev || status.Revision != good.Revision {
		t.Fatalf("status = %+v, want the build error of revision %d beside the served revision %d", status, rev, good.Revision)
	}
	if out := logs.String(); !strings.Contains(out, "compiler bug") || !strings.Contains(out, "manager_test.go") {
		t.Fatalf("the panic and its stack are not logged:\n%s", out)
	}

	// The same revision is not built again (it would panic again), nor
	// logged again; Refresh still says it is not applied.
	n := builds.Load()
	if err := m.Refresh(ctx); !errors.As(err, &be) {
		t.Fatalf("second Refresh = %v, want the BuildError", err)
	}
	if builds.Load() != n || strings.Count(logs.String(), "compiler bug") != 1 {
		t.Fatalf("revision %d built or logged again", rev)
	}

	// Run survives it too, and the next write builds again.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := st.CreateService(ctx, &config.Service{Name: "shop2"}); err != nil {
		t.Fatal(err)
	}
	rev2, _ := st.Revision(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if f := m.Status().(Status).BuildError; f != nil && f.Revision == rev2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d not tried: %+v", rev2, m.Status())
		}
		time.Sleep(time.Millisecond)
	}
	if m.Current() != good {
		t.Fatal("the previous snapshot was replaced")
	}
	panicking.Store(false)
	if err := st.CreateService(ctx, &config.Service{Name: "shop3"}); err != nil {
		t.Fatal(err)
	}
	rev3, _ := st.Revision(ctx)
	waitRevision(t, m, rev3, 5*time.Second)
	if f := m.Status().(Status).BuildError; f != nil {
		t.Fatalf("build error %+v still shown after a good build", f)
	}
}

// TestManagerOversizedStoredChannel: a stored channel with more nodes than a
// balancer holds (the admin API refuses more than 200, but a past version or
// a hand edit may have left them) panicked every build, so the node could
// not boot. It must build, without serving that channel.
func TestManagerOversizedStoredChannel(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	big := config.Channel{Network: "default", Scheme: "http", Algorithm: config.DefaultAlgo}
	for i := range balancer.MaxNodes + 44 {
		big.Nodes = append(big.Nodes, config.Node{Host: "127.0.0.1", Port: 10000 + i, Weight: intp(1)})
	}
	if err := st.CreateChannel(ctx, &big); err != nil { // the store does not validate
		t.Fatal(err)
	}
	svc := &config.Service{Name: "shop"}
	if err := st.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	bigAPI := testAPI("big", "GET", "/big", config.Backend{Type: "channel", ChannelID: big.ID})
	bigAPI.ServiceID = svc.ID
	okAPI := testAPI("ok", "GET", "/ok", mock("ok"))
	okAPI.ServiceID = svc.ID
	for _, a := range []*config.API{&bigAPI, &okAPI} {
		if err := st.CreateAPI(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Publish(ctx, svc.ID, "release", ""); err != nil {
		t.Fatal(err)
	}

	m := NewManager(st, upstream.NewPool(), slog.New(slog.DiscardHandler))
	if err := m.Refresh(ctx); err != nil { // what serve does at boot
		t.Fatalf("boot: %v", err)
	}
	s := m.Current()
	var match router.Match
	if _, _, res := s.Lookup("gw", "GET", "/ok", &match); res != router.Found {
		t.Errorf("the other API is not served: %v", res)
	}
	_, _, res := s.Lookup("gw", "GET", "/big", &match)
	// Build reports the balancer's error: the API is disabled and says why.
	if len(s.Problems) != 1 {
		t.Fatalf("problems %+v (lookup %v), want the oversized channel's API listed", s.Problems, res)
	}
	if p := s.Problems[0]; p.APIID != bigAPI.ID || !strings.Contains(p.Message, "300 nodes") || res != router.NotFound {
		t.Errorf("problem %+v (lookup %v), want %s disabled for its 300 nodes", p, res, bigAPI.ID)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
