package storetest

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// testCluster: heartbeats record nodes without touching the configuration,
// and the admin token is settled once.
func testCluster(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, ok := s.(store.Cluster)
	if !ok {
		t.Fatalf("%T does not implement store.Cluster", s)
	}
	if nodes, err := c.Nodes(ctx); err != nil || len(nodes) != 0 {
		t.Fatalf("Nodes of a new store = %v, %v; want none", nodes, err)
	}
	rev := revision(t, s)
	started := time.Now().UTC().Truncate(time.Millisecond)
	a := store.NodeInfo{ID: "node-a", Hostname: "gw1", Version: "1.2.3", ProxyAddr: "10.0.0.1:8080",
		Revision: 7, StartedAt: started}
	b := store.NodeInfo{ID: "node-b", Hostname: "gw2", Version: "1.2.4", ProxyAddr: "10.0.0.2:8080",
		Revision: 6, Stale: true, StartedAt: started.Add(time.Second)}
	for _, n := range []store.NodeInfo{a, b} {
		if err := c.Heartbeat(ctx, n); err != nil {
			t.Fatalf("Heartbeat(%s): %v", n.ID, err)
		}
	}
	if got := revision(t, s); got != rev {
		t.Fatalf("heartbeats moved the revision from %d to %d", rev, got)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("Nodes = %+v, want a and b", nodes)
	}
	for i, want := range []store.NodeInfo{a, b} {
		got := nodes[i]
		if got.ID != want.ID || got.Hostname != want.Hostname || got.Version != want.Version ||
			got.ProxyAddr != want.ProxyAddr || got.Revision != want.Revision || got.Stale != want.Stale ||
			!got.StartedAt.Equal(want.StartedAt) {
			t.Errorf("node %d = %+v, want %+v", i, got, want)
		}
		if got.LastSeen.IsZero() || got.SeenAgo < 0 || got.SeenAgo > time.Minute {
			t.Errorf("node %s: last seen %v, %v ago; want just now", got.ID, got.LastSeen, got.SeenAgo)
		}
	}

	// A later heartbeat replaces what the node said.
	a.Revision, a.Stale = 8, true
	if err := c.Heartbeat(ctx, a); err != nil {
		t.Fatal(err)
	}
	nodes, err = c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "node-a" || nodes[0].Revision != 8 || !nodes[0].Stale {
		t.Fatalf("after a second heartbeat: %+v", nodes)
	}
	if err := c.Heartbeat(ctx, store.NodeInfo{}); err == nil {
		t.Error("a heartbeat without an id was accepted")
	}

	// The first token stored wins; later candidates get it.
	tok, err := c.EnsureAdminToken(ctx, "first")
	if err != nil || tok != "first" {
		t.Fatalf("EnsureAdminToken on a store without a token = %q, %v", tok, err)
	}
	if tok, err := c.EnsureAdminToken(ctx, "second"); err != nil || tok != "first" {
		t.Fatalf("EnsureAdminToken again = %q, %v; want the stored one", tok, err)
	}
	if tok, err := s.AdminToken(ctx); err != nil || tok != "first" {
		t.Fatalf("AdminToken = %q, %v", tok, err)
	}
}
