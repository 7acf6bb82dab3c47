package sqlshared

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Generated secrets: 20 hex characters of id (80 bits, it only names the
// key) and 32 base64url characters of key (192 bits).
func newSecretID() string {
	var b [10]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newSecretKey() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateKey stores a key pair.
func (s *Store) CreateKey(ctx context.Context, k *config.Key) error {
	row := *k
	row.ID = NewID("key-")
	if row.SecretID == "" {
		row.SecretID = newSecretID()
	}
	if row.SecretKey == "" {
		row.SecretKey = newSecretKey()
	}
	err := s.write(ctx, "create key", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := keyFree(ctx, tx, &row); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO keys (id, name, secret_id, created_at, body) VALUES (?, ?, ?, ?, ?)`,
			row.ID, row.Name, row.SecretID, row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	*k = row
	return nil
}

// GetKey returns a key pair.
func (s *Store) GetKey(ctx context.Context, id string) (*config.Key, error) {
	return readOne(ctx, s, "get key", func(ctx context.Context, tx Tx) (*config.Key, error) {
		return getKey(ctx, tx, id)
	})
}

// ListKeys returns a page of key pairs, oldest first.
func (s *Store) ListKeys(ctx context.Context, p store.Page) ([]config.Key, int, error) {
	return listPage(ctx, s, listing[config.Key]{op: "list keys", from: `FROM keys`}, p)
}

// UpdateKey replaces a key pair; an empty secret keeps the stored one.
func (s *Store) UpdateKey(ctx context.Context, k *config.Key) error {
	row := *k
	err := s.write(ctx, "update key", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getKey(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		if row.SecretID == "" {
			row.SecretID = old.SecretID
		}
		if row.SecretKey == "" {
			row.SecretKey = old.SecretKey
		}
		if err := keyFree(ctx, tx, &row); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE keys SET name = ?, secret_id = ?, body = ? WHERE id = ?`,
			row.Name, row.SecretID, body, row.ID)
		return err
	})
	if err != nil {
		return err
	}
	*k = row
	return nil
}

// DeleteKey deletes a key pair that no usage plan holds.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.write(ctx, "delete key", func(ctx context.Context, tx Tx) error {
		if _, err := getKey(ctx, tx, id); err != nil {
			return err
		}
		plans, err := queryStrings(ctx, tx, `SELECT plan_id FROM plan_keys WHERE key_id = ? ORDER BY seq`, id)
		if err != nil {
			return err
		}
		if len(plans) > 0 {
			details := make([]any, len(plans))
			for i, pid := range plans {
				details[i] = map[string]string{"plan_id": pid}
			}
			return &store.ConflictError{
				Message: fmt.Sprintf("key %s is held by %d usage plan(s); remove it from them first", id, len(plans)),
				Details: details,
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM keys WHERE id = ?`, id)
		return err
	})
}

func getKey(ctx context.Context, tx Tx, id string) (*config.Key, error) {
	return getBody[config.Key](ctx, tx, `SELECT body FROM keys WHERE id = ?`, "key", id)
}

// keyFree fails with a ConflictError when another key has k's name or
// secret_id.
func keyFree(ctx context.Context, tx Tx, k *config.Key) error {
	for _, c := range []struct{ col, val string }{{"name", k.Name}, {"secret_id", k.SecretID}} {
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM keys WHERE `+c.col+` = ? AND id <> ?`, c.val, k.ID).Scan(&id)
		switch {
		case errors.Is(err, ErrNoRows):
		case err != nil:
			return err
		default:
			return &store.ConflictError{Message: fmt.Sprintf("another key (%s) has this %s", id, c.col), Field: c.col,
				Details: []any{map[string]string{"id": id}}}
		}
	}
	return nil
}
