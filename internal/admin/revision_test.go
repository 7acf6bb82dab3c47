package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePlane is a data plane whose serving the test controls: WaitRevision
// reports each call and blocks until release, then serves the revision.
type fakePlane struct {
	mu      sync.Mutex
	served  int64
	calls   chan int64
	release chan struct{}
}

func newFakePlane() *fakePlane {
	return &fakePlane{calls: make(chan int64, 16), release: make(chan struct{})}
}

func (p *fakePlane) ServedRevision() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served
}

func (p *fakePlane) WaitRevision(ctx context.Context, rev int64) error {
	p.calls <- rev
	select {
	case <-p.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.mu.Lock()
	p.served = max(p.served, rev)
	p.mu.Unlock()
	return nil
}

func revisionOf(t *testing.T, r response) int64 {
	t.Helper()
	v := r.header.Get(RevisionHeader)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s = %q, want a revision", RevisionHeader, v)
	}
	return n
}

// TestWriteAnswersOnceServed: a successful write answers only after the
// data plane serves the revision it committed, and says which one.
func TestWriteAnswersOnceServed(t *testing.T) {
	t.Parallel()
	plane := newFakePlane()
	e := newEnv(t, func(o *Options) { o.DataPlane = plane })

	done := make(chan response, 1)
	go func() { done <- e.do("POST", "/api/v1/channels", channelMap("waits", "default")) }()
	var asked int64
	select {
	case asked = <-plane.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the write did not wait for the data plane")
	}
	rev, err := e.store.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if asked != rev {
		t.Fatalf("waited for revision %d, the store is at %d", asked, rev)
	}
	select {
	case r := <-done:
		t.Fatalf("the write answered %d before the data plane served it", r.status)
	default: // WaitRevision is still blocked: no answer can have been sent
	}
	close(plane.release)
	var r response
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after the data plane served the write")
	}
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if got := revisionOf(t, r); got != rev {
		t.Errorf("%s = %d, want %d", RevisionHeader, got, rev)
	}

	// Reads carry the revision served; so do failed writes, which wait
	// for nothing.
	if got := revisionOf(t, e.do("GET", "/api/v1/channels", nil)); got != rev {
		t.Errorf("GET: %s = %d, want %d", RevisionHeader, got, rev)
	}
	bad := e.do("POST", "/api/v1/channels", `{"network":"default"}`)
	if bad.status != http.StatusBadRequest || revisionOf(t, bad) != rev {
		t.Errorf("failed write: %d with %s = %q", bad.status, RevisionHeader, bad.header.Get(RevisionHeader))
	}
	if len(plane.calls) != 0 {
		t.Errorf("a read or a failed write waited for the data plane")
	}
	if h := e.doAuth("GET", "/api/v1/channels", nil, "").header.Get(RevisionHeader); h != "" {
		t.Errorf("an unauthorized call was told the revision %q", h)
	}
}

// TestWriteWaitIsBounded: when the data plane does not catch up, the write
// still answers (it is committed) after WriteWait, and the node logs why.
func TestWriteWaitIsBounded(t *testing.T) {
	t.Parallel()
	plane := newFakePlane() // never released
	e := newEnv(t, func(o *Options) {
		o.DataPlane = plane
		o.WriteWait = 50 * time.Millisecond
	})
	r := e.do("POST", "/api/v1/channels", channelMap("late", "default"))
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	rev, _ := e.store.Revision(t.Context())
	if got := revisionOf(t, r); got != rev {
		t.Errorf("%s = %d, want %d", RevisionHeader, got, rev)
	}
	if !strings.Contains(e.logs.String(), "does not serve it yet") {
		t.Errorf("no warning logged:\n%s", e.logs.String())
	}
}

// TestNoDataPlaneNoHeader: without a data plane the API behaves as before.
func TestNoDataPlaneNoHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.do("POST", "/api/v1/channels", channelMap("plain", "default"))
	if r.status != http.StatusCreated || r.header.Get(RevisionHeader) != "" {
		t.Fatalf("status %d, %s = %q", r.status, RevisionHeader, r.header.Get(RevisionHeader))
	}
}
