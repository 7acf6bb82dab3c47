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
//
// Every call is bounded (see Open), and one that fails because the server
// cannot be reached in time fails with a *store.UnavailableError
// (errors.Is store.ErrUnavailable), which the admin API answers 503. A node
// opens the store with Connect, which also works while the server is down.
// Heartbeats (store.Cluster) are written outside the revision: they are
// not configuration.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

	life      context.Context    // ends at Close: the listener and the background open
	stop      context.CancelFunc // ends life
	bg        sync.WaitGroup     // the listener and the background open
	closeOnce sync.Once

	// ready is set once the schema is known, migrated and listened to.
	// Until then (see Connect) every call fails: with notReady.
	ready    atomic.Bool
	mu       sync.Mutex
	notReady error // a *store.UnavailableError, or why the open gave up
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Cluster = (*Store)(nil)
)

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
	NowMillis:             `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`,
	OverridingSystemValue: `OVERRIDING SYSTEM VALUE`,
	ResetIdentity:         `SELECT setval(pg_get_serial_sequence('{table}', 'seq'), COALESCE((SELECT max(seq) FROM {table}), 0) + 1, false)`,
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
	s, lcfg, err := newStore(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := s.open(ctx, lcfg); err != nil {
		s.Close()
		return nil, err
	}
	s.ready.Store(true)
	return s, nil
}

// Connect is Open for a gateway node, which must start even while the
// server is unreachable (it then serves the last configuration it applied).
// When Open would fail only because the server cannot be reached, Connect
// returns a Store anyway: its calls fail with store.ErrUnavailable while it
// keeps trying in the background (waiting 100 ms after the first failure,
// doubling up to 5 s), and once it has connected and brought the schema up
// to date, Changed receives a value and the calls work. Any other failure
// (a DSN that does not parse, a failed login, a schema from a newer
// Portico) fails Connect as it fails Open, or, met in the background, makes
// every call fail with it.
func Connect(ctx context.Context, dsn string) (*Store, error) {
	s, lcfg, err := newStore(ctx, dsn)
	if err != nil {
		return nil, err
	}
	err = s.open(ctx, lcfg)
	switch {
	case err == nil:
		s.ready.Store(true)
	case unreachable(err):
		s.setNotReady(&store.UnavailableError{Op: "connect", Err: err})
		s.bg.Go(func() { s.openLater(lcfg) })
	default:
		s.Close()
		return nil, err
	}
	return s, nil
}

// newStore makes a Store whose pool connects lazily; nothing is checked
// against the server yet. It returns the listening connection's settings.
func newStore(ctx context.Context, dsn string) (*Store, *pgx.ConnConfig, error) {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	// Listening connection settings, taken before the pool owns cfg.
	lcfg := cfg.ConnConfig.Copy()
	lcfg.RuntimeParams["application_name"] += "-listen"

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, origin: sqlshared.NewID(""), changed: make(chan struct{}, 1)}
	s.life, s.stop = context.WithCancel(context.Background())
	s.Store = sqlshared.New(s.writeShared, s.readShared, s.recordShared, dialect)
	return s, lcfg, nil
}

// errNotConnected is the cause of ErrUnavailable before the first attempt.
var errNotConnected = errors.New("not connected yet")

func (s *Store) setNotReady(err error) {
	s.mu.Lock()
	s.notReady = err
	s.mu.Unlock()
}

// check fails a call made before the store is ready (see Connect).
func (s *Store) check(op string) error {
	if s.ready.Load() {
		return nil
	}
	s.mu.Lock()
	err := s.notReady
	s.mu.Unlock()
	var ue *store.UnavailableError
	switch {
	case err == nil:
		return &store.UnavailableError{Op: op, Err: errNotConnected}
	case errors.As(err, &ue):
		return &store.UnavailableError{Op: op, Err: ue.Err}
	}
	return err
}

// openLater retries open until it succeeds, fails for a reason other than
// reachability, or the store is closed. The jitter keeps the nodes of a
// cluster from all knocking at once when the server comes back.
func (s *Store) openLater(lcfg *pgx.ConnConfig) {
	delay := minBackoff
	for {
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-s.life.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := s.open(s.life, lcfg)
		switch {
		case err == nil:
			s.ready.Store(true)
			s.signal() // whoever waits may read the store now
			return
		case s.life.Err() != nil:
			return
		case unreachable(err):
			s.setNotReady(&store.UnavailableError{Op: "connect", Err: err})
			delay = min(2*delay, maxBackoff)
		default:
			s.setNotReady(err)
			return
		}
	}
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
		s.stop()
		s.bg.Wait()
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
	if err := s.check("revision"); err != nil {
		return 0, err
	}
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	var rev int64
	if err := s.pool.QueryRow(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, internal("revision", err)
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
	if err := s.check(op); err != nil {
		return err
	}
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

// recordShared runs fn in a write transaction that is not a configuration
// change: no revision bump, no notification (heartbeats).
func (s *Store) recordShared(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	if err := s.check(op); err != nil {
		return err
	}
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite})
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if err := fn(ctx, pgTx{tx}); err != nil {
		return internal(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return internal(op, err)
	}
	return nil
}

// readShared is read for the shared code.
func (s *Store) readShared(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	return s.read(ctx, op, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, pgTx{tx}) })
}

// read runs fn in one read-only transaction: everything fn reads comes from
// the same snapshot. fn must use the context it is given, which is bounded.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if err := s.check(op); err != nil {
		return err
	}
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
	case store.IsUnavailable(err):
		return err
	case unreachable(err):
		return &store.UnavailableError{Op: op, Err: err}
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
	if err := s.check("admin token"); err != nil {
		return "", err
	}
	ctx, cancel := bound(ctx, callTimeout)
	defer cancel()
	var tok string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'admin_token'`).Scan(&tok)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", internal("admin token", err)
	}
	return tok, nil
}
