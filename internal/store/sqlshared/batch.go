package sqlshared

import "context"

// Batch runs fn with a Store whose every read and write goes to one write
// transaction: the revision is bumped once, and fn's writes commit
// together, or not at all when fn (or the commit) fails.
func (s *Store) Batch(ctx context.Context, fn func(*Store) error) error {
	return s.write(ctx, "batch", func(ctx context.Context, tx Tx) error {
		in := func(ctx context.Context, _ string, f TxFunc) error { return f(ctx, tx) }
		return fn(&Store{write: in, read: in, record: in, d: s.d})
	})
}
