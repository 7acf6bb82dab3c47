package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// testBatch: a batch commits its writes with one revision, sees its own
// writes, and changes nothing when it fails.
func testBatch(t *testing.T, s store.Store) {
	b, ok := s.(store.Batcher)
	if !ok {
		t.Skip("the store has no batches")
	}
	ctx := context.Background()
	before := revision(t, s)
	err := b.Batch(ctx, func(in store.Store) error {
		ch := newChannel(t, "batched")
		if err := in.CreateChannel(ctx, ch); err != nil {
			return err
		}
		svc := &config.Service{Name: "batched"}
		if err := config.ValidateService(svc); err != nil {
			return err
		}
		if err := in.CreateService(ctx, svc); err != nil {
			return err
		}
		// The batch reads its own writes.
		if _, err := in.GetChannel(ctx, ch.ID); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := revision(t, s); got != before+1 {
		t.Fatalf("a batch of two writes moved the revision from %d to %d, want one step", before, got)
	}
	if _, total, _ := s.ListChannels(ctx, store.Page{Limit: 10}); total != 1 {
		t.Fatalf("%d channels after the batch, want 1", total)
	}

	// A failing batch changes nothing.
	boom := errors.New("boom")
	before = revision(t, s)
	err = b.Batch(ctx, func(in store.Store) error {
		if err := in.CreateChannel(ctx, newChannel(t, "rolled_back")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("a failing batch answered %v, want its own error", err)
	}
	if got := revision(t, s); got != before {
		t.Fatalf("a failed batch moved the revision from %d to %d", before, got)
	}
	if _, total, _ := s.ListChannels(ctx, store.Page{Limit: 10}); total != 1 {
		t.Fatalf("%d channels after a failed batch, want 1", total)
	}
	// A store error inside keeps its type.
	err = b.Batch(ctx, func(in store.Store) error { return in.DeleteChannel(ctx, "ch-none") })
	if !store.IsNotFound(err) {
		t.Fatalf("a not-found inside a batch answered %v", err)
	}
}
