package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// bindingRow is a binding of a plugin or a usage plan (its owner) to a
// service in one environment, read back from the one-row-per-API form the
// tables keep (api_id ” for the whole service).
type bindingRow struct {
	ID, Owner, ServiceID, Environment string
	APIIDs                            []string
	CreatedAt                         time.Time
}

// readBindings reads the bindings of table (owner column ownerCol),
// grouping the rows of each binding into one, in creation order.
func readBindings(ctx context.Context, tx *sql.Tx, table, ownerCol, where string, args ...any) ([]bindingRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT binding_id, `+ownerCol+`, service_id, environment, api_id, created_at
		FROM `+table+` `+where+` ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []bindingRow{}
	index := map[string]int{}
	for rows.Next() {
		var b bindingRow
		var aid string
		var created int64
		if err := rows.Scan(&b.ID, &b.Owner, &b.ServiceID, &b.Environment, &aid, &created); err != nil {
			return nil, err
		}
		i, ok := index[b.ID]
		if !ok {
			b.CreatedAt = fromMillis(created)
			index[b.ID] = len(out)
			out = append(out, b)
			i = len(out) - 1
		}
		if aid != "" {
			out[i].APIIDs = append(out[i].APIIDs, aid)
		}
	}
	return out, rows.Err()
}

// checkTargets fails with an InvalidError unless the service exists and
// every API id is one of its APIs.
func checkTargets(ctx context.Context, tx *sql.Tx, serviceID string, apiIDs []string) error {
	if _, err := getService(ctx, tx, serviceID); err != nil {
		if store.IsNotFound(err) {
			return &store.InvalidError{Field: "service_id", Message: fmt.Sprintf("service_id %s does not exist", serviceID)}
		}
		return err
	}
	for i, aid := range apiIDs {
		if _, err := getAPI(ctx, tx, serviceID, aid); err != nil {
			if store.IsNotFound(err) {
				return &store.InvalidError{Field: fmt.Sprintf("api_ids[%d]", i),
					Message: fmt.Sprintf("api_ids[%d]: API %s is not an API of service %s", i, aid, serviceID)}
			}
			return err
		}
	}
	return nil
}

// targets is the api_id of each row a binding is stored as.
func targets(apiIDs []string) []string {
	if len(apiIDs) == 0 {
		return []string{""}
	}
	return apiIDs
}

// deleteBinding deletes the rows of one binding of owner.
func deleteBinding(ctx context.Context, tx *sql.Tx, table, ownerCol, owner, bindingID string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+ownerCol+` = ? AND binding_id = ?`, owner, bindingID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return &store.NotFoundError{Kind: "binding", ID: bindingID}
	}
	return nil
}

func bindingDetails[T any](bs []T) []any {
	details := make([]any, len(bs))
	for i, b := range bs {
		details[i] = b
	}
	return details
}

// nameFree fails with a ConflictError when another row of table than self
// has the name; kind names the object in the message ("a plugin named …").
func nameFree(ctx context.Context, tx *sql.Tx, table, kind, name, self string) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE name = ? AND id != ?`, name, self).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return &store.ConflictError{Message: fmt.Sprintf("%s named %q already exists (%s)", kind, name, id), Field: "name",
		Details: []any{map[string]string{"id": id}}}
}

// bindingConflict is a binding already on a target a new binding wants.
type bindingConflict struct{ Owner, BindingID, APIID string }

// storeBinding stores a binding as one row per target unless a binding of
// the same kind is already on one of its targets; then it stores nothing
// and returns those. kindCol/kind narrow "the same kind" (plugins: the
// type column and value; "" when the table holds one kind).
func storeBinding(ctx context.Context, tx *sql.Tx, table, ownerCol, owner, kindCol, kind, id, serviceID, env string,
	apiIDs []string, created time.Time) ([]bindingConflict, error) {
	where, args := `service_id = ? AND environment = ? AND api_id = ?`, []any{serviceID, env, ""}
	if kindCol != "" {
		where, args = kindCol+` = ? AND `+where, []any{kind, serviceID, env, ""}
	}
	var conflicts []bindingConflict
	for _, aid := range targets(apiIDs) {
		args[len(args)-1] = aid
		var c bindingConflict
		err := tx.QueryRowContext(ctx, `SELECT `+ownerCol+`, binding_id FROM `+table+` WHERE `+where, args...).Scan(&c.Owner, &c.BindingID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			c.APIID = aid
			conflicts = append(conflicts, c)
		}
	}
	if len(conflicts) > 0 {
		return conflicts, nil
	}
	cols, marks, vals := `binding_id, `+ownerCol+`, service_id, environment, api_id, created_at`, `?, ?, ?, ?, ?, ?`,
		[]any{id, owner, serviceID, env, "", created.UnixMilli()}
	if kindCol != "" {
		cols, marks, vals = cols+`, `+kindCol, marks+`, ?`, append(vals, kind)
	}
	for _, aid := range targets(apiIDs) {
		vals[4] = aid
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+cols+`) VALUES (`+marks+`)`, vals...); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
