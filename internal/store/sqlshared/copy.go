package sqlshared

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Table is one table as a copy moves it: every column, as it is.
type Table struct {
	Name    string
	Columns []string
	// Identity is set when seq is numbered by the database: the copy
	// inserts it as it is, and moves the numbering past it.
	Identity bool
	// Order sorts the rows read, so that a copy is deterministic.
	Order string
}

// Tables are the tables of the configuration, parents before children (the
// order rows are inserted in; deleted in reverse): every table of the
// schema but those in NotCopied. A migration that adds a table or a column
// adds it here too; a test compares this list with both stores' schemas.
var Tables = []Table{
	{Name: "revision", Columns: []string{"id", "value"}, Order: "id"},
	{Name: "meta", Columns: []string{"key", "value"}, Order: "key"},
	{Name: "channels", Columns: []string{"seq", "id", "name", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "certificates", Columns: []string{"seq", "id", "name", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "services", Columns: []string{"seq", "id", "name", "created_at", "release_seq", "body"}, Identity: true, Order: "seq"},
	{Name: "service_domains", Columns: []string{"host", "service_id", "certificate_id"}, Order: "host"},
	{Name: "apis", Columns: []string{"seq", "id", "service_id", "name", "channel_id", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "releases", Columns: []string{"service_id", "version", "seq", "environment", "description", "created_at", "apis"}, Order: "service_id, seq"},
	{Name: "release_events", Columns: []string{"service_id", "seq", "action", "environment", "version", "previous_version", "description", "created_at"}, Order: "service_id, seq"},
	{Name: "environments", Columns: []string{"service_id", "environment", "version", "published_at"}, Order: "service_id, environment"},
	{Name: "plugins", Columns: []string{"seq", "id", "name", "type", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "plugin_bindings", Columns: []string{"seq", "binding_id", "plugin_id", "type", "service_id", "environment", "api_id", "created_at"}, Identity: true, Order: "seq"},
	{Name: "keys", Columns: []string{"seq", "id", "name", "secret_id", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "usage_plans", Columns: []string{"seq", "id", "name", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "plan_keys", Columns: []string{"seq", "plan_id", "key_id"}, Identity: true, Order: "seq"},
	{Name: "plan_bindings", Columns: []string{"seq", "binding_id", "plan_id", "service_id", "environment", "api_id", "created_at"}, Identity: true, Order: "seq"},
	{Name: "apps", Columns: []string{"seq", "id", "name", "app_key", "created_at", "body"}, Identity: true, Order: "seq"},
	{Name: "app_bindings", Columns: []string{"seq", "id", "app_id", "service_id", "api_id", "environment", "created_at", "body"}, Identity: true, Order: "seq"},
}

// NotCopied are the tables of the schema a copy leaves alone, and why.
var NotCopied = map[string]string{
	"schema_version": "the target's own: both ends are at the version of this binary",
	"nodes":          "heartbeats of the nodes running on a store, not configuration",
}

// Dump is every row of every table of Tables, read at one revision.
type Dump struct {
	Revision int64
	Rows     map[string][][]any // by table name, in Table.Order
}

// Count is how many rows the dump holds.
func (d *Dump) Count() int {
	n := 0
	for _, rows := range d.Rows {
		n += len(rows)
	}
	return n
}

// Dump reads every table in one read transaction: one snapshot of the
// store, whatever is written meanwhile.
func (s *Store) Dump(ctx context.Context) (*Dump, error) {
	d := &Dump{Rows: map[string][][]any{}}
	err := s.read(ctx, "dump", func(ctx context.Context, tx Tx) error {
		for _, t := range Tables {
			rows, err := tx.Query(ctx, `SELECT `+strings.Join(t.Columns, ", ")+` FROM `+t.Name+` ORDER BY `+t.Order)
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			var all [][]any
			for rows.Next() {
				vals := make([]any, len(t.Columns))
				ptrs := make([]any, len(vals))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return fmt.Errorf("%s: %w", t.Name, err)
				}
				all = append(all, vals)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			d.Rows[t.Name] = all
		}
		return tx.QueryRow(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&d.Revision)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ErrNotEmpty is what Restore fails with on a store that holds anything
// but an unused revision counter, unless told to replace it.
var ErrNotEmpty = errors.New("the target store is not empty")

// Restore writes d into the store in one write transaction, ids, versions,
// timestamps and revision as they are. The store must be empty (ErrNotEmpty)
// unless replace is set: then everything in it is deleted first. A
// replaced store whose revision was at or past d's gets its own revision
// plus one instead of d's, so that nodes that served it see a change. The
// revision the store is left at is returned.
func (s *Store) Restore(ctx context.Context, d *Dump, replace bool) (int64, error) {
	var rev int64
	err := s.write(ctx, "restore", func(ctx context.Context, tx Tx) error {
		// The write transaction bumped the revision already.
		var bumped int64
		if err := tx.QueryRow(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&bumped); err != nil {
			return err
		}
		empty := bumped == 1
		for _, t := range Tables[1:] {
			if !empty {
				break
			}
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+t.Name).Scan(&n); err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			empty = n == 0
		}
		if !empty && !replace {
			return ErrNotEmpty
		}
		for i := len(Tables) - 1; i >= 0; i-- {
			if _, err := tx.Exec(ctx, `DELETE FROM `+Tables[i].Name); err != nil {
				return fmt.Errorf("%s: %w", Tables[i].Name, err)
			}
		}
		for _, t := range Tables {
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(t.Columns)), ", ")
			insert := `INSERT INTO ` + t.Name + ` (` + strings.Join(t.Columns, ", ") + `) `
			if t.Identity {
				insert += s.d.OverridingSystemValue + ` `
			}
			insert += `VALUES (` + marks + `)`
			for _, row := range d.Rows[t.Name] {
				if _, err := tx.Exec(ctx, insert, row...); err != nil {
					return fmt.Errorf("%s: %w", t.Name, err)
				}
			}
			if t.Identity && s.d.ResetIdentity != "" {
				if _, err := tx.Exec(ctx, strings.ReplaceAll(s.d.ResetIdentity, "{table}", t.Name)); err != nil {
					return fmt.Errorf("%s: %w", t.Name, err)
				}
			}
		}
		rev = d.Revision
		if !empty && bumped > rev {
			rev = bumped
		}
		_, err := tx.Exec(ctx, `UPDATE revision SET value = ? WHERE id = 1`, rev)
		return err
	})
	return rev, err
}
