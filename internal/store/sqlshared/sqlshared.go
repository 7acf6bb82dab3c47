// Package sqlshared is the part of store.Store that the SQL stores
// (store/sqlite and store/postgres) have in common: the logic of every kind
// of object, written once against a small interface over a transaction.
//
// A store supplies what truly differs: how a transaction is run (its
// isolation, the revision bump, notifications, error mapping), the
// migrations, and a Dialect for the few statements whose SQL is not
// portable. Statements here use ? placeholders; a driver that numbers them
// ($1, $2, ...) rewrites them in its Tx.
//
// Every write runs in the store's write transaction, which bumps the
// revision first, so a check made here (a name is free, a route does not
// collide) still holds when the transaction commits.
package sqlshared

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Tx is one transaction, with ? placeholders. Statements run one at a time:
// the Rows of a Query are closed before the next statement starts.
type Tx interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a query for one row; its Scan fails with an error
	// that errors.Is ErrNoRows when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is the result of a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is the result of a query for one row.
type Row interface {
	Scan(dest ...any) error
}

// ErrNoRows is what Row.Scan reports (errors.Is) when the query found no
// row. pgx's ErrNoRows matches it too.
var ErrNoRows = sql.ErrNoRows

// TxFunc is work done in one transaction. It must use the context it is
// given.
type TxFunc func(ctx context.Context, tx Tx) error

// RunTx runs fn in a transaction of the store: the write transaction that
// bumps the revision and signals Changed once committed, or a read-only
// transaction reading one snapshot. op names the operation in errors; the
// store's typed errors (store.NotFoundError, ...) must come back unchanged.
type RunTx func(ctx context.Context, op string, fn TxFunc) error

// Dialect holds the SQL that differs between the databases.
type Dialect struct {
	// Binary follows a text expression in ORDER BY to sort it by its
	// bytes, whatever the database's collation (SQLite: COLLATE BINARY,
	// PostgreSQL: COLLATE "C").
	Binary string
	// ServedChannelBindings selects, for the channel id given as its one
	// argument, the APIs of the served versions (releases named by
	// environments) whose backend is that channel: service id, service
	// name, API id, API name and environment. Releases keep their APIs as a
	// JSON array in releases.apis.
	ServedChannelBindings string
	// NowMillis is an expression for the database's current time in Unix
	// milliseconds: heartbeats are stamped, and their age measured, by
	// the one clock of the store rather than by the nodes' clocks.
	NowMillis string
	// OverridingSystemValue follows the column list of an INSERT that
	// sets a database-numbered seq itself (PostgreSQL's identity columns
	// need it; SQLite: empty).
	OverridingSystemValue string
	// ResetIdentity, when set, is run after a copy inserted a table's
	// rows ({table} names it) to number the next row past them (SQLite's
	// AUTOINCREMENT does that by itself).
	ResetIdentity string
}

// Store implements the object methods of store.Store (everything but
// Revision, Changed, AdminToken and Close) over a store's transactions. A
// store embeds it.
type Store struct {
	write, read, record RunTx
	d                   Dialect
}

// New returns the shared part of a store. write and read run a write and a
// read transaction (see RunTx); record runs a write transaction that is
// not a configuration change: it neither bumps the revision nor signals
// anyone (heartbeats).
func New(write, read, record RunTx, d Dialect) *Store {
	return &Store{write: write, read: read, record: record, d: d}
}

// Load reads everything the data plane serves in one read transaction, so
// the data plane never sees half of a write.
func (s *Store) Load(ctx context.Context) (*config.State, error) {
	st := &config.State{Channels: []config.Channel{}, Published: []config.Published{}}
	err := s.read(ctx, "load", func(ctx context.Context, tx Tx) error {
		if err := tx.QueryRow(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&st.Revision); err != nil {
			return err
		}
		var err error
		if st.Channels, err = queryBodies[config.Channel](ctx, tx, `SELECT body FROM channels ORDER BY created_at, seq`); err != nil {
			return err
		}
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
		if st.Certificates, err = queryBodies[config.Certificate](ctx, tx, `SELECT body FROM certificates ORDER BY created_at, seq`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT e.environment, e.version, s.body, r.apis
			FROM environments e
			JOIN services s ON s.id = e.service_id
			JOIN releases r ON r.service_id = e.service_id AND r.version = e.version
			ORDER BY s.created_at, s.seq, e.environment `+s.d.Binary)
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

// SetAdminToken stores the admin token, replacing any previous one.
func (s *Store) SetAdminToken(ctx context.Context, token string) error {
	return s.write(ctx, "set admin token", func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO meta (key, value) VALUES ('admin_token', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, token)
		return err
	})
}

// Typed reports whether err is one of the store's typed errors
// (store.NotFoundError, ConflictError, InvalidError), which callers map to
// HTTP statuses: a store passes them through untouched.
func Typed(err error) bool {
	var (
		nf  *store.NotFoundError
		cf  *store.ConflictError
		inv *store.InvalidError
	)
	return errors.As(err, &nf) || errors.As(err, &cf) || errors.As(err, &inv)
}

// NewID returns prefix followed by 16 random lower-case hex digits: 64 bits,
// so ids of one kind do not collide in practice and reveal nothing about
// how many objects exist.
func NewID(prefix string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead on a broken source)
	return prefix + hex.EncodeToString(b[:])
}

// now is the time stamped on objects. Milliseconds are what the columns keep,
// so an object reads back exactly as it was returned.
func now() config.Time { return config.At(time.Now()) }

func fromMillis(ms int64) config.Time { return config.At(time.UnixMilli(ms)) }

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

// collect runs a query and scans each row with scan. The result is never
// nil, so an empty list marshals as [] rather than null.
func collect[T any](ctx context.Context, tx Tx, scan func(Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryBodies decodes the JSON body column of each row into a T.
func queryBodies[T any](ctx context.Context, tx Tx, query string, args ...any) ([]T, error) {
	return collect(ctx, tx, func(r Rows) (v T, err error) {
		var body string
		if err := r.Scan(&body); err != nil {
			return v, err
		}
		return v, json.Unmarshal([]byte(body), &v)
	}, query, args...)
}

// queryStrings reads a column of strings.
func queryStrings(ctx context.Context, tx Tx, query string, args ...any) ([]string, error) {
	return collect(ctx, tx, func(r Rows) (v string, err error) { return v, r.Scan(&v) }, query, args...)
}

// getBody reads one object's body by id; kind names it in the NotFoundError.
func getBody[T any](ctx context.Context, tx Tx, query, kind, id string) (*T, error) {
	var body string
	err := tx.QueryRow(ctx, query, id).Scan(&body)
	if errors.Is(err, ErrNoRows) {
		return nil, &store.NotFoundError{Kind: kind, ID: id}
	}
	if err != nil {
		return nil, err
	}
	return unmarshal[T](body)
}

// unmarshal decodes a body.
func unmarshal[T any](body string) (*T, error) {
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// exists reports whether query (SELECT 1 ...) finds a row.
func exists(ctx context.Context, tx Tx, query string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// readOne returns what fn reads in one read transaction.
func readOne[T any](ctx context.Context, s *Store, op string, fn func(ctx context.Context, tx Tx) (T, error)) (T, error) {
	var v T
	err := s.read(ctx, op, func(ctx context.Context, tx Tx) error {
		var err error
		v, err = fn(ctx, tx)
		return err
	})
	return v, err
}

// deleteOne runs a DELETE and fails with a NotFoundError for kind and id
// when it deleted nothing.
func deleteOne(ctx context.Context, tx Tx, kind, id, query string, args ...any) error {
	n, err := tx.Exec(ctx, query, args...)
	if err == nil && n == 0 {
		return &store.NotFoundError{Kind: kind, ID: id}
	}
	return err
}

// listing describes a paged list of T.
type listing[T any] struct {
	op   string
	from string // "FROM table [WHERE ...]", with ? for args
	args []any
	// check, when set, runs first (the parent of the listed objects exists).
	check TxFunc
	// fill, when set, completes the listed objects (their bindings).
	fill func(ctx context.Context, tx Tx, items []T) error
}

// listPage reads one page of bodies and the total in the same transaction,
// so the two agree.
func listPage[T any](ctx context.Context, s *Store, l listing[T], p store.Page) ([]T, int, error) {
	limit, offset := limits(p)
	var (
		items []T
		total int
	)
	err := s.read(ctx, l.op, func(ctx context.Context, tx Tx) error {
		if l.check != nil {
			if err := l.check(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) `+l.from, l.args...).Scan(&total); err != nil {
			return err
		}
		n := len(l.args)
		var err error
		items, err = queryBodies[T](ctx, tx, `SELECT body `+l.from+` ORDER BY created_at, seq LIMIT ? OFFSET ?`,
			append(l.args[:n:n], limit, offset)...)
		if err != nil || l.fill == nil {
			return err
		}
		return l.fill(ctx, tx, items)
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

// nullIfEmpty stores "" as NULL, which a UNIQUE column lets repeat (both
// drivers bind a nil *string as NULL).
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
