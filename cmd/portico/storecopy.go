package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store/postgres"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/store/sqlshared"
)

// copyTimeout bounds a whole `portico store copy`.
const copyTimeout = 10 * time.Minute

// copyStore is what a copy needs of either store.
type copyStore interface {
	Load(ctx context.Context) (*config.State, error)
	Dump(ctx context.Context) (*sqlshared.Dump, error)
	Restore(ctx context.Context, d *sqlshared.Dump, replace bool) (int64, error)
	Close() error
}

// storeCommand runs `portico store <subcommand>`.
func storeCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return usageError("usage: portico store copy --from <data-dir or postgres:// DSN> --to <data-dir or postgres:// DSN> [--force]")
	}
	return storeCopy(args[1:], stdout, stderr)
}

// usageError is an error in how the command was called (exit code 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// storeCopy copies every row of every configuration table from one store
// to another: ids, versions, timestamps, history, the revision counter and
// the admin token. The source is read in one snapshot; the target is
// written in one transaction, so it holds the whole copy or nothing.
func storeCopy(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("store copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the store to copy: a data directory (its embedded store) or a postgres:// DSN")
	to := fs.String("to", "", "the store to copy to: a data directory (created when missing) or a postgres:// DSN whose schema exists")
	force := fs.Bool("force", false, "replace what the target holds; without it a target that holds anything is refused")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err.Error())
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("store copy takes no arguments, got %q", fs.Args()))
	case *from == "" || *to == "":
		return usageError("store copy needs --from and --to")
	case sameEnd(*from, *to):
		return usageError("--from and --to name the same store")
	}
	ctx, cancel := context.WithTimeout(context.Background(), copyTimeout)
	defer cancel()

	src, err := openCopyEnd(ctx, *from, true)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := openCopyEnd(ctx, *to, false)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()

	d, err := src.Dump(ctx)
	if err != nil {
		return fmt.Errorf("reading %s: %w", describeEnd(*from), err)
	}
	rev, err := dst.Restore(ctx, d, *force)
	if errors.Is(err, sqlshared.ErrNotEmpty) {
		return fmt.Errorf("%s holds a configuration already; nothing was copied (--force replaces it)", describeEnd(*to))
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w (nothing was copied)", describeEnd(*to), err)
	}
	if err := verifyCopy(ctx, src, dst, d.Revision, rev); err != nil {
		return err
	}

	var counts []string
	for _, t := range sqlshared.Tables {
		if n := len(d.Rows[t.Name]); n > 0 && t.Name != "revision" {
			counts = append(counts, fmt.Sprintf("%s %d", t.Name, n))
		}
	}
	fmt.Fprintf(stdout, "copied %d rows at revision %d from %s to %s\n  %s\n",
		d.Count(), d.Revision, describeEnd(*from), describeEnd(*to), strings.Join(counts, ", "))
	if rev != d.Revision {
		fmt.Fprintf(stdout, "the target's revision is %d: it replaced a configuration at revision %d or later, and its nodes must see a change\n", rev, rev-1)
	}
	return nil
}

// verifyCopy reads both stores back: the data plane's view of the copy
// must be the source's. A source written to during the copy is not
// compared (the copy is of the snapshot read).
func verifyCopy(ctx context.Context, src, dst copyStore, dumped, restored int64) error {
	a, err := src.Load(ctx)
	if err != nil {
		return fmt.Errorf("reading the source back: %w", err)
	}
	if a.Revision != dumped {
		return nil
	}
	b, err := dst.Load(ctx)
	if err != nil {
		return fmt.Errorf("reading the copy back: %w", err)
	}
	if b.Revision != restored {
		return fmt.Errorf("the copy is at revision %d, want %d: was the target written to during the copy?", b.Revision, restored)
	}
	b.Revision = a.Revision
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return errors.New("the copy does not read back as the source: report this as a bug")
	}
	return nil
}

// openCopyEnd opens one end of a copy. A source data directory must hold
// an embedded store; a target one is created.
func openCopyEnd(ctx context.Context, where string, source bool) (copyStore, error) {
	if isPostgresDSN(where) {
		st, err := postgres.Open(ctx, where)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", redactDSN(where), err)
		}
		return st, nil
	}
	if strings.Contains(where, "://") {
		return nil, fmt.Errorf("%q is neither a data directory nor a postgres:// DSN", where)
	}
	if source {
		if _, err := os.Stat(filepath.Join(where, sqlite.FileName)); err != nil {
			return nil, fmt.Errorf("%s holds no embedded store (%s): %w", where, sqlite.FileName, err)
		}
	}
	st, err := sqlite.Open(ctx, where)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return st, nil
}

// describeEnd names a store in messages, without a password.
func describeEnd(where string) string {
	if isPostgresDSN(where) {
		return redactDSN(where)
	}
	return where
}

// sameEnd reports whether two ends name the same store as written.
func sameEnd(a, b string) bool {
	if isPostgresDSN(a) || isPostgresDSN(b) {
		return a == b
	}
	pa, err1 := filepath.Abs(a)
	pb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && pa == pb
}
