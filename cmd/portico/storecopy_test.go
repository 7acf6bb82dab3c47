package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/postgres"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/store/storetest"
)

func runCopy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := storeCommand(append([]string{"copy"}, args...), &out, &errOut)
	return out.String() + errOut.String(), err
}

// filledDir is a data directory whose embedded store holds every kind of
// object.
func filledDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Fill(t, st)
	st.Close()
	return dir
}

func openDir(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStoreCopyDirs(t *testing.T) {
	src := filledDir(t)
	dst := t.TempDir() + "/new"
	out, err := runCopy(t, "--from", src, "--to", dst)
	if err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied ") || !strings.Contains(out, "channels 2") {
		t.Errorf("output %q", out)
	}
	storetest.SameStores(t, openDir(t, src), openDir(t, dst))

	out, err = runCopy(t, "--from", src, "--to", dst)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a second copy: %v\n%s", err, out)
	}
	if out, err := runCopy(t, "--from", src, "--to", dst, "--force"); err != nil {
		t.Fatalf("copy --force: %v\n%s", err, out)
	}
}

func TestStoreCopyRefusals(t *testing.T) {
	src := filledDir(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--from and --to"},
		{[]string{"--from", src}, "--from and --to"},
		{[]string{"--from", src, "--to", src}, "same store"},
		{[]string{"--from", t.TempDir(), "--to", t.TempDir()}, "holds no embedded store"},
		{[]string{"--from", src, "--to", "mysql://x/y"}, "neither a data directory nor"},
		{[]string{"--from", src, "--to", t.TempDir(), "extra"}, "no arguments"},
	} {
		_, err := runCopy(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("copy %q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	var ue usageError
	if err := storeCommand([]string{"move"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.As(err, &ue) {
		t.Errorf("an unknown store command: %v", err)
	}
}

// testSchema creates a PostgreSQL schema dropped when the test ends and
// returns a DSN selecting it; it skips without a server (fails with
// CI=true).
func testSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PORTICO_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and PostgreSQL is unreachable: %v", err)
		}
		t.Skipf("PostgreSQL is unreachable (set PORTICO_TEST_POSTGRES): %v", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "portico_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		conn.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestStoreCopyPostgres: the embedded store to PostgreSQL and back.
func TestStoreCopyPostgres(t *testing.T) {
	src := filledDir(t)
	dsn := testSchema(t)
	if out, err := runCopy(t, "--from", src, "--to", dsn); err != nil {
		t.Fatalf("to PostgreSQL: %v\n%s", err, out)
	}
	pg, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	storetest.SameStores(t, openDir(t, src), pg)

	back := t.TempDir()
	if out, err := runCopy(t, "--from", dsn, "--to", back); err != nil {
		t.Fatalf("back from PostgreSQL: %v\n%s", err, out)
	}
	storetest.SameStores(t, openDir(t, src), openDir(t, back))
}
