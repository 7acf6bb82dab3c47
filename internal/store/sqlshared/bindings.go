package sqlshared

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// bindingTable is a table of bindings of plugins or usage plans (their
// owners) to a service in one environment, kept one row per API (one row
// with an empty api_id for the whole service).
type bindingTable struct {
	name     string
	ownerCol string
	// kindCol narrows "a binding of the same kind" (plugins: the type
	// column); "" when the table holds one kind.
	kindCol string
}

var (
	pluginBindingsTable = bindingTable{name: "plugin_bindings", ownerCol: "plugin_id", kindCol: "type"}
	planBindingsTable   = bindingTable{name: "plan_bindings", ownerCol: "plan_id"}
)

// bindingRow is one binding, read back from its rows.
type bindingRow struct {
	ID, Owner, ServiceID, Environment string
	APIIDs                            []string
	CreatedAt                         config.Time
}

// readBindings reads the bindings of t that match where (with ? for
// args), grouping the rows of each binding into one, in creation order.
func readBindings(ctx context.Context, tx Tx, t bindingTable, where string, args ...any) ([]bindingRow, error) {
	rows, err := tx.Query(ctx, `SELECT binding_id, `+t.ownerCol+`, service_id, environment, api_id, created_at
		FROM `+t.name+` `+where+` ORDER BY seq`, args...)
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
			i = len(out)
			index[b.ID] = i
			out = append(out, b)
		}
		if aid != "" {
			out[i].APIIDs = append(out[i].APIIDs, aid)
		}
	}
	return out, rows.Err()
}

// checkTargets fails with an InvalidError unless the service exists and
// every API id is one of its APIs.
func checkTargets(ctx context.Context, tx Tx, serviceID string, apiIDs []string) error {
	if err := serviceExists(ctx, tx, serviceID); err != nil {
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

// bindingConflict is a binding already on a target a new binding wants.
type bindingConflict struct{ Owner, BindingID, APIID string }

// storeBinding stores b as one row per target unless a binding of the same
// kind is already on one of its targets; then it stores nothing and returns
// those.
func storeBinding(ctx context.Context, tx Tx, t bindingTable, kind string, b *bindingRow) ([]bindingConflict, error) {
	where := `service_id = ? AND environment = ? AND api_id = ?`
	cols := `binding_id, ` + t.ownerCol + `, service_id, environment, api_id, created_at`
	marks := `?, ?, ?, ?, ?, ?`
	var kinds []any
	if t.kindCol != "" {
		where += ` AND ` + t.kindCol + ` = ?`
		cols += `, ` + t.kindCol
		marks += `, ?`
		kinds = []any{kind}
	}
	var conflicts []bindingConflict
	for _, aid := range targets(b.APIIDs) {
		c := bindingConflict{APIID: aid}
		err := tx.QueryRow(ctx, `SELECT `+t.ownerCol+`, binding_id FROM `+t.name+` WHERE `+where,
			append([]any{b.ServiceID, b.Environment, aid}, kinds...)...).Scan(&c.Owner, &c.BindingID)
		switch {
		case errors.Is(err, ErrNoRows):
		case err != nil:
			return nil, err
		default:
			conflicts = append(conflicts, c)
		}
	}
	if len(conflicts) > 0 {
		return conflicts, nil
	}
	for _, aid := range targets(b.APIIDs) {
		if _, err := tx.Exec(ctx, `INSERT INTO `+t.name+` (`+cols+`) VALUES (`+marks+`)`,
			append([]any{b.ID, b.Owner, b.ServiceID, b.Environment, aid, b.CreatedAt.UnixMilli()}, kinds...)...); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// deleteBinding deletes the rows of one binding of owner.
func deleteBinding(ctx context.Context, tx Tx, t bindingTable, owner, bindingID string) error {
	return deleteOne(ctx, tx, "binding", bindingID,
		`DELETE FROM `+t.name+` WHERE `+t.ownerCol+` = ? AND binding_id = ?`, owner, bindingID)
}

// bindingDetails lists bindings as ConflictError details.
func bindingDetails[T any](bs []T) []any {
	details := make([]any, len(bs))
	for i, b := range bs {
		details[i] = b
	}
	return details
}

// nameFree fails with a ConflictError when another row of table than self
// has the name; kind names the object in the message ("a plugin named …").
// The details hold the other object's id, and its name when withName.
func nameFree(ctx context.Context, tx Tx, table, kind, name, self string, withName bool) error {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM `+table+` WHERE name = ? AND id <> ?`, name, self).Scan(&id)
	switch {
	case errors.Is(err, ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	detail := map[string]string{"id": id}
	if withName {
		detail["name"] = name
	}
	return &store.ConflictError{Message: fmt.Sprintf("%s named %q already exists (%s)", kind, name, id), Field: "name",
		Details: []any{detail}}
}
