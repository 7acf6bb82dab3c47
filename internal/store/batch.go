package store

import "context"

// Batcher is implemented by stores that can run several writes as one:
// fn gets a Store whose reads and writes all happen in one transaction,
// which commits with one revision when fn returns nil, and changes nothing
// when it returns an error. Declarative configuration applies a whole
// document this way. Inside fn, Revision still reports the committed
// revision, and Close does nothing.
type Batcher interface {
	Batch(ctx context.Context, fn func(s Store) error) error
}
