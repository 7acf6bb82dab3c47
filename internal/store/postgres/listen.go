package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// NotifyChannel is the channel every committed write notifies, with a JSON
// payload naming the schema, the new revision and the writing Store. Stores
// in every schema of a database share it; each one keeps only the
// notifications of its own schema.
const NotifyChannel = "portico_config"

// notice is the payload of a notification.
type notice struct {
	Schema   string `json:"schema"`
	Revision int64  `json:"revision"`
	Origin   string `json:"origin"`
}

// Listener timing. Reconnecting waits minBackoff after losing the
// connection, doubling up to maxBackoff (with some jitter, so that the
// nodes of a cluster do not all knock at once when the server comes back).
// A connection quiet for listenCheck is pinged: a peer that vanished
// without closing the connection is noticed within seconds rather than
// when TCP gives up.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var listenCheck = 10 * time.Second // a variable for tests

// startListener connects the listening connection, so that no write
// committed after Open returns goes unnoticed, and runs the listener until
// Close.
func (s *Store) startListener(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := listenConnect(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	s.bg.Go(func() { s.listen(s.life, cfg, conn) })
	return nil
}

// listenConnect opens a connection and LISTENs on NotifyChannel.
func listenConnect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes a connection, politely if that is quick.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// listen turns notifications into Changed values until ctx ends, replacing
// the connection whenever it fails. After a reconnection it signals Changed
// once: writes committed while no connection listened were not notified.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	for {
		s.receive(ctx, conn)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		if conn = reconnect(ctx, cfg); conn == nil {
			return // ctx ended
		}
		s.signal()
	}
}

// receive hands notifications to Changed until the connection fails or ctx
// ends.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if s.foreign(n) {
				s.signal()
			}
		case pgconn.Timeout(err):
			// Quiet for a while: make sure the server is still there.
			pctx, cancel := context.WithTimeout(ctx, callTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		default:
			return
		}
	}
}

// foreign reports whether a notification may be news to s: a write to its
// schema by another Store (its own writes signalled Changed already). A
// payload that does not parse counts, as a hint costs only a reload.
func (s *Store) foreign(n *pgconn.Notification) bool {
	if n == nil {
		return false
	}
	var m notice
	if err := json.Unmarshal([]byte(n.Payload), &m); err != nil {
		return true
	}
	return m.Schema == s.schema && m.Origin != s.origin
}

// reconnect connects a new listening connection, waiting between attempts;
// it returns nil when ctx ends first.
func reconnect(ctx context.Context, cfg *pgx.ConnConfig) *pgx.Conn {
	delay := minBackoff
	for {
		t := time.NewTimer(delay/2 + rand.N(delay/2+1)) // 50–100% of delay
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		conn, err := listenConnect(cctx, cfg)
		cancel()
		if err == nil {
			return conn
		}
		delay = min(2*delay, maxBackoff)
	}
}
