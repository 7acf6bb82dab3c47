package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/storetest"
)

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openT(t, t.TempDir()) })
}

func intp(n int) *int { return &n }

func channel(name string) *config.Channel {
	return &config.Channel{
		Name: name, Network: "default", Scheme: "http", Algorithm: config.DefaultAlgo,
		Nodes: []config.Node{{Host: "10.0.0.1", Port: 80, Weight: intp(1)}},
	}
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	openT(t, dir)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
}

func TestOpenOddDirectoryName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data?mode=ro#x %41")
	s := openT(t, dir)
	if err := s.CreateChannel(context.Background(), channel("")); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("database not where it belongs: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	storetest.RunReopen(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
	if v := schemaVersion(t, filepath.Join(dir, FileName)); v != len(migrations) {
		t.Fatalf("schema version %d, want %d", v, len(migrations))
	}
}

// TestMigrationsApplyOnce adds a step to a database that has the earlier
// ones: only the new step runs (the old ones would fail if run again).
func TestMigrationsApplyOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", dsn(path, "_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	steps := []migration{{name: "one", stmts: []string{`CREATE TABLE one (x INTEGER)`}}}
	if err := migrateTo(ctx, db, steps); err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, steps); err != nil {
		t.Fatalf("re-running an applied migration: %v", err)
	}
	steps = append(steps, migration{name: "two", stmts: []string{
		`CREATE TABLE two (y INTEGER)`, `INSERT INTO two VALUES (2)`,
	}})
	if err := migrateTo(ctx, db, steps); err != nil {
		t.Fatalf("adding a step: %v", err)
	}
	var y, v int
	if err := db.QueryRow(`SELECT y FROM two`).Scan(&y); err != nil || y != 2 {
		t.Fatalf("second step not applied: %d, %v", y, err)
	}
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("schema version %d, %v; want 2", v, err)
	}

	// A failing step leaves the database at the last good one.
	bad := append(steps, migration{name: "bad", stmts: []string{
		`CREATE TABLE three (z INTEGER)`, `THIS IS NOT SQL`,
	}})
	if err := migrateTo(ctx, db, bad); err == nil || !strings.Contains(err.Error(), "migration 3 (bad)") {
		t.Fatalf("bad migration: %v", err)
	}
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("schema version after a failed step %d, %v; want 2", v, err)
	}
	if _, err := db.Exec(`SELECT * FROM three`); err == nil {
		t.Fatalf("a failed step left part of its changes")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(ctx, dir)
	if err == nil {
		s.Close()
		t.Fatalf("Open of a database from a newer version succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error does not say why: %v", err)
	}
}

// TestUpgradeKeepsDomains: a database made before certificates migrates
// with its custom domains intact.
func TestUpgradeKeepsDomains(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, migrations[:stepIndex(t, "certificates")]); err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.OldDomainSQL {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	storetest.CheckUpgradedDomains(t, openT(t, dir))
}

// stepIndex is the index of the migration step called name.
func stepIndex(t *testing.T, name string) int {
	t.Helper()
	for i, m := range migrations {
		if m.name == name {
			return i
		}
	}
	t.Fatalf("no migration step %q", name)
	return 0
}

// TestDamagedSchemaVersionRefused: a schema version that no portico writes
// (negative, not an integer, missing) is a clear error at Open naming what
// was found; a negative one used to panic the migrator.
func TestDamagedSchemaVersionRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, edit, want string
	}{
		{"negative", `UPDATE schema_version SET version = -1`, "schema version -1, which no portico writes"},
		{"most negative", `UPDATE schema_version SET version = -9223372036854775808`, "schema version -9223372036854775808,"},
		{"text", `UPDATE schema_version SET version = 'two'`, `schema version "two", not an integer`},
		{"real", `UPDATE schema_version SET version = 1.5`, "schema version 1.5, not an integer"},
		{"blob", `UPDATE schema_version SET version = X'01'`, "schema version X'01' (a blob), not an integer"},
		{"no row", `DELETE FROM schema_version`, "schema_version table has no version row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(tc.edit); err != nil {
				t.Fatal(err)
			}
			stored := func() string {
				t.Helper()
				var rows int
				var v string
				if err := db.QueryRow(`SELECT count(*), quote(max(version)) FROM schema_version`).Scan(&rows, &v); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("%d row(s), %s", rows, v)
			}
			before := stored()
			s, err = Open(ctx, dir)
			if err == nil {
				s.Close()
				t.Fatal("Open of a database with a damaged schema version succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
			// Refused without writing: the damage is left as found.
			if after := stored(); after != before {
				t.Fatalf("schema_version changed by the refused Open: %s -> %s", before, after)
			}
		})
	}
}

// TestConcurrentWrites: writers from several goroutines serialize, every
// write bumps the revision exactly once, and a reader never sees the revision
// go back or a state that does not match its revision.
func TestConcurrentWrites(t *testing.T) {
	const writers, each = 4, 250
	ctx := context.Background()
	s := openT(t, t.TempDir())
	rev0, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	ids := make([][]string, writers)
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c := channel(fmt.Sprintf("w%d_%d", w, i))
				if err := s.CreateChannel(ctx, c); err != nil {
					errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
					return
				}
				ids[w] = append(ids[w], c.ID)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Each write here creates one channel, so a consistent state has as
	// many channels as revisions since the start.
	var last int64
	polls := 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true // one more round after the last write
		default:
		}
		rev, err := s.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rev < last {
			t.Fatalf("Revision went back from %d to %d", last, rev)
		}
		st, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Revision < rev {
			t.Fatalf("Load revision %d is older than the revision %d read before it", st.Revision, rev)
		}
		if got := int64(len(st.Channels)); got != st.Revision-rev0 {
			t.Fatalf("Load at revision %d has %d channels, want %d", st.Revision, got, st.Revision-rev0)
		}
		last = st.Revision
		polls++
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if rev, _ := s.Revision(ctx); rev != rev0+writers*each {
		t.Fatalf("final revision %d, want %d", rev, rev0+writers*each)
	}
	chans, total, err := s.ListChannels(ctx, store.Page{Limit: writers * each})
	if err != nil {
		t.Fatal(err)
	}
	if total != writers*each || len(chans) != writers*each {
		t.Fatalf("%d channels (%d listed), want %d", total, len(chans), writers*each)
	}
	seen := map[string]bool{}
	for _, c := range chans {
		seen[c.ID] = true
	}
	for w := range ids {
		for _, id := range ids[w] {
			if !seen[id] {
				t.Fatalf("channel %s of writer %d is missing", id, w)
			}
		}
	}
	t.Logf("%d polls while writing", polls)
}

// TestPragmas checks the settings durability and integrity rest on, on the
// connections that use them.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir())
	for _, c := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "10000"},
		{s.r, "journal_mode", "wal"},
		{s.r, "foreign_keys", "1"},
		{s.r, "query_only", "1"},
	} {
		var got string
		if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
}

// TestUpgradeStartsHistoryFromReleases: a database made before the release
// history was kept gets one publish per release it holds.
func TestUpgradeStartsHistoryFromReleases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := &config.Service{Name: "orders"}
	if err := config.ValidateService(svc); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	api := &config.API{ServiceID: svc.ID, Name: "ping",
		Frontend: config.Frontend{Method: "GET", Path: "/ping"},
		Backend:  config.Backend{Type: config.BackendMock, Mock: &config.Mock{Status: 200}}}
	if err := config.ValidateAPI(api); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPI(ctx, api); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"test", "release"} {
		if _, err := s.Publish(ctx, svc.ID, env, "cut for "+env); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Back to the schema before the history.
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE release_events`, `UPDATE schema_version SET version = version - 1`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, total, err := s.History(ctx, svc.ID, store.Page{})
	if err != nil || total != 2 {
		t.Fatalf("history after the upgrade: %+v (total %d), %v", got, total, err)
	}
	for i, want := range []string{"release", "test"} {
		e := got[i]
		if e.Action != "publish" || e.Environment != want || e.Description != "cut for "+want || e.CreatedAt.IsZero() {
			t.Errorf("history item %d = %+v, want the publish to %s", i, e, want)
		}
	}
}
