package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

func TestNodeIDKept(t *testing.T) {
	dir := t.TempDir()
	id, err := nodeID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^node-[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("id %q", id)
	}
	again, err := nodeID(dir)
	if err != nil || again != id {
		t.Fatalf("second start: %q, %v; want %q", again, err, id)
	}
	fi, err := os.Stat(filepath.Join(dir, nodeIDFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node.id: %v, %v", fi, err)
	}
	if other, _ := nodeID(t.TempDir()); other == id {
		t.Fatal("two data directories got the same id")
	}
}

func TestHeartbeatInterval(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == heartbeatEnv {
				return v
			}
			return ""
		}
	}
	if d, err := heartbeatInterval(env("")); err != nil || d != store.HeartbeatInterval {
		t.Errorf("default: %v, %v", d, err)
	}
	if d, err := heartbeatInterval(env("250ms")); err != nil || d != 250*time.Millisecond {
		t.Errorf("250ms: %v, %v", d, err)
	}
	for _, bad := range []string{"fast", "1ms", "-1s"} {
		if _, err := heartbeatInterval(env(bad)); err == nil || !strings.Contains(err.Error(), heartbeatEnv) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPostgresDSN(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://u@h/db": true, "": false, "sqlite": false, "mysql://h/db": false,
	} {
		if got := isPostgresDSN(dsn); got != want {
			t.Errorf("isPostgresDSN(%q) = %v", dsn, got)
		}
	}
	for dsn, hidden := range map[string]string{
		"postgres://u:s3cret@h:5432/db":         "s3cret",
		"postgres://u@h/db?password=s3cret&x=1": "s3cret",
	} {
		if r := redactDSN(dsn); strings.Contains(r, hidden) || !strings.Contains(r, "h") {
			t.Errorf("redactDSN(%q) = %q", dsn, r)
		}
	}
}
