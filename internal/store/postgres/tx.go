package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/portico-gw/portico/internal/store/sqlshared"
)

// pgTx runs the shared code's statements in a pgx transaction, numbering
// their ? placeholders as PostgreSQL wants them. pgx's Rows and Row already
// are sqlshared's (pgx.ErrNoRows matches sqlshared.ErrNoRows).
type pgTx struct{ tx pgx.Tx }

func (t pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t pgTx) Query(ctx context.Context, query string, args ...any) (sqlshared.Rows, error) {
	rows, err := t.tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (t pgTx) QueryRow(ctx context.Context, query string, args ...any) sqlshared.Row {
	return t.tx.QueryRow(ctx, rebind(query), args...)
}

// rebound caches rebind's results. The shared code's statements are a
// fixed set (table and column names are all it splices in), so the cache
// stays small.
var rebound sync.Map // string -> string

// rebind turns the ? placeholders of query into $1, $2, ..., once per
// statement text. A ? inside a string literal, a quoted identifier or a
// comment is left alone.
func rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	q := number(query)
	rebound.Store(query, q)
	return q
}

// number does rebind's work.
func number(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// Copy the literal or identifier through its closing quote (a
			// doubled quote inside it reopens it at once).
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
