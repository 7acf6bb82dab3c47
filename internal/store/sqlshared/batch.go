package sqlshared

import (
	"context"

	"github.com/portico-gw/portico/internal/store"
)

// Batch runs fn with a Store whose every read and write goes to one write
// transaction: the revision is bumped once, and fn's writes commit
// together, or not at all when fn (or the commit) fails.
func (s *Store) Batch(ctx context.Context, fn func(*Store) error) error {
	return s.write(ctx, "batch", func(ctx context.Context, tx Tx) error {
		in := func(ctx context.Context, _ string, f TxFunc) error { return f(ctx, tx) }
		return fn(&Store{write: in, read: in, record: in, d: s.d})
	})
}

// Outer is what a store answers itself rather than through a transaction.
type Outer interface {
	Revision(ctx context.Context) (int64, error)
	Changed() <-chan struct{}
	AdminToken(ctx context.Context) (string, error)
}

// BatchStore implements store.Batcher for a store made of s and outer:
// fn gets the shared logic bound to the batch's transaction, and outer for
// what is not a configuration read or write.
func BatchStore(ctx context.Context, s *Store, outer Outer, fn func(store.Store) error) error {
	return s.Batch(ctx, func(in *Store) error { return fn(batchView{Store: in, outer: outer}) })
}

type batchView struct {
	*Store
	outer Outer
}

func (b batchView) Revision(ctx context.Context) (int64, error)    { return b.outer.Revision(ctx) }
func (b batchView) Changed() <-chan struct{}                       { return b.outer.Changed() }
func (b batchView) AdminToken(ctx context.Context) (string, error) { return b.outer.AdminToken(ctx) }
func (b batchView) Close() error                                   { return nil }
