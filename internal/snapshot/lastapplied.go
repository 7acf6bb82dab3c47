package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// LastAppliedFile is the file, in the data directory, that keeps the last
// configuration a node applied: what it serves when it starts while the
// store is unreachable. It holds secrets (key pair secrets, application
// secrets, certificate keys), so it is written with mode 0600.
const LastAppliedFile = "last-applied.json"

// lastAppliedFormat is the version of the file's layout.
const lastAppliedFormat = 1

// lastApplied is the file's content. State is the store's own view, so a
// field added to config.State is kept without a change here.
type lastApplied struct {
	Format    int           `json:"format"`
	Revision  int64         `json:"revision"`
	AppliedAt time.Time     `json:"applied_at"`
	State     *config.State `json:"state"`
}

// ReadLastApplied reads the configuration that WriteLastApplied saved at
// path, and when it was applied. The error says why the file cannot be
// used; errors.Is(err, fs.ErrNotExist) when there is none.
func ReadLastApplied(path string) (*config.State, time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var doc lastApplied
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: not a saved configuration: %w", path, err)
	}
	switch {
	case doc.Format != lastAppliedFormat:
		return nil, time.Time{}, fmt.Errorf("%s: format %d, this portico reads %d", path, doc.Format, lastAppliedFormat)
	case doc.State == nil:
		return nil, time.Time{}, fmt.Errorf("%s: no configuration in it", path)
	case doc.State.Revision != doc.Revision:
		return nil, time.Time{}, fmt.Errorf("%s: revision %d, but its configuration says %d", path, doc.Revision, doc.State.Revision)
	}
	return doc.State, doc.AppliedAt, nil
}

// WriteLastApplied saves st at path so that a crash at any moment leaves
// either the previous file or the new one, whole: it writes a temporary
// file beside it (mode 0600), syncs it, renames it over path, and syncs the
// directory so that the rename itself is durable.
func WriteLastApplied(path string, st *config.State, at time.Time) error {
	b, err := json.Marshal(lastApplied{Format: lastAppliedFormat, Revision: st.Revision, AppliedAt: at.UTC(), State: st})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; say so, whatever it does.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// saver writes the newest applied configuration to the file, in its own
// goroutine: never on the path of a request or of a swap. Offers that come
// while it writes are coalesced: only the newest is written next.
type saver struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	pending *config.State
	at      time.Time
	wake    chan struct{} // room for one
	saved   int64         // revision of the last file written, for tests
}

func newSaver(path string, log *slog.Logger) *saver {
	return &saver{path: path, log: log, wake: make(chan struct{}, 1)}
}

// offer hands over the configuration just applied; it never blocks.
func (s *saver) offer(st *config.State) {
	s.mu.Lock()
	s.pending, s.at = st, time.Now()
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run writes what is offered until ctx ends, then writes what is still
// pending, so that a clean stop keeps the newest configuration.
func (s *saver) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			s.flush()
			return
		case <-s.wake:
			s.flush()
		}
	}
}

func (s *saver) flush() {
	s.mu.Lock()
	st, at := s.pending, s.at
	s.pending = nil
	s.mu.Unlock()
	if st == nil {
		return
	}
	if err := WriteLastApplied(s.path, st, at); err != nil {
		// The node keeps serving; only a start while the store is
		// unreachable would miss this revision.
		s.log.Error("could not save the applied configuration", "path", s.path, "revision", st.Revision, "error", err)
		return
	}
	s.mu.Lock()
	s.saved = st.Revision
	s.mu.Unlock()
}

// savedRevision is the revision of the last file written.
func (s *saver) savedRevision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saved
}
