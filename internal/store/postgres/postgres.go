// Package postgres is the shared configuration store: the gateway nodes of a
// cluster read, and the admin API writes, one PostgreSQL database through
// pgx. It behaves as the embedded store (store/sqlite) does, error messages
// included, and passes the same conformance suite (store/storetest): the
// logic of the objects is shared with it (store/sqlshared), and this package
// keeps the connection, transactions, migrations, error mapping and
// notifications.
//
// Writes run at READ COMMITTED and start by bumping the single revision row
// (UPDATE ... RETURNING). The row lock that takes is held until commit, so
// write transactions, from this process or from any other node, run one at a
// time in revision order. Every later statement of a READ COMMITTED
// transaction reads a snapshot taken after that lock was granted, so the
// checks a write makes (a name is free, a route does not collide) see every
// earlier commit and still hold when it commits: the guarantee SQLite's BEGIN
// IMMEDIATE gives the embedded store. SERIALIZABLE would give it too, at the
// price of serialization failures and a retry loop around every write, for
// nothing: writes are serialized on the row anyway, and rare (the admin API
// is the only writer).
//
// Reads that take more than one statement, Load first of all, run in one
// REPEATABLE READ, READ ONLY transaction: one snapshot, so what they return
// matches the revision read with it. Readers never wait for writers.
//
// A write also calls pg_notify on NotifyChannel in its transaction, which
// PostgreSQL delivers at commit; every Store keeps a connection LISTENing
// there, so Changed reports writes made by other nodes too.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlshared"
)

// Pool size (see Open): the admin API is the only writer, and its writes
// queue on the revision row whatever the pool size; the data plane reads the
// whole state once per revision. A few connections serve a node, and a small
// pool keeps many nodes within the server's max_connections.
const (
	maxConns = 8
	minConns = 1
)

// Timeouts (see Open), so that a PostgreSQL outage makes calls fail within a
// few seconds instead of hanging the admin API.
const (
	callTimeout      = 3 * time.Second
	connectTimeout   = 3 * time.Second
	statementTimeout = 5 * time.Second
	lockTimeout      = 3 * time.Second
	idleInTxTimeout  = 15 * time.Second
)

// applicationName is the application_name of the pool's connections unless
// the DSN sets one.
const applicationName = "portico"

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use. The methods of the objects (channels, services, ...) are
// those of the embedded sqlshared.Store, run in the transactions of this
// one.
type Store struct {
	*sqlshared.Store
	pool    *pgxpool.Pool
	schema  string // current_schema() of the connections: the tables and the notifications of this store
	origin  string // names this Store in its notifications, so that it skips its own
	changed chan struct{}

	stopListen context.CancelFunc
	listening  chan struct{} // closed when the listener has stopped
	closeOnce  sync.Once
}

var _ store.Store = (*Store)(nil)

// dialect is the SQL of the shared code that PostgreSQL spells its own way.
var dialect = sqlshared.Dialect{
	Binary: `COLLATE "C"`,
	// json_array_elements looks inside the JSON array of a release's APIs
	// (TEXT, see migrations).
	ServedChannelBindings: `
		SELECT e.service_id, s.name, a.value->>'id', a.value->>'name', e.environment
		FROM environments e
		JOIN services s ON s.id = e.service_id
		JOIN releases r ON r.service_id = e.service_id AND r.version = e.version
		CROSS JOIN LATERAL json_array_elements(r.apis::json) AS a(value)
		WHERE a.value->'backend'->>'type' = 'channel'
		  AND a.value->'backend'->>'channel_id' = ?`,
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string, as pgx accepts), brings its schema up to date and starts
// listening for changes. The tables live in the first schema of the DSN's
// search_path parameter (the server's default search_path when it has
// none), which must exist. Open refuses a schema written by a newer version
// of Portico.
//
// The pool holds at most 8 connections and keeps 1 open (the DSN's
// pool_max_conns and pool_min_conns override this); one more connection
// listens for notifications. A call whose context has no deadline gets 3
// seconds. Unless the DSN sets them: connect_timeout is 3s,
// statement_timeout 5s, lock_timeout 3s, and
// idle_in_transaction_session_timeout 15s, which makes the server end a
// transaction whose client vanished while holding the revision row (every
// write would wait for it). application_name is "portico", and the
// listening connection's is that name followed by "-listen", so that
// pg_stat_activity tells them apart.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return nil, err
	}
	// Listening connection settings, taken before the pool owns cfg.
	lcfg := cfg.ConnConfig.Copy()
	lcfg.RuntimeParams["application_name"] += "-listen"

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, origin: sqlshared.NewID(""), changed: make(chan struct{}, 1)}
	s.Store = sqlshared.New(s.writeShared, s.readShared, dialect)
	if err := s.open(ctx, lcfg); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// open finds the schema, migrates it and starts the listener.
func (s *Store) open(ctx context.Context, lcfg *pgx.ConnConfig) error {
	cctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	var schema *string
	if err := s.pool.QueryRow(cctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	if schema == nil {
		return errors.New("postgres: no schema of the search_path exists; create it, or name an existing one in the DSN's search_path parameter")
	}
	s.schema = *schema
	// Migrations get longer: another node may be migrating the same schema.
	mctx, cancel := bound(ctx, migrateTimeout)
	defer cancel()
	if err := migrate(mctx, s.pool, s.schema); err != nil {
		return err
	}
	lctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	return s.startListener(lctx, lcfg)
}

// poolConfig parses dsn and applies the pool size and timeouts the DSN does
// not set itself.
func poolConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// pgxpool consumes its own parameters and cannot say whether the DSN
	// set them; pgx leaves them among the run-time parameters.
	raw, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, ok := raw.RuntimeParams["pool_max_conns"]; !ok {
		cfg.MaxConns = maxConns
	}
	if _, ok := raw.RuntimeParams["pool_min_conns"]; !ok {
		cfg.MinConns = min(minConns, cfg.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	params := cfg.ConnConfig.RuntimeParams
	for name, value := range map[string]string{
		"application_name":                    applicationName,
		"statement_timeout":                   millis(statementTimeout),
		"lock_timeout":                        millis(lockTimeout),
		"idle_in_transaction_session_timeout": millis(idleInTxTimeout),
	} {
		if _, ok := params[name]; !ok {
			params[name] = value
		}
	}
	return cfg, nil
}

// millis renders d as a PostgreSQL time setting.
func millis(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// bound gives ctx a deadline d away unless it has one.
func bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Close stops the listener and closes the pool. Pending writes have
// committed or failed by then. Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopListen()
		<-s.listening
		s.pool.Close()
	})
	return nil
}

// Changed receives a value after each commit made through s and after each
// write another process notifies. It has room for one value, so a slow
// reader sees "something changed" once rather than blocking anyone.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// signal puts a value in Changed unless one is waiting there.
func (s *Store) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Revision returns the counter bumped by every committed write.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	var rev int64
	if err := s.pool.QueryRow(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("postgres: revision: %w", err)
	}
	return rev, nil
}

// write runs fn in a write transaction that also bumps the revision and
// notifies the other processes, and signals Changed once it has committed.
// An error from fn rolls everything back, the revision and the notification
// included. fn must use the context it is given, which is bounded.
//
// READ COMMITTED, not SERIALIZABLE: the bump's row lock already runs writes
// one at a time, and each statement after it sees every earlier commit (see
// the package comment), so serialization failures and retries would buy
// nothing.
func (s *Store) write(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite})
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	// Bump first: the row lock orders this transaction after every earlier
	// write, and everything below reads what they committed.
	var rev int64
	if err := tx.QueryRow(ctx, `UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&rev); err != nil {
		return internal(op, err)
	}
	if err := fn(ctx, tx); err != nil {
		return internal(op, err)
	}
	payload, err := json.Marshal(notice{Schema: s.schema, Revision: rev, Origin: s.origin})
	if err != nil {
		return internal(op, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, string(payload)); err != nil {
		return internal(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(op, err)
	}
	s.signal()
	return nil
}

// writeShared is write for the shared code.
func (s *Store) writeShared(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	return s.write(ctx, op, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, pgTx{tx}) })
}

// readShared is read for the shared code.
func (s *Store) readShared(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	return s.read(ctx, op, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, pgTx{tx}) })
}

// read runs fn in one read-only transaction: everything fn reads comes from
// the same snapshot. fn must use the context it is given, which is bounded.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback(ctx) // read-only: nothing to keep
	if err := fn(ctx, tx); err != nil {
		return internal(op, err)
	}
	return nil
}

// internal wraps database errors with the operation, and passes the store's
// typed errors through untouched: callers map those to HTTP statuses. A
// unique violation becomes a ConflictError: the checks made before writing
// report every conflict a client can cause, so one only gets past them when
// something outside this store wrote to the tables meanwhile, or a random id
// repeated.
func internal(op string, err error) error {
	var pe *pgconn.PgError
	switch {
	case sqlshared.Typed(err):
		return err
	case errors.As(err, &pe) && pe.Code == uniqueViolation:
		return &store.ConflictError{
			Message: fmt.Sprintf("%s: conflicts with a concurrent write (constraint %s); retry", op, pe.ConstraintName),
			Field:   uniqueFields[pe.ConstraintName],
			Details: []any{map[string]string{"constraint": pe.ConstraintName}},
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// uniqueViolation is SQLSTATE unique_violation.
const uniqueViolation = "23505"

// uniqueFields names the request field behind the unique constraints a
// client's values can break (PostgreSQL's default constraint names).
var uniqueFields = map[string]string{
	"channels_name_key":        "name",
	"services_name_key":        "name",
	"service_domains_pkey":     "domains",
	"apis_service_id_name_key": "name",
	"plugins_name_key":         "name",
	"keys_name_key":            "name",
	"keys_secret_id_key":       "secret_id",
	"usage_plans_name_key":     "name",
	"apps_name_key":            "name",
	"certificates_name_key":    "name",
}

// AdminToken returns the stored admin token, "" when none is stored.
func (s *Store) AdminToken(ctx context.Context) (string, error) {
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	var tok string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'admin_token'`).Scan(&tok)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres: admin token: %w", err)
	}
	return tok, nil
}
