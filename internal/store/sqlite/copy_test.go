package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/internal/store/sqlshared"
	"github.com/portico-gw/portico/internal/store/storetest"
)

// TestCopy: a dump restored into a new store is the same store, writable
// after it; a store that holds anything is replaced only when asked.
func TestCopy(t *testing.T) {
	ctx := t.Context()
	src := openT(t, t.TempDir())
	storetest.Fill(t, src)
	d, err := src.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := openT(t, t.TempDir())
	rev, err := dst.Restore(ctx, d, false)
	if err != nil {
		t.Fatal(err)
	}
	if rev != d.Revision {
		t.Fatalf("restored at revision %d, want %d", rev, d.Revision)
	}
	storetest.SameStores(t, src, dst)

	// Not again, unless replacing.
	if _, err := dst.Restore(ctx, d, false); !errors.Is(err, sqlshared.ErrNotEmpty) {
		t.Fatalf("Restore into a filled store: %v, want ErrNotEmpty", err)
	}
	storetest.SameStores(t, src, dst)
	storetest.CheckWritable(t, dst) // moves dst past src
	rev, err = dst.Restore(ctx, d, true)
	if err != nil {
		t.Fatal(err)
	}
	if rev <= d.Revision {
		t.Fatalf("a replaced store went back to revision %d (the dump's is %d): its nodes would miss the change", rev, d.Revision)
	}
	d2, err := dst.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Revision, d2.Revision = 0, 0
	d.Rows["revision"], d2.Rows["revision"] = nil, nil
	if d.Count() != d2.Count() {
		t.Fatalf("after replacing: %d rows, want %d", d2.Count(), d.Count())
	}

	// A store whose only write is its admin token is not empty.
	tok := openT(t, t.TempDir())
	if err := tok.SetAdminToken(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Restore(ctx, d, false); !errors.Is(err, sqlshared.ErrNotEmpty) {
		t.Fatalf("Restore over an admin token: %v, want ErrNotEmpty", err)
	}
}

// TestCopyCoversSchema: the copy's table list is the schema, column for
// column, less the tables it leaves alone on purpose.
func TestCopyCoversSchema(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	schema := map[string][]string{}
	for _, table := range tables {
		cols, err := db.Query(`SELECT name FROM pragma_table_info(?) ORDER BY name`, table)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				t.Fatal(err)
			}
			schema[table] = append(schema[table], c)
		}
		cols.Close()
	}
	storetest.CheckCopyCovers(t, schema)
}
