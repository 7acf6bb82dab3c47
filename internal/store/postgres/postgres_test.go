package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/storetest"
)

// The tests need a PostgreSQL server: PORTICO_TEST_POSTGRES names it (a
// postgres:// URL), by default the local one with trust authentication.
// Without one they skip, unless CI=true: then they fail, so that CI cannot
// pass by testing nothing.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func baseDSN() string {
	if dsn := os.Getenv("PORTICO_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// admin connects to the test server for the test's own statements.
func admin(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN())
	if err != nil {
		msg := "PostgreSQL is unreachable at " + redact(baseDSN()) + " (set PORTICO_TEST_POSTGRES to a reachable server): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true, so the PostgreSQL store tests fail rather than skip: " + msg)
		}
		t.Skip("skipping the PostgreSQL store tests: " + msg)
	}
	t.Cleanup(func() { closeConn(conn) })
	return conn
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "the configured DSN"
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSchema creates an empty schema, dropped with everything in it when the
// test ends, and returns a DSN whose search_path selects it.
func newSchema(t *testing.T) (dsn, schema string) {
	t.Helper()
	conn := admin(t)
	schema = "portico_test_" + randHex(8)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(t.Context(), `CREATE SCHEMA `+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Cleanups run last first: the stores the test opens next close, then
	// the schema goes, then the admin connection.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParams(t, baseDSN(), "search_path", schema), schema
}

// withParams sets query parameters of a postgres:// URL.
func withParams(t *testing.T, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("PORTICO_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func openT(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	admin(t) // skip (or fail) once rather than in every subtest
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, _ := newSchema(t)
		return openT(t, dsn)
	})
}

func intp(n int) *int { return &n }

func channel(name string) *config.Channel {
	return &config.Channel{
		Name: name, Network: "default", Scheme: "http", Algorithm: config.DefaultAlgo,
		Nodes: []config.Node{{Host: "10.0.0.1", Port: 80, Weight: intp(1)}},
	}
}

func drain(s *Store) {
	for {
		select {
		case <-s.Changed():
		default:
			return
		}
	}
}

func wantChanged(t *testing.T, s *Store, within time.Duration, what string) {
	t.Helper()
	select {
	case <-s.Changed():
	case <-time.After(within):
		t.Fatalf("%s: Changed got no value within %v", what, within)
	}
}

func wantQuiet(t *testing.T, s *Store, during time.Duration, what string) {
	t.Helper()
	select {
	case <-s.Changed():
		t.Fatalf("%s: Changed got a value", what)
	default:
	}
	timer := time.NewTimer(during)
	defer timer.Stop()
	select {
	case <-s.Changed():
		t.Fatalf("%s: Changed got a value", what)
	case <-timer.C:
	}
}

// TestChangedAcrossStores: a write through one Store reaches Changed of
// another on the same schema (as on another node), not of a store on
// another schema, and a store is not told twice of its own writes.
func TestChangedAcrossStores(t *testing.T) {
	dsn, _ := newSchema(t)
	a, b := openT(t, dsn), openT(t, dsn)
	otherDSN, _ := newSchema(t)
	other := openT(t, otherDSN)
	drain(a)
	drain(b)
	drain(other)

	for i := range 3 {
		if err := a.CreateChannel(t.Context(), channel("")); err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		wantChanged(t, a, time.Second, "the writing store")
		wantChanged(t, b, time.Second, "another store on the schema")
		if i == 0 {
			// By now the notification has reached a's listener too.
			wantQuiet(t, a, 200*time.Millisecond, "the writing store, told again by its own notification")
			wantQuiet(t, other, 0, "a store on another schema")
		}
	}
	ra, err := a.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != ra || len(st.Channels) != 3 {
		t.Fatalf("the other store loads revision %d with %d channels, want %d with 3", st.Revision, len(st.Channels), ra)
	}
}

// TestConcurrentMigrations: nodes opening a new schema together migrate it
// once, and all of them open it.
func TestConcurrentMigrations(t *testing.T) {
	dsn, schema := newSchema(t)
	const nodes = 4
	start := make(chan struct{})
	errs := make([]error, nodes)
	stores := make([]*Store, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stores[i], errs[i] = Open(ctx, dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	conn := admin(t)
	var version, rows, rev int64
	if err := conn.QueryRow(t.Context(), `SELECT max(version), count(*) FROM `+pgx.Identifier{schema, "schema_version"}.Sanitize()).
		Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	if version != int64(len(migrations)) || rows != 1 {
		t.Fatalf("schema_version: %d row(s), version %d; want 1 row, version %d", rows, version, len(migrations))
	}
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "revision"}.Sanitize()).Scan(&rev); err != nil || rev != 1 {
		t.Fatalf("revision table has %d row(s) (%v), want 1", rev, err)
	}
	// Every store works on the one schema.
	for i, s := range stores {
		if err := s.CreateChannel(t.Context(), channel("")); err != nil {
			t.Fatalf("store %d: CreateChannel: %v", i, err)
		}
	}
	if r, err := stores[0].Revision(t.Context()); err != nil || r != nodes {
		t.Fatalf("Revision = %d, %v; want %d", r, err, nodes)
	}
}

// TestConcurrentWrites: writers on two stores (two nodes) serialize: every
// write bumps the revision once, a checked name is taken once, and a reader
// never sees the revision go back or a state that does not match it.
func TestConcurrentWrites(t *testing.T) {
	const writers, each = 4, 15
	ctx := context.Background()
	dsn, _ := newSchema(t)
	nodes := []*Store{openT(t, dsn), openT(t, dsn)}

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var taken sync.Map // name -> writer that got it
	for w := range writers {
		wg.Go(func() {
			s := nodes[w%len(nodes)]
			for i := range each {
				// Writers race for the same names: one of each wins.
				c := channel(fmt.Sprintf("c%d", i))
				err := s.CreateChannel(ctx, c)
				var cf *store.ConflictError
				switch {
				case err == nil:
					if prev, dup := taken.LoadOrStore(c.Name, w); dup {
						errs <- fmt.Errorf("name %s taken by writers %v and %d", c.Name, prev, w)
						return
					}
				case errors.As(err, &cf) && cf.Field == "name":
				default:
					errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Each successful write creates one channel and failed ones change
	// nothing, so a consistent state has as many channels as its revision.
	var last int64
	deadline := time.Now().Add(time.Minute)
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true // one more round after the last write
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the writers did not finish within a minute")
		}
		st, err := nodes[1].Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Revision < last {
			t.Fatalf("Load revision went back from %d to %d", last, st.Revision)
		}
		if int64(len(st.Channels)) != st.Revision {
			t.Fatalf("Load at revision %d has %d channels", st.Revision, len(st.Channels))
		}
		last = st.Revision
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if last != each {
		t.Fatalf("final revision %d, want %d (one channel per name)", last, each)
	}
}

// TestSessionSettings checks the pool size and the settings the timeouts
// rest on, and that the DSN overrides them.
func TestSessionSettings(t *testing.T) {
	dsn, _ := newSchema(t)
	app := "pt-" + randHex(6)
	for _, tc := range []struct {
		name               string
		dsn                string
		maxConns, minConns int32
		settings           [4]string
	}{
		{"defaults", dsn, 8, 1, [4]string{"5s", "3s", "15s", "portico"}},
		{"from the DSN", withParams(t, dsn, "pool_max_conns", "2", "pool_min_conns", "0",
			"statement_timeout", "7s", "application_name", app), 2, 0, [4]string{"7s", "3s", "15s", app}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, tc.dsn)
			if c := s.pool.Config(); c.MaxConns != tc.maxConns || c.MinConns != tc.minConns || c.ConnConfig.ConnectTimeout != connectTimeout {
				t.Errorf("pool: max %d, min %d, connect timeout %v; want %d, %d, %v",
					c.MaxConns, c.MinConns, c.ConnConfig.ConnectTimeout, tc.maxConns, tc.minConns, connectTimeout)
			}
			var got [4]string
			if err := s.pool.QueryRow(t.Context(), `SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),
				current_setting('idle_in_transaction_session_timeout'), current_setting('application_name')`).
				Scan(&got[0], &got[1], &got[2], &got[3]); err != nil {
				t.Fatal(err)
			}
			if got != tc.settings {
				t.Errorf("statement_timeout, lock_timeout, idle_in_transaction_session_timeout, application_name = %q, want %q", got, tc.settings)
			}
			if tc.settings[3] == app { // a name no other test's store uses
				listenerPID(t, admin(t), app+"-listen", 0)
			}
		})
	}
}

// listenerPID returns the backend pid of the listening connection named
// app, once exactly one other than not exists.
func listenerPID(t *testing.T, conn *pgx.Conn, app string, not uint32) uint32 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := conn.Query(t.Context(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 1 && pids[0] != not {
			return pids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("backends of %s: %v, want one (other than %d)", app, pids, not)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerReconnects: after its listening connection is killed, a store
// reconnects, signals Changed once (it may have missed writes), and hears
// later writes of other stores again.
func TestListenerReconnects(t *testing.T) {
	dsn, _ := newSchema(t)
	app := "pt-" + randHex(6)
	a := openT(t, dsn)
	b := openT(t, withParams(t, dsn, "application_name", app))
	conn := admin(t)

	pid := listenerPID(t, conn, app+"-listen", 0)
	drain(b)
	var killed bool
	if err := conn.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
	}
	wantChanged(t, b, 5*time.Second, "after reconnecting")
	if again := listenerPID(t, conn, app+"-listen", pid); again == pid {
		t.Fatalf("the listener still uses backend %d", pid)
	}

	drain(b)
	if err := a.CreateChannel(t.Context(), channel("")); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	wantChanged(t, b, time.Second, "a write after reconnecting")
}

// TestListenerSurvivesQuiet: a quiet listening connection is checked
// without being dropped (no reconnection hint), and still hears writes.
func TestListenerSurvivesQuiet(t *testing.T) {
	saved := listenCheck
	listenCheck = 50 * time.Millisecond
	t.Cleanup(func() { listenCheck = saved }) // after the stores close
	dsn, _ := newSchema(t)
	a, b := openT(t, dsn), openT(t, dsn)
	drain(b)
	wantQuiet(t, b, 500*time.Millisecond, "a quiet store")
	if err := a.CreateChannel(t.Context(), channel("")); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	wantChanged(t, b, time.Second, "a write after a quiet while")
}

// TestBlockedWriteFailsFast: a write that cannot get the revision row (a
// transaction elsewhere holds it) fails within seconds instead of hanging,
// changes nothing, and the store works once the row is free.
func TestBlockedWriteFailsFast(t *testing.T) {
	dsn, schema := newSchema(t)
	s := openT(t, dsn)
	conn := admin(t)
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT value FROM `+pgx.Identifier{schema, "revision"}.Sanitize()+` FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.CreateChannel(context.Background(), channel("blocked"))
	took := time.Since(start)
	if err == nil {
		t.Fatal("a write went through while the revision row was locked")
	}
	if took > callTimeout+2*time.Second {
		t.Fatalf("the blocked write failed after %v", took)
	}
	t.Logf("blocked write failed after %v: %v", took, err)
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChannel(t.Context(), channel("blocked")); err != nil {
		t.Fatalf("CreateChannel once the row is free: %v", err)
	}
	if rev, err := s.Revision(t.Context()); err != nil || rev != 1 {
		t.Fatalf("Revision = %d, %v; want 1", rev, err)
	}
}

// TestOpenFailsFastOnSilentServer: a server that accepts connections and
// never answers makes Open fail within the connect timeout.
func TestOpenFailsFastOnSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	start := time.Now()
	s, err := Open(context.Background(), "postgres://postgres@"+ln.Addr().String()+"/test?sslmode=disable")
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded against a server that never answers")
	}
	if took := time.Since(start); took > connectTimeout+2*time.Second {
		t.Fatalf("Open failed after %v, want about %v", took, connectTimeout)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dsn, _ := newSchema(t)
	storetest.RunReopen(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn, schema := newSchema(t)
	s := openT(t, dsn)
	s.Close()
	conn := admin(t)
	if _, err := conn.Exec(t.Context(), `UPDATE `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` SET version = $1`,
		len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open of a schema from a newer version succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error does not say why: %v", err)
	}
}

func TestDamagedSchemaVersionRefused(t *testing.T) {
	admin(t)
	for _, tc := range []struct{ name, edit, want string }{
		{"negative", `UPDATE %s SET version = -1`, "schema version -1, which no portico writes"},
		{"no row", `DELETE FROM %s`, "schema_version table of schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, schema := newSchema(t)
			s := openT(t, dsn)
			s.Close()
			conn := admin(t)
			table := pgx.Identifier{schema, "schema_version"}.Sanitize()
			if _, err := conn.Exec(t.Context(), strings.Replace(tc.edit, "%s", table, 1)); err != nil {
				t.Fatal(err)
			}
			s, err := Open(context.Background(), dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open of a schema with a damaged version succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestMigrationsApplyOnce: only new steps run, and a failing step leaves
// the schema as it was before the migration.
func TestMigrationsApplyOnce(t *testing.T) {
	ctx := t.Context()
	dsn, schema := newSchema(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	steps := []migration{{name: "one", stmts: []string{`CREATE TABLE one (x INTEGER)`}}}
	if err := migrateTo(ctx, pool, schema, steps); err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, pool, schema, steps); err != nil {
		t.Fatalf("re-running an applied migration: %v", err)
	}
	steps = append(steps, migration{name: "two", stmts: []string{
		`CREATE TABLE two (y INTEGER)`, `INSERT INTO two VALUES (2)`,
	}})
	if err := migrateTo(ctx, pool, schema, steps); err != nil {
		t.Fatalf("adding a step: %v", err)
	}
	var y, v int
	if err := pool.QueryRow(ctx, `SELECT y FROM two`).Scan(&y); err != nil || y != 2 {
		t.Fatalf("second step not applied: %d, %v", y, err)
	}
	if err := pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("schema version %d, %v; want 2", v, err)
	}

	bad := append(steps,
		migration{name: "three", stmts: []string{`CREATE TABLE three (z INTEGER)`}},
		migration{name: "bad", stmts: []string{`CREATE TABLE four (z INTEGER)`, `THIS IS NOT SQL`}})
	if err := migrateTo(ctx, pool, schema, bad); err == nil || !strings.Contains(err.Error(), "migration 4 (bad)") {
		t.Fatalf("bad migration: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("schema version after a failed migration %d, %v; want 2", v, err)
	}
	for _, table := range []string{"three", "four"} {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || exists {
			t.Fatalf("a failed migration left table %s (%v)", table, err)
		}
	}
}

// TestUpgradeKeepsDomains: a schema made before certificates migrates
// with its custom domains intact.
func TestUpgradeKeepsDomains(t *testing.T) {
	ctx := t.Context()
	dsn, schema := newSchema(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	step := -1
	for i, m := range migrations {
		if m.name == "certificates" {
			step = i
		}
	}
	if step < 0 {
		t.Fatal("no certificates migration")
	}
	if err := migrateTo(ctx, pool, schema, migrations[:step]); err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.OldDomainSQL {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	storetest.CheckUpgradedDomains(t, openT(t, dsn))
}

// TestTypedErrorsPassThrough: the store's own errors keep their type, and a
// unique violation (a write racing one from outside the store) becomes a
// ConflictError.
func TestTypedErrorsPassThrough(t *testing.T) {
	dsn, schema := newSchema(t)
	s := openT(t, dsn)
	c := channel("taken")
	if err := s.CreateChannel(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	// Insert directly, behind the store's checks.
	err := s.write(t.Context(), "raw insert", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "channels"}.Sanitize()+
			` (id, name, created_at, body) VALUES ('ch-x', 'taken', 0, '{}')`)
		return err
	})
	var cf *store.ConflictError
	if !errors.As(err, &cf) || cf.Field != "name" {
		t.Fatalf("unique violation: %v (%T), want a ConflictError on name", err, err)
	}
	_, err = s.GetChannel(t.Context(), "ch-0000000000000000")
	if !store.IsNotFound(err) {
		t.Fatalf("GetChannel of a missing id: %v", err)
	}
}
