package admin

import (
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Node states of GET /api/v1/nodes.
const (
	NodeInSync = "in_sync" // serves the store's revision
	NodeBehind = "behind"  // serves an older one
	NodeStale  = "stale"   // says it serves a configuration it could not check against the store
	NodeGone   = "gone"    // no heartbeat for store.GoneAfter intervals
)

// nodeView is one node of GET /api/v1/nodes.
type nodeView struct {
	ID        string      `json:"id"`
	Hostname  string      `json:"hostname"`
	Version   string      `json:"version"`
	ProxyAddr string      `json:"proxy_addr"`
	Revision  int64       `json:"revision"`
	State     string      `json:"state"`
	StartedAt config.Time `json:"started_at"`
	LastSeen  config.Time `json:"last_seen"`
}

// nodeState judges a node against the store's revision; a heartbeat older
// than store.GoneAfter intervals (by the store's clock) is a node gone.
func nodeState(n store.NodeInfo, rev int64, interval time.Duration) string {
	switch {
	case n.SeenAgo > store.GoneAfter*interval:
		return NodeGone
	case n.Stale:
		return NodeStale
	case n.Revision >= rev:
		return NodeInSync
	}
	return NodeBehind
}

// listNodes answers the gateway nodes that share the store, from their
// heartbeats, paged like every list.
func (s *server) listNodes(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.cluster == nil {
		writeJSON(w, http.StatusOK, newList([]nodeView{}, 0))
		return
	}
	nodes, err := s.cluster.Nodes(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Read after the nodes: a node cannot be ahead of it.
	rev, err := s.store.Revision(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	views := make([]nodeView, len(nodes))
	for i, n := range nodes {
		views[i] = nodeView{ID: n.ID, Hostname: n.Hostname, Version: n.Version, ProxyAddr: n.ProxyAddr,
			Revision: n.Revision, State: nodeState(n, rev, s.heartbeat), StartedAt: config.At(n.StartedAt), LastSeen: config.At(n.LastSeen)}
	}
	writeJSON(w, http.StatusOK, newList(pageSlice(views, p), len(views)))
}
