package postgres

import (
	"context"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlshared"
)

// Batch runs fn's reads and writes in one transaction (store.Batcher).
func (s *Store) Batch(ctx context.Context, fn func(store.Store) error) error {
	return sqlshared.BatchStore(ctx, s.Store, s, fn)
}

var _ store.Batcher = (*Store)(nil)
