package sqlshared

import (
	"context"
	"fmt"
	"sort"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateChannel stores a new channel and sets its id and timestamps.
// Warnings are not stored: they depend on the networks of the node that
// reads the channel.
func (s *Store) CreateChannel(ctx context.Context, c *config.Channel) error {
	row := *c
	row.ID = NewID("ch-")
	row.Warnings = nil
	err := s.write(ctx, "create channel", func(ctx context.Context, tx Tx) error {
		// Stamped inside the transaction, so that creation times follow
		// commit order.
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := channelNameFree(ctx, tx, row.Name, ""); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO channels (id, name, created_at, body) VALUES (?, ?, ?, ?)`,
			row.ID, nullIfEmpty(row.Name), row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	c.ID, c.CreatedAt, c.UpdatedAt = row.ID, row.CreatedAt, row.UpdatedAt
	return nil
}

// GetChannel returns the channel with the given id.
func (s *Store) GetChannel(ctx context.Context, id string) (*config.Channel, error) {
	return readOne(ctx, s, "get channel", func(ctx context.Context, tx Tx) (*config.Channel, error) {
		return getChannel(ctx, tx, id)
	})
}

// ListChannels returns a page of channels, oldest first.
func (s *Store) ListChannels(ctx context.Context, p store.Page) ([]config.Channel, int, error) {
	return listPage(ctx, s, listing[config.Channel]{op: "list channels", from: `FROM channels`}, p)
}

// UpdateChannel replaces a channel; created_at is kept.
func (s *Store) UpdateChannel(ctx context.Context, c *config.Channel) error {
	row := *c
	row.Warnings = nil
	err := s.write(ctx, "update channel", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getChannel(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		if err := channelNameFree(ctx, tx, row.Name, row.ID); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE channels SET name = ?, body = ? WHERE id = ?`,
			nullIfEmpty(row.Name), body, row.ID)
		return err
	})
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = row.CreatedAt, row.UpdatedAt
	return nil
}

// DeleteChannel deletes a channel that no draft or served API uses.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	return s.write(ctx, "delete channel", func(ctx context.Context, tx Tx) error {
		if _, err := getChannel(ctx, tx, id); err != nil {
			return err
		}
		bs, err := s.channelBindings(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			return &store.ConflictError{
				Message: fmt.Sprintf("channel %s is used by %d API binding(s); change or delete those APIs (and unpublish the versions that use it) first", id, len(bs)),
				Details: bindingDetails(bs),
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM channels WHERE id = ?`, id)
		return err
	})
}

// ChannelBindings lists the APIs that use a channel: one row per API in the
// draft and per environment whose served version uses it.
func (s *Store) ChannelBindings(ctx context.Context, id string) ([]config.ChannelBinding, error) {
	return readOne(ctx, s, "channel bindings", func(ctx context.Context, tx Tx) ([]config.ChannelBinding, error) {
		if _, err := getChannel(ctx, tx, id); err != nil {
			return nil, err
		}
		return s.channelBindings(ctx, tx, id)
	})
}

func (s *Store) channelBindings(ctx context.Context, tx Tx, id string) ([]config.ChannelBinding, error) {
	bs := []config.ChannelBinding{}
	scan := func(query string) error {
		rows, err := tx.Query(ctx, query, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b config.ChannelBinding
			if err := rows.Scan(&b.ServiceID, &b.ServiceName, &b.APIID, &b.APIName, &b.Environment); err != nil {
				return err
			}
			bs = append(bs, b)
		}
		return rows.Err()
	}
	if err := scan(`
		SELECT a.service_id, s.name, a.id, a.name, 'draft'
		FROM apis a JOIN services s ON s.id = a.service_id
		WHERE a.channel_id = ?`); err != nil {
		return nil, err
	}
	// Served versions keep their APIs as JSON; the dialect's query looks
	// inside them without loading every release into Go.
	if err := scan(s.d.ServedChannelBindings); err != nil {
		return nil, err
	}
	sort.Slice(bs, func(i, j int) bool {
		a, b := bs[i], bs[j]
		if a.ServiceName != b.ServiceName {
			return a.ServiceName < b.ServiceName
		}
		if a.APIName != b.APIName {
			return a.APIName < b.APIName
		}
		if a.APIID != b.APIID {
			return a.APIID < b.APIID
		}
		return envOrder(a.Environment) < envOrder(b.Environment)
	})
	return bs, nil
}

// envOrder sorts the draft first, then the environments in display order.
func envOrder(env string) int {
	for i, e := range config.Environments {
		if e == env {
			return i + 1
		}
	}
	return 0
}

func getChannel(ctx context.Context, tx Tx, id string) (*config.Channel, error) {
	return getBody[config.Channel](ctx, tx, `SELECT body FROM channels WHERE id = ?`, "channel", id)
}

// channelNameFree fails with a ConflictError when another channel than self
// has the name. Unnamed channels never conflict.
func channelNameFree(ctx context.Context, tx Tx, name, self string) error {
	if name == "" {
		return nil
	}
	return nameFree(ctx, tx, "channels", "a channel", name, self, true)
}
