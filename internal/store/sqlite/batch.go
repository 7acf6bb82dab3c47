package sqlite

import (
	"context"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlshared"
)

// Batch runs fn's reads and writes in one transaction (store.Batcher).
func (s *Store) Batch(ctx context.Context, fn func(store.Store) error) error {
	return s.Store.Batch(ctx, func(in *sqlshared.Store) error {
		return fn(batchView{Store: in, outer: s})
	})
}

// batchView is the Store handed to a batch: the shared logic bound to the
// batch's transaction, and the store itself for what is not a
// configuration read or write.
type batchView struct {
	*sqlshared.Store
	outer *Store
}

func (b batchView) Revision(ctx context.Context) (int64, error) { return b.outer.Revision(ctx) }
func (b batchView) Changed() <-chan struct{}                    { return b.outer.Changed() }
func (b batchView) AdminToken(ctx context.Context) (string, error) {
	return b.outer.AdminToken(ctx)
}
func (b batchView) Close() error { return nil }

var _ store.Batcher = (*Store)(nil)
