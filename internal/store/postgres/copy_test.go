package postgres

import (
	"testing"

	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/store/storetest"
)

// TestCopyBetweenStores: a configuration written to the embedded store,
// copied to a new PostgreSQL schema and from there to a new embedded
// store, is the same in all three (ids, versions, timestamps, history,
// revision, admin token), and each copy is writable after it.
func TestCopyBetweenStores(t *testing.T) {
	ctx := t.Context()
	lite, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	storetest.Fill(t, lite)

	dsn, _ := newSchema(t)
	pg := openT(t, dsn)
	d, err := lite.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := pg.Restore(ctx, d, false); err != nil || rev != d.Revision {
		t.Fatalf("Restore into PostgreSQL = %d, %v; want revision %d", rev, err, d.Revision)
	}
	storetest.SameStores(t, lite, pg)

	back, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	d2, err := pg.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Count() != d.Count() {
		t.Fatalf("PostgreSQL dumps %d rows, the source %d", d2.Count(), d.Count())
	}
	if _, err := back.Restore(ctx, d2, false); err != nil {
		t.Fatal(err)
	}
	storetest.SameStores(t, lite, back)

	storetest.CheckWritable(t, pg)
	storetest.CheckWritable(t, back)
}

// TestCopyCoversSchema: the copy's table list is the PostgreSQL schema,
// column for column, less the tables it leaves alone on purpose.
func TestCopyCoversSchema(t *testing.T) {
	dsn, schema := newSchema(t)
	openT(t, dsn)
	conn := admin(t)
	rows, err := conn.Query(t.Context(), `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = $1 ORDER BY table_name, column_name`, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols := map[string][]string{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		cols[table] = append(cols[table], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	storetest.CheckCopyCovers(t, cols)
}
