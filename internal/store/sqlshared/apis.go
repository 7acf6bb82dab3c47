package sqlshared

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateAPI stores a new draft API of a.ServiceID and sets its id and
// timestamps.
func (s *Store) CreateAPI(ctx context.Context, a *config.API) error {
	row := *a
	row.ID = NewID("api-")
	err := s.write(ctx, "create api", func(ctx context.Context, tx Tx) error {
		// Stamped inside the transaction, so that creation times follow
		// commit order.
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := serviceExists(ctx, tx, row.ServiceID); err != nil {
			return err
		}
		return putAPI(ctx, tx, &row, true)
	})
	if err != nil {
		return err
	}
	a.ID, a.CreatedAt, a.UpdatedAt = row.ID, row.CreatedAt, row.UpdatedAt
	return nil
}

// GetAPI returns a draft API of the service.
func (s *Store) GetAPI(ctx context.Context, serviceID, id string) (*config.API, error) {
	return readOne(ctx, s, "get api", func(ctx context.Context, tx Tx) (*config.API, error) {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return nil, err
		}
		return getAPI(ctx, tx, serviceID, id)
	})
}

// ListAPIs returns a page of the service's draft APIs, oldest first.
func (s *Store) ListAPIs(ctx context.Context, serviceID string, p store.Page) ([]config.API, int, error) {
	return listPage(ctx, s, listing[config.API]{
		op:    "list apis",
		from:  `FROM apis WHERE service_id = ?`,
		args:  []any{serviceID},
		check: func(ctx context.Context, tx Tx) error { return serviceExists(ctx, tx, serviceID) },
	}, p)
}

// UpdateAPI replaces a draft API; created_at is kept. An API cannot move to
// another service: a.ServiceID must be the one it was created in.
func (s *Store) UpdateAPI(ctx context.Context, a *config.API) error {
	row := *a
	err := s.write(ctx, "update api", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		if err := serviceExists(ctx, tx, row.ServiceID); err != nil {
			return err
		}
		old, err := getAPI(ctx, tx, row.ServiceID, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		return putAPI(ctx, tx, &row, false)
	})
	if err != nil {
		return err
	}
	a.CreatedAt, a.UpdatedAt = row.CreatedAt, row.UpdatedAt
	return nil
}

// DeleteAPI deletes a draft API. Published versions keep their copy.
func (s *Store) DeleteAPI(ctx context.Context, serviceID, id string) error {
	return s.write(ctx, "delete api", func(ctx context.Context, tx Tx) error {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return err
		}
		if _, err := getAPI(ctx, tx, serviceID, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM apis WHERE id = ?`, id)
		return err
	})
}

// putAPI checks a draft API against the channels and its service's other
// APIs, then inserts or updates it.
func putAPI(ctx context.Context, tx Tx, a *config.API, insert bool) error {
	var channelID *string
	if a.Backend.Type == config.BackendChannel {
		if err := channelExists(ctx, tx, a.Backend.ChannelID); err != nil {
			return err
		}
		channelID = &a.Backend.ChannelID
	}
	others, err := queryBodies[config.API](ctx, tx,
		`SELECT body FROM apis WHERE service_id = ? AND id <> ? ORDER BY created_at, seq`, a.ServiceID, a.ID)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.Name == a.Name {
			return &store.ConflictError{
				Message: fmt.Sprintf("the service already has an API named %q (%s)", a.Name, o.ID),
				Field:   "name",
				Details: []any{map[string]string{"id": o.ID, "name": o.Name}},
			}
		}
	}
	for _, o := range others {
		if config.RoutesCollide(a, &o) {
			return &store.ConflictError{
				Message: fmt.Sprintf("API %q (%s) of the service already serves %s %s",
					o.Name, o.ID, o.Frontend.Method, o.Frontend.Path),
				Field: "frontend.path",
				Details: []any{map[string]string{
					"id": o.ID, "name": o.Name, "method": o.Frontend.Method, "path": o.Frontend.Path,
				}},
			}
		}
	}
	body, err := marshal(a)
	if err != nil {
		return err
	}
	if insert {
		_, err = tx.Exec(ctx, `
			INSERT INTO apis (id, service_id, name, channel_id, created_at, body)
			VALUES (?, ?, ?, ?, ?, ?)`,
			a.ID, a.ServiceID, a.Name, channelID, a.CreatedAt.UnixMilli(), body)
	} else {
		_, err = tx.Exec(ctx, `UPDATE apis SET name = ?, channel_id = ?, body = ? WHERE id = ?`,
			a.Name, channelID, body, a.ID)
	}
	return err
}

// getAPI returns the API when it exists and belongs to serviceID: an API
// reached through another service's URL does not exist there.
func getAPI(ctx context.Context, tx Tx, serviceID, id string) (*config.API, error) {
	var body string
	err := tx.QueryRow(ctx, `SELECT body FROM apis WHERE id = ? AND service_id = ?`, id, serviceID).Scan(&body)
	if errors.Is(err, ErrNoRows) {
		return nil, &store.NotFoundError{Kind: "api", ID: id}
	}
	if err != nil {
		return nil, err
	}
	return unmarshal[config.API](body)
}

// channelExists reports a missing channel as an InvalidError: the id comes
// from a request body, so it is a 400, not a 404.
func channelExists(ctx context.Context, tx Tx, id string) error {
	ok, err := exists(ctx, tx, `SELECT 1 FROM channels WHERE id = ?`, id)
	if err == nil && !ok {
		return &store.InvalidError{
			Field:   "backend.channel_id",
			Message: fmt.Sprintf("backend.channel_id: channel %q does not exist", id),
		}
	}
	return err
}
