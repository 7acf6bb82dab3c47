package store

import (
	"context"
	"time"
)

// HeartbeatInterval is how often a gateway node records itself in the
// store (see Cluster). A node whose last heartbeat is older than
// GoneAfter intervals is shown as gone.
const (
	HeartbeatInterval = 5 * time.Second
	GoneAfter         = 3
)

// NodeRetention is how long the store keeps a node that stopped sending
// heartbeats; a heartbeat removes the nodes silent for longer.
const NodeRetention = 24 * time.Hour

// NodeInfo is one gateway node as its last heartbeat describes it.
type NodeInfo struct {
	// ID names the node for as long as its data directory lives
	// (<data-dir>/node.id).
	ID        string
	Hostname  string
	Version   string
	ProxyAddr string
	// Revision is the store revision of the configuration it serves.
	Revision int64
	// Stale is set while it serves a configuration it could not check
	// against the store.
	Stale     bool
	StartedAt time.Time
	// LastSeen is when the store received the heartbeat, by the store's
	// clock (set by Heartbeat, read by Nodes).
	LastSeen time.Time
	// SeenAgo is how long before Nodes read it that was, by the same
	// clock: the nodes' own clocks do not matter.
	SeenAgo time.Duration
}

// Cluster is what the stores offer the nodes that share them, beside the
// configuration. Both stores implement it; with the embedded one, the
// cluster is the one node.
type Cluster interface {
	// Heartbeat records n (by ID, replacing what its previous heartbeat
	// said) with the store's time as LastSeen, and removes the nodes
	// silent for longer than NodeRetention. It is not a configuration
	// write: the revision does not move and nothing is notified.
	Heartbeat(ctx context.Context, n NodeInfo) error
	// Nodes lists the recorded nodes, first started first.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// EnsureAdminToken stores candidate as the admin token unless one is
	// stored already, and returns the stored one: nodes that start
	// together on an empty store agree on one token.
	EnsureAdminToken(ctx context.Context, candidate string) (string, error)
}
