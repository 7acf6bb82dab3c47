package admin

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// TestNodes: GET /api/v1/nodes judges each node's heartbeat against the
// store's revision.
func TestNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	c := e.store.(store.Cluster)
	e.must(http.StatusCreated, "POST", "/api/v1/channels", channelMap("one", "default"))
	rev, _ := e.store.Revision(ctx)
	started := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i, n := range []store.NodeInfo{
		{ID: "node-a", Hostname: "gw1", Version: "v1", ProxyAddr: "10.0.0.1:8080", Revision: rev, StartedAt: started},
		{ID: "node-b", Hostname: "gw2", Version: "v1", ProxyAddr: "10.0.0.2:8080", Revision: rev - 1, StartedAt: started.Add(time.Second)},
		{ID: "node-c", Hostname: "gw3", Version: "v1", ProxyAddr: "10.0.0.3:8080", Revision: rev, Stale: true, StartedAt: started.Add(2 * time.Second)},
	} {
		if err := c.Heartbeat(ctx, n); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	var list struct {
		Items []nodeView `json:"items"`
		Total int        `json:"total"`
	}
	e.do("GET", "/api/v1/nodes", nil).decode(t, &list)
	want := map[string]string{"node-a": NodeInSync, "node-b": NodeBehind, "node-c": NodeStale}
	if list.Total != 3 || len(list.Items) != 3 {
		t.Fatalf("nodes %+v", list)
	}
	for _, n := range list.Items {
		if n.State != want[n.ID] {
			t.Errorf("%s: state %q, want %q", n.ID, n.State, want[n.ID])
		}
		if n.Hostname == "" || n.ProxyAddr == "" || n.Version != "v1" || n.StartedAt.IsZero() || n.LastSeen.IsZero() {
			t.Errorf("%s: fields missing: %+v", n.ID, n)
		}
	}
	if list.Items[0].ID != "node-a" || list.Items[0].Revision != rev {
		t.Errorf("first node %+v, want node-a at revision %d", list.Items[0], rev)
	}
	r := e.do("GET", "/api/v1/nodes?limit=1&offset=2", nil)
	r.decode(t, &list)
	if list.Total != 3 || len(list.Items) != 1 || list.Items[0].ID != "node-c" {
		t.Errorf("page: %s", r.raw)
	}
}

// fakeCluster returns fixed nodes.
type fakeCluster struct{ nodes []store.NodeInfo }

func (f fakeCluster) Heartbeat(context.Context, store.NodeInfo) error { return nil }
func (f fakeCluster) Nodes(context.Context) ([]store.NodeInfo, error) {
	return f.nodes, nil
}
func (f fakeCluster) EnsureAdminToken(_ context.Context, c string) (string, error) { return c, nil }

// TestNodeGone: a node silent for three heartbeat intervals is gone,
// whatever it said last.
func TestNodeGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.HeartbeatInterval = time.Second
		o.Cluster = fakeCluster{nodes: []store.NodeInfo{
			{ID: "fresh", SeenAgo: 2900 * time.Millisecond},
			{ID: "silent", Stale: true, SeenAgo: 3100 * time.Millisecond},
		}}
	})
	var list struct {
		Items []nodeView `json:"items"`
	}
	e.do("GET", "/api/v1/nodes", nil).decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].State != NodeInSync || list.Items[1].State != NodeGone {
		t.Fatalf("nodes %+v, want fresh in_sync and silent gone", list.Items)
	}
}
