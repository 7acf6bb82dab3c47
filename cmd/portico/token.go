package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// newToken is a random admin token: 24 bytes, hex.
func newToken() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// tokenCommand runs `portico admin-token rotate`: a new admin token in the
// store and in <data-dir>/admin.token. The embedded store belongs to one
// process, so its gateway must be stopped first (the data directory lock
// says so); the nodes of a PostgreSQL cluster read the token when they
// start, so they are restarted after a rotation.
func tokenCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError("usage: portico admin-token rotate [--data-dir DIR] [--store postgres://…]")
	}
	fs := flag.NewFlagSet("admin-token rotate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", envOr("PORTICO_DATA_DIR", "./portico-data"), "the gateway's data directory")
	dsn := fs.String("store", os.Getenv("PORTICO_STORE"), "the configuration store: empty for the embedded one in --data-dir, or postgres://…")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: portico admin-token rotate [--data-dir DIR] [--store postgres://…]")
			return err
		}
		return usageError(flagError(fs, err).Error())
	}
	unlock, err := lockDataDir(*dataDir)
	if err != nil {
		return fmt.Errorf("%w (stop it before rotating the token)", err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := openStore(ctx, &serveConfig{DataDir: *dataDir, Store: *dsn})
	if err != nil {
		return err
	}
	defer st.Close()
	tok, err := newToken()
	if err != nil {
		return err
	}
	if err := st.SetAdminToken(ctx, tok); err != nil {
		return fmt.Errorf("storing the new token: %w", err)
	}
	path := filepath.Join(*dataDir, "admin.token")
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("the new token is stored but %s could not be written: %w", path, err)
	}
	fmt.Fprintf(stdout, "a new admin token is in %s; the old one no longer opens the admin API once the gateway (every node of a cluster) is started again\n", path)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
