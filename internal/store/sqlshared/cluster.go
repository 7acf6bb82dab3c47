package sqlshared

import (
	"context"
	"errors"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

var _ store.Cluster = (*Store)(nil)

// Heartbeat records n with the store's time, and forgets the nodes silent
// for longer than store.NodeRetention.
func (s *Store) Heartbeat(ctx context.Context, n store.NodeInfo) error {
	if n.ID == "" {
		return errors.New("heartbeat: a node needs an id")
	}
	stale := 0
	if n.Stale {
		stale = 1
	}
	return s.record(ctx, "heartbeat", func(ctx context.Context, tx Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO nodes (id, hostname, version, proxy_addr, revision, stale, started_at, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, `+s.d.NowMillis+`)
			ON CONFLICT (id) DO UPDATE SET
				hostname = excluded.hostname, version = excluded.version, proxy_addr = excluded.proxy_addr,
				revision = excluded.revision, stale = excluded.stale, started_at = excluded.started_at,
				last_seen = excluded.last_seen`,
			n.ID, n.Hostname, n.Version, n.ProxyAddr, n.Revision, stale, n.StartedAt.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM nodes WHERE last_seen < `+s.d.NowMillis+` - ?`, store.NodeRetention.Milliseconds())
		return err
	})
}

// Nodes lists the recorded nodes, first started first, with the age of
// their last heartbeat by the store's clock.
func (s *Store) Nodes(ctx context.Context) ([]store.NodeInfo, error) {
	return readOne(ctx, s, "list nodes", func(ctx context.Context, tx Tx) ([]store.NodeInfo, error) {
		return collect(ctx, tx, func(r Rows) (store.NodeInfo, error) {
			var (
				n                      store.NodeInfo
				stale                  int
				started, seen, nowMill int64
			)
			err := r.Scan(&n.ID, &n.Hostname, &n.Version, &n.ProxyAddr, &n.Revision, &stale, &started, &seen, &nowMill)
			n.Stale = stale != 0
			n.StartedAt, n.LastSeen = fromMillis(started).Time, fromMillis(seen).Time
			n.SeenAgo = max(time.Duration(nowMill-seen)*time.Millisecond, 0)
			return n, err
		}, `SELECT id, hostname, version, proxy_addr, revision, stale, started_at, last_seen, `+s.d.NowMillis+`
			FROM nodes ORDER BY started_at, id `+s.d.Binary)
	})
}

// EnsureAdminToken stores candidate unless a token is stored, and returns
// the stored one. The write transaction runs after every earlier one (see
// the package comment), so of nodes racing on an empty store, the first
// to commit wins and the others read its token.
func (s *Store) EnsureAdminToken(ctx context.Context, candidate string) (string, error) {
	if candidate == "" {
		return "", errors.New("ensure admin token: empty candidate")
	}
	var tok string
	err := s.write(ctx, "ensure admin token", func(ctx context.Context, tx Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO meta (key, value) VALUES ('admin_token', ?)
			ON CONFLICT (key) DO NOTHING`, candidate); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'admin_token'`).Scan(&tok)
	})
	return tok, err
}
