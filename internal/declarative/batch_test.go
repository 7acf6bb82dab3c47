package declarative

import (
	"context"
	"errors"
	"testing"

	"github.com/portico-gw/portico/internal/store"
)

// batcher is store.Batcher, declared here so that this test skips rather
// than breaks while the batch API settles.
type batcher interface {
	Batch(ctx context.Context, fn func(store.Store) error) error
}

var errRollBack = errors.New("roll back")

// TestBatch: plan and apply in one store transaction, as the admin
// endpoint does; a refused change rolls everything back.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	b, ok := s.(batcher)
	if !ok {
		t.Skip("the store has no Batch")
	}
	doc := parseT(t, exampleDoc(t), exampleEnv)
	rev := revision(t, s)
	var p *Plan
	must(t, b.Batch(ctx, func(tx store.Store) error {
		var err error
		if p, err = NewPlan(ctx, tx, doc, Options{}); err != nil {
			return err
		}
		return p.Apply(ctx, tx)
	}))
	if p.Revision != rev || p.Empty() {
		t.Errorf("plan revision %d (want %d), %d changes", p.Revision, rev, len(p.Changes))
	}
	if got, want := marshalT(t, export(t, s), YAML), marshalT(t, doc, YAML); got != want {
		t.Errorf("after the batch:\n%s\nwant:\n%s", got, want)
	}
	if got := revision(t, s); got != rev+1 {
		t.Errorf("revision %d after one batch from %d", got, rev)
	}

	// Nothing to do: the batch is rolled back and the revision stays.
	rev = revision(t, s)
	err := b.Batch(ctx, func(tx store.Store) error {
		p, err := NewPlan(ctx, tx, doc, Options{Prune: true})
		if err != nil {
			return err
		}
		if p.Revision != rev {
			t.Errorf("plan revision inside the batch %d, want %d", p.Revision, rev)
		}
		if !p.Empty() {
			return p.Apply(ctx, tx)
		}
		return errRollBack
	})
	if !errors.Is(err, errRollBack) || revision(t, s) != rev {
		t.Errorf("err %v, revision %d, want %d", err, revision(t, s), rev)
	}

	// A change the store refuses halfway rolls the whole batch back: the
	// new service's publish collides with shop's served route.
	before := marshalT(t, export(t, s), YAML)
	err = b.Batch(ctx, func(tx store.Store) error {
		p, err := NewPlan(ctx, tx, withService(t, doc), Options{})
		if err != nil {
			return err
		}
		return p.Apply(ctx, tx)
	})
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Change.Text != "publish service other to release" {
		t.Fatalf("err = %v, want the publish refused", err)
	}
	if after := marshalT(t, export(t, s), YAML); after != before || revision(t, s) != rev {
		t.Errorf("a failed batch changed the gateway:\n%s", after)
	}
}

// withService is doc with a service whose route collides with shop's.
func withService(t *testing.T, doc *Document) *Document {
	t.Helper()
	d, err := copyDocument(doc)
	must(t, err)
	other := parseT(t, `services:
  - name: other
    environments: [release]
    apis: [{name: clash, frontend: {path: /orders, method: GET}, backend: {type: mock, mock: {}}}]
`, nil)
	d.Services = append(d.Services, other.Services...)
	return d
}
