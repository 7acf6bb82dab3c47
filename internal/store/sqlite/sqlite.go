// Package sqlite is the embedded configuration store: one SQLite file in the
// data directory, through the pure-Go modernc.org/sqlite driver so that the
// binary needs no C toolchain.
//
// Writes go through a pool of one connection whose transactions start with
// BEGIN IMMEDIATE: writers queue in Go instead of spinning on SQLITE_BUSY, and
// a check made inside a write transaction (a name is free, a route does not
// collide) still holds when it commits. Reads use a separate pool and, in WAL
// mode, never wait for the writer.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "portico.db"

// readConns bounds the read pool. Reads are short and the data plane loads
// the whole state at once, so a few connections are plenty; each one holds
// its own page cache.
const readConns = 4

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	w       *sql.DB // one connection: every write transaction, in turn
	r       *sql.DB // read-only connections
	changed chan struct{}
}

var _ store.Store = (*Store)(nil)

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
	return &Store{w: w, r: r, changed: make(chan struct{}, 1)}, nil
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
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
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
	if err := fn(tx); err != nil {
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

// read runs fn in one read transaction: everything fn reads comes from the
// same committed state.
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return internal(op, err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	if err := fn(tx); err != nil {
		return internal(op, err)
	}
	return nil
}

// internal wraps database errors with the operation, and passes the store's
// typed errors through untouched: callers map those to HTTP statuses.
func internal(op string, err error) error {
	var (
		nf  *store.NotFoundError
		cf  *store.ConflictError
		inv *store.InvalidError
	)
	if errors.As(err, &nf) || errors.As(err, &cf) || errors.As(err, &inv) {
		return err
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// Load reads the channels and every served (service, environment) in one
// read transaction, so the data plane never sees half of a write.
func (s *Store) Load(ctx context.Context) (*config.State, error) {
	st := &config.State{Channels: []config.Channel{}, Published: []config.Published{}}
	err := s.read(ctx, "load", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&st.Revision); err != nil {
			return err
		}
		chans, err := queryBodies[config.Channel](ctx, tx,
			`SELECT body FROM channels ORDER BY created_at, seq`)
		if err != nil {
			return err
		}
		st.Channels = chans
		if st.Plugins, err = loadPlugins(ctx, tx); err != nil {
			return err
		}
		if st.Keys, err = queryBodies[config.Key](ctx, tx, `SELECT body FROM keys ORDER BY created_at, seq`); err != nil {
			return err
		}
		if st.Plans, err = loadPlans(ctx, tx); err != nil {
			return err
		}
		if st.Apps, err = queryBodies[config.App](ctx, tx, `SELECT body FROM apps ORDER BY created_at, seq`); err != nil {
			return err
		}
		if st.AppBindings, err = queryBodies[config.AppBinding](ctx, tx, `SELECT body FROM app_bindings ORDER BY seq`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT e.environment, e.version, s.body, r.apis
			FROM environments e
			JOIN services s ON s.id = e.service_id
			JOIN releases r ON r.service_id = e.service_id AND r.version = e.version
			ORDER BY s.created_at, s.seq, e.environment`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p config.Published
			var svc, apis string
			if err := rows.Scan(&p.Environment, &p.Version, &svc, &apis); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(svc), &p.Service); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(apis), &p.APIs); err != nil {
				return err
			}
			st.Published = append(st.Published, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return st, nil
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

// SetAdminToken stores the admin token, replacing any previous one.
func (s *Store) SetAdminToken(ctx context.Context, token string) error {
	return s.write(ctx, "set admin token", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO meta (key, value) VALUES ('admin_token', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, token)
		return err
	})
}

// newID returns prefix followed by 16 random lower-case hex digits: 64 bits,
// so ids of one kind do not collide in practice and reveal nothing about
// how many objects exist.
func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead on a broken source)
	return prefix + hex.EncodeToString(b[:])
}

// now is the time stamped on objects. Milliseconds are what the columns keep,
// so an object reads back exactly as it was returned.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// limits applies the list defaults: the admin API clamps large limits, the
// store only replaces a missing one.
func limits(p store.Page) (limit, offset int) {
	limit, offset = p.Limit, p.Offset
	if limit <= 0 {
		limit = 20
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// queryBodies decodes the JSON body column of each row into a T. The result
// is never nil, so an empty list marshals as [] rather than null.
func queryBodies[T any](ctx context.Context, tx *sql.Tx, query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// listPage reads one page of bodies and the total in the same transaction,
// so the two agree. check, when set, runs first in that transaction (the
// parent of the listed objects exists).
func listPage[T any](ctx context.Context, s *Store, op string, check func(*sql.Tx) error, from string, p store.Page, args ...any) ([]T, int, error) {
	limit, offset := limits(p)
	var (
		items []T
		total int
	)
	err := s.read(ctx, op, func(tx *sql.Tx) error {
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) `+from, args...).Scan(&total); err != nil {
			return err
		}
		var err error
		items, err = queryBodies[T](ctx, tx,
			`SELECT body `+from+` ORDER BY created_at, seq LIMIT ? OFFSET ?`,
			append(args, limit, offset)...)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
