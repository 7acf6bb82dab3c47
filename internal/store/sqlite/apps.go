package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateApp stores an application with a generated key and secret.
func (s *Store) CreateApp(ctx context.Context, a *config.App) error {
	row := *a
	row.ID = newID("app-")
	row.AppKey = newSecretID()
	row.AppSecret = newSecretKey()
	err := s.write(ctx, "create app", func(tx *sql.Tx) error {
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := nameFree(ctx, tx, "apps", "an app", row.Name, ""); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO apps (id, name, app_key, created_at, body) VALUES (?, ?, ?, ?, ?)`,
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
	var a *config.App
	err := s.read(ctx, "get app", func(tx *sql.Tx) error {
		var err error
		a, err = getApp(ctx, tx, id)
		return err
	})
	return a, err
}

// ListApps returns a page of applications, oldest first.
func (s *Store) ListApps(ctx context.Context, p store.Page) ([]config.App, int, error) {
	return listPage[config.App](ctx, s, "list apps", nil, `FROM apps`, p)
}

// UpdateApp replaces name and description.
func (s *Store) UpdateApp(ctx context.Context, a *config.App) error {
	row := *a
	err := s.write(ctx, "update app", func(tx *sql.Tx) error {
		row.UpdatedAt = now()
		old, err := getApp(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt, row.AppKey, row.AppSecret = old.CreatedAt, old.AppKey, old.AppSecret
		if err := nameFree(ctx, tx, "apps", "an app", row.Name, row.ID); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE apps SET name = ?, body = ? WHERE id = ?`, row.Name, body, row.ID)
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
	return s.write(ctx, "delete app", func(tx *sql.Tx) error {
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
		_, err = tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, id)
		return err
	})
}

// BindApp lets an application call an API in an environment.
func (s *Store) BindApp(ctx context.Context, b *config.AppBinding) error {
	row := *b
	row.ID = newID("ab-")
	err := s.write(ctx, "bind app", func(tx *sql.Tx) error {
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
		err := tx.QueryRowContext(ctx, `SELECT id FROM app_bindings WHERE app_id = ? AND api_id = ? AND environment = ?`,
			row.AppID, row.APIID, row.Environment).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
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
		_, err = tx.ExecContext(ctx, `INSERT INTO app_bindings (id, app_id, service_id, api_id, environment, created_at, body)
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
	var out []config.AppBinding
	err := s.read(ctx, "app bindings", func(tx *sql.Tx) error {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return err
		}
		if _, err := getAPI(ctx, tx, serviceID, apiID); err != nil {
			return err
		}
		var err error
		out, err = queryBodies[config.AppBinding](ctx, tx,
			`SELECT body FROM app_bindings WHERE service_id = ? AND api_id = ? ORDER BY seq`, serviceID, apiID)
		return err
	})
	if out == nil {
		out = []config.AppBinding{}
	}
	return out, err
}

// UnbindApp deletes one binding of an API.
func (s *Store) UnbindApp(ctx context.Context, serviceID, apiID, bindingID string) error {
	return s.write(ctx, "unbind app", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM app_bindings WHERE id = ? AND service_id = ? AND api_id = ?`, bindingID, serviceID, apiID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &store.NotFoundError{Kind: "binding", ID: bindingID}
		}
		return nil
	})
}

func getApp(ctx context.Context, tx *sql.Tx, id string) (*config.App, error) {
	return getBody[config.App](ctx, tx, `SELECT body FROM apps WHERE id = ?`, "app", id)
}
