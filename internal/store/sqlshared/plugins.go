package sqlshared

import (
	"context"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreatePlugin stores a new plugin and sets its id and timestamps.
func (s *Store) CreatePlugin(ctx context.Context, p *config.Plugin) error {
	row := *p
	row.ID = NewID("plg-")
	row.Bindings = nil
	err := s.write(ctx, "create plugin", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := nameFree(ctx, tx, "plugins", "a plugin", row.Name, "", false); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO plugins (id, name, type, created_at, body) VALUES (?, ?, ?, ?, ?)`,
			row.ID, row.Name, row.Type, row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	p.ID, p.CreatedAt, p.UpdatedAt, p.Bindings = row.ID, row.CreatedAt, row.UpdatedAt, []config.PluginBinding{}
	return nil
}

// GetPlugin returns a plugin with its bindings.
func (s *Store) GetPlugin(ctx context.Context, id string) (*config.Plugin, error) {
	return readOne(ctx, s, "get plugin", func(ctx context.Context, tx Tx) (*config.Plugin, error) {
		p, err := getPlugin(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		p.Bindings, err = pluginBindings(ctx, tx, `WHERE plugin_id = ?`, id)
		return p, err
	})
}

// ListPlugins returns a page of plugins, oldest first, with their bindings.
func (s *Store) ListPlugins(ctx context.Context, pg store.Page) ([]config.Plugin, int, error) {
	return listPage(ctx, s, listing[config.Plugin]{
		op:   "list plugins",
		from: `FROM plugins`,
		fill: func(ctx context.Context, tx Tx, items []config.Plugin) error {
			for i := range items {
				var err error
				if items[i].Bindings, err = pluginBindings(ctx, tx, `WHERE plugin_id = ?`, items[i].ID); err != nil {
					return err
				}
			}
			return nil
		},
	}, pg)
}

// UpdatePlugin replaces a plugin's name and config.
func (s *Store) UpdatePlugin(ctx context.Context, p *config.Plugin) error {
	row := *p
	row.Bindings = nil
	var bindings []config.PluginBinding
	err := s.write(ctx, "update plugin", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getPlugin(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		if old.Type != row.Type {
			return &store.InvalidError{Field: "type", Message: fmt.Sprintf("type cannot change (it is %q); create a new plugin instead", old.Type)}
		}
		row.CreatedAt = old.CreatedAt
		if err := nameFree(ctx, tx, "plugins", "a plugin", row.Name, row.ID, false); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE plugins SET name = ?, body = ? WHERE id = ?`, row.Name, body, row.ID); err != nil {
			return err
		}
		bindings, err = pluginBindings(ctx, tx, `WHERE plugin_id = ?`, row.ID)
		return err
	})
	if err != nil {
		return err
	}
	p.CreatedAt, p.UpdatedAt, p.Bindings = row.CreatedAt, row.UpdatedAt, bindings
	return nil
}

// DeletePlugin deletes a plugin that has no bindings.
func (s *Store) DeletePlugin(ctx context.Context, id string) error {
	return s.write(ctx, "delete plugin", func(ctx context.Context, tx Tx) error {
		if _, err := getPlugin(ctx, tx, id); err != nil {
			return err
		}
		bs, err := pluginBindings(ctx, tx, `WHERE plugin_id = ?`, id)
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			return &store.ConflictError{
				Message: fmt.Sprintf("plugin %s has %d binding(s); delete them first", id, len(bs)),
				Details: bindingDetails(bs),
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM plugins WHERE id = ?`, id)
		return err
	})
}

// BindPlugin stores a binding, one row per API it names (or one row with
// an empty api_id for the whole service).
func (s *Store) BindPlugin(ctx context.Context, b *config.PluginBinding) error {
	row := *b
	row.ID = NewID("pb-")
	err := s.write(ctx, "bind plugin", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		p, err := getPlugin(ctx, tx, row.PluginID)
		if err != nil {
			return err
		}
		if err := checkTargets(ctx, tx, row.ServiceID, row.APIIDs); err != nil {
			return err
		}
		found, err := storeBinding(ctx, tx, pluginBindingsTable, p.Type, &bindingRow{
			ID: row.ID, Owner: row.PluginID, ServiceID: row.ServiceID, Environment: row.Environment,
			APIIDs: row.APIIDs, CreatedAt: row.CreatedAt,
		})
		if err != nil || len(found) == 0 {
			return err
		}
		conflicts := make([]any, len(found))
		for i, c := range found {
			conflicts[i] = config.PluginBindingConflict{PluginID: c.Owner, BindingID: c.BindingID, APIID: c.APIID}
		}
		what := "the service"
		if len(row.APIIDs) > 0 {
			what = "these APIs"
		}
		return &store.ConflictError{
			Message: fmt.Sprintf("a %s plugin is already bound to %s in %s; unbind it first", p.Type, what, row.Environment),
			Details: conflicts,
		}
	})
	if err != nil {
		return err
	}
	b.ID, b.CreatedAt = row.ID, row.CreatedAt
	return nil
}

// UnbindPlugin deletes one binding of a plugin.
func (s *Store) UnbindPlugin(ctx context.Context, pluginID, bindingID string) error {
	return s.write(ctx, "unbind plugin", func(ctx context.Context, tx Tx) error {
		if _, err := getPlugin(ctx, tx, pluginID); err != nil {
			return err
		}
		return deleteBinding(ctx, tx, pluginBindingsTable, pluginID, bindingID)
	})
}

func getPlugin(ctx context.Context, tx Tx, id string) (*config.Plugin, error) {
	return getBody[config.Plugin](ctx, tx, `SELECT body FROM plugins WHERE id = ?`, "plugin", id)
}

// pluginBindings reads the bindings of plugins that match where.
func pluginBindings(ctx context.Context, tx Tx, where string, args ...any) ([]config.PluginBinding, error) {
	rows, err := readBindings(ctx, tx, pluginBindingsTable, where, args...)
	if err != nil {
		return nil, err
	}
	out := make([]config.PluginBinding, len(rows))
	for i, r := range rows {
		out[i] = config.PluginBinding{ID: r.ID, PluginID: r.Owner, ServiceID: r.ServiceID, Environment: r.Environment,
			APIIDs: r.APIIDs, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// loadPlugins reads every plugin with its bindings, for Load.
func loadPlugins(ctx context.Context, tx Tx) ([]config.Plugin, error) {
	ps, err := queryBodies[config.Plugin](ctx, tx, `SELECT body FROM plugins ORDER BY created_at, seq`)
	if err != nil {
		return nil, err
	}
	all, err := pluginBindings(ctx, tx, ``)
	if err != nil {
		return nil, err
	}
	byPlugin := map[string][]config.PluginBinding{}
	for _, b := range all {
		byPlugin[b.PluginID] = append(byPlugin[b.PluginID], b)
	}
	for i := range ps {
		ps[i].Bindings = byPlugin[ps[i].ID]
	}
	return ps, nil
}
