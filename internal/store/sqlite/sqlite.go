// Package sqlite is the embedded configuration store: one SQLite file in the
// data directory, through the pure-Go modernc.org/sqlite driver so that the
// binary needs no C toolchain.
//
// Writes go through a pool of one connection whose transactions start with
// BEGIN IMMEDIATE: writers queue in Go instead of spinning on SQLITE_BUSY, and
// a check made inside a write transaction (a name is free, a route does not
// collide) still holds when it commits. Reads use a separate pool and, in WAL
// mode, never wait for the writer.
//
// The logic of the objects is shared with the PostgreSQL store
// (store/sqlshared); this package keeps the file, the transactions and the
// migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlshared"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "portico.db"

// readConns bounds the read pool. Reads are short and the data plane loads
// the whole state at once, so a few connections are plenty; each one holds
// its own page cache.
const readConns = 4

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use. The methods of the objects (channels, services, ...) are
// those of the embedded sqlshared.Store, run in the transactions of this
// one.
type Store struct {
	*sqlshared.Store
	w       *sql.DB // one connection: every write transaction, in turn
	r       *sql.DB // read-only connections
	changed chan struct{}
}

// dialect is the SQL of the shared code that SQLite spells its own way.
var dialect = sqlshared.Dialect{
	Binary: `COLLATE BINARY`,
	// json_each looks inside the JSON array of a release's APIs.
	ServedChannelBindings: `
		SELECT e.service_id, s.name,
		       json_extract(a.value, '$.id'), json_extract(a.value, '$.name'), e.environment
		FROM environments e
		JOIN services s ON s.id = e.service_id
		JOIN releases r ON r.service_id = e.service_id AND r.version = e.version
		JOIN json_each(r.apis) a
		WHERE json_extract(a.value, '$.backend.type') = 'channel'
		  AND json_extract(a.value, '$.backend.channel_id') = ?`,
	NowMillis: `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`,
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Cluster = (*Store)(nil)
)

// Open opens, or creates, the store in dir (created with mode 0700 when
// missing) and brings its schema up to date. It refuses a database written by
// a newer version of Portico.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The file holds the admin token: create it private before SQLite does
	// (with the umask's mode). SQLite gives its -wal and -shm files the
	// database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	// synchronous=FULL makes every commit fsync the WAL, so a write that
	// returned nil survives a crash of the process or of the machine.
	w, err := sql.Open("sqlite", dsn(path,
		"_txlock=immediate", "_journal_mode=WAL", "_synchronous=FULL"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite", dsn(path, "_query_only=1"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s := &Store{w: w, r: r, changed: make(chan struct{}, 1)}
	s.Store = sqlshared.New(s.write, s.read, s.record, dialect)
	return s, nil
}

// dsn builds a modernc.org/sqlite data source name. The path goes in a file:
// URI, escaped, so that a directory name with '?' or '#' cannot be read as
// parameters.
func dsn(path string, params ...string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	q := "_busy_timeout=10000&_foreign_keys=1"
	for _, p := range params {
		q += "&" + p
	}
	return "file:" + u.EscapedPath() + "?" + q
}

// Close closes the store. Pending writes have committed or failed by then.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Changed receives a value after each commit made through s. It has room for
// one value, so a slow reader sees "something changed" once rather than
// blocking writers.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Revision returns the counter bumped by every committed write.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("sqlite: revision: %w", err)
	}
	return rev, nil
}

// write runs fn in a write transaction that also bumps the revision, and
// signals Changed once it has committed. An error from fn rolls everything
// back, the revision included.
func (s *Store) write(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback() // a no-op after Commit
	// Bump first: the PostgreSQL store relies on the counter row's lock to
	// order commits, and keeping the same order here keeps the two alike.
	if _, err := tx.ExecContext(ctx, `UPDATE revision SET value = value + 1 WHERE id = 1`); err != nil {
		return internal(op, err)
	}
	if err := fn(ctx, sqlTx{tx}); err != nil {
		return internal(op, err)
	}
	if err := tx.Commit(); err != nil {
		return internal(op, err)
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// record runs fn in a write transaction that is not a configuration
// change: no revision bump, no Changed (heartbeats).
func (s *Store) record(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(ctx, sqlTx{tx}); err != nil {
		return internal(op, err)
	}
	if err := tx.Commit(); err != nil {
		return internal(op, err)
	}
	return nil
}

// read runs fn in one read transaction: everything fn reads comes from the
// same committed state.
func (s *Store) read(ctx context.Context, op string, fn sqlshared.TxFunc) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	if err := fn(ctx, sqlTx{tx}); err != nil {
		return internal(op, err)
	}
	return nil
}

// internal wraps database errors with the operation, and passes the store's
// typed errors through untouched: callers map those to HTTP statuses.
func internal(op string, err error) error {
	if sqlshared.Typed(err) {
		return err
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// AdminToken returns the stored admin token, "" when none is stored.
func (s *Store) AdminToken(ctx context.Context) (string, error) {
	var tok string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'admin_token'`).Scan(&tok)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: admin token: %w", err)
	}
	return tok, nil
}

// sqlTx runs the shared code's statements in a database/sql transaction;
// SQLite takes their ? placeholders as they are.
type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqlTx) Query(ctx context.Context, query string, args ...any) (sqlshared.Rows, error) {
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (t sqlTx) QueryRow(ctx context.Context, query string, args ...any) sqlshared.Row {
	return t.tx.QueryRowContext(ctx, query, args...)
}

// sqlRows drops the error of Close: Err reports what went wrong.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
