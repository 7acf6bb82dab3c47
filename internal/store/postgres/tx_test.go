package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/portico-gw/portico/internal/store/sqlshared"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT id FROM t WHERE a = ? AND b <> ?`, `SELECT id FROM t WHERE a = $1 AND b <> $2`},
		{`INSERT INTO t (a, b, c) VALUES (?, ?, ?)`, `INSERT INTO t (a, b, c) VALUES ($1, $2, $3)`},
		{`SELECT '?', "a?b", ? FROM t`, `SELECT '?', "a?b", $1 FROM t`},
		{`SELECT 'it''s ?' || ?`, `SELECT 'it''s ?' || $1`},
		{"SELECT ? -- why?\nFROM t WHERE x = ?", "SELECT $1 -- why?\nFROM t WHERE x = $2"},
		{`SELECT a - ? FROM t WHERE b = ?`, `SELECT a - $1 FROM t WHERE b = $2`},
		{`SELECT 'open ?`, `SELECT 'open ?`},
		{`SELECT ? -- to the end?`, `SELECT $1 -- to the end?`},
	} {
		for range 2 { // the second time from the cache
			if got := rebind(tc.in); got != tc.want {
				t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

// TestNoRows: the shared code recognizes pgx's "no rows".
func TestNoRows(t *testing.T) {
	if !errors.Is(pgx.ErrNoRows, sqlshared.ErrNoRows) {
		t.Fatal("pgx.ErrNoRows does not match sqlshared.ErrNoRows")
	}
}
