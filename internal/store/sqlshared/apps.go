package sqlshared

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateApp stores an application with a generated key and secret.
func (s *Store) CreateApp(ctx context.Context, a *config.App) error {
	row := *a
	row.ID = NewID("app-")
	row.AppKey = newSecretID()
	row.AppSecret = newSecretKey()
	err := s.write(ctx, "create app", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := nameFree(ctx, tx, "apps", "an app", row.Name, "", false); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO apps (id, name, app_key, created_at, body) VALUES (?, ?, ?, ?, ?)`,
			row.ID, row.Name, row.AppKey, row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	*a = row
	return nil
}

// GetApp returns an application.
func (s *Store) GetApp(ctx context.Context, id string) (*config.App, error) {
	return readOne(ctx, s, "get app", func(ctx context.Context, tx Tx) (*config.App, error) {
		return getApp(ctx, tx, id)
	})
}

// ListApps returns a page of applications, oldest first.
func (s *Store) ListApps(ctx context.Context, p store.Page) ([]config.App, int, error) {
	return listPage(ctx, s, listing[config.App]{op: "list apps", from: `FROM apps`}, p)
}

// UpdateApp replaces name and description.
func (s *Store) UpdateApp(ctx context.Context, a *config.App) error {
	row := *a
	err := s.write(ctx, "update app", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getApp(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt, row.AppKey, row.AppSecret = old.CreatedAt, old.AppKey, old.AppSecret
		if err := nameFree(ctx, tx, "apps", "an app", row.Name, row.ID, false); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE apps SET name = ?, body = ? WHERE id = ?`, row.Name, body, row.ID)
		return err
	})
	if err != nil {
		return err
	}
	*a = row
	return nil
}

// DeleteApp deletes an application bound to no API.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.write(ctx, "delete app", func(ctx context.Context, tx Tx) error {
		if _, err := getApp(ctx, tx, id); err != nil {
			return err
		}
		bs, err := queryBodies[config.AppBinding](ctx, tx, `SELECT body FROM app_bindings WHERE app_id = ? ORDER BY seq`, id)
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			return &store.ConflictError{
				Message: fmt.Sprintf("app %s is bound to %d API(s); unbind it first", id, len(bs)),
				Details: bindingDetails(bs),
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM apps WHERE id = ?`, id)
		return err
	})
}

// BindApp lets an application call an API in an environment.
func (s *Store) BindApp(ctx context.Context, b *config.AppBinding) error {
	row := *b
	row.ID = NewID("ab-")
	err := s.write(ctx, "bind app", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		if err := serviceExists(ctx, tx, row.ServiceID); err != nil {
			return err
		}
		if _, err := getAPI(ctx, tx, row.ServiceID, row.APIID); err != nil {
			return err
		}
		if _, err := getApp(ctx, tx, row.AppID); err != nil {
			if store.IsNotFound(err) {
				return &store.InvalidError{Field: "app_id", Message: fmt.Sprintf("app_id %s does not exist", row.AppID)}
			}
			return err
		}
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM app_bindings WHERE app_id = ? AND api_id = ? AND environment = ?`,
			row.AppID, row.APIID, row.Environment).Scan(&id)
		switch {
		case errors.Is(err, ErrNoRows):
		case err != nil:
			return err
		default:
			return &store.ConflictError{Message: fmt.Sprintf("app %s is already bound to this API in %s (%s)", row.AppID, row.Environment, id),
				Details: []any{map[string]string{"id": id}}}
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO app_bindings (id, app_id, service_id, api_id, environment, created_at, body)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, row.ID, row.AppID, row.ServiceID, row.APIID, row.Environment, row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	*b = row
	return nil
}

// AppBindings lists the applications bound to an API.
func (s *Store) AppBindings(ctx context.Context, serviceID, apiID string) ([]config.AppBinding, error) {
	out, err := readOne(ctx, s, "app bindings", func(ctx context.Context, tx Tx) ([]config.AppBinding, error) {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return nil, err
		}
		if _, err := getAPI(ctx, tx, serviceID, apiID); err != nil {
			return nil, err
		}
		return queryBodies[config.AppBinding](ctx, tx,
			`SELECT body FROM app_bindings WHERE service_id = ? AND api_id = ? ORDER BY seq`, serviceID, apiID)
	})
	if out == nil {
		out = []config.AppBinding{}
	}
	return out, err
}

// ListAppBindings returns a page of an application's bindings, oldest
// first.
func (s *Store) ListAppBindings(ctx context.Context, appID string, p store.Page) ([]config.AppBinding, int, error) {
	return listPage(ctx, s, listing[config.AppBinding]{op: "list app bindings", from: `FROM app_bindings WHERE app_id = ?`,
		args: []any{appID}, check: func(ctx context.Context, tx Tx) error {
			_, err := getApp(ctx, tx, appID)
			return err
		}}, p)
}

// UnbindApp deletes one binding of an API.
func (s *Store) UnbindApp(ctx context.Context, serviceID, apiID, bindingID string) error {
	return s.write(ctx, "unbind app", func(ctx context.Context, tx Tx) error {
		return deleteOne(ctx, tx, "binding", bindingID,
			`DELETE FROM app_bindings WHERE id = ? AND service_id = ? AND api_id = ?`, bindingID, serviceID, apiID)
	})
}

func getApp(ctx context.Context, tx Tx, id string) (*config.App, error) {
	return getBody[config.App](ctx, tx, `SELECT body FROM apps WHERE id = ?`, "app", id)
}
