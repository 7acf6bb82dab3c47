package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/store/sqlite"
)

func TestDataDirLockRefusesASecondProcess(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "another portico process") ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a second lock on the same data directory: %v", err)
	}
	unlock()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("after unlocking, the directory must be free: %v", err)
	}
	again()
}

func TestAdminTokenRotate(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := tokenCommand([]string{"rotate", "--data-dir", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tokenCommand([]string{"rotate", "--data-dir", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	if bytes.Equal(first, second) || len(bytes.TrimSpace(second)) != 48 {
		t.Fatalf("rotation gave %q after %q", second, first)
	}
	st, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tok, _ := st.AdminToken(t.Context()); tok != string(bytes.TrimSpace(second)) {
		t.Fatal("the store does not hold the token written to admin.token")
	}
	// While a gateway holds the directory, rotation is refused.
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := tokenCommand([]string{"rotate", "--data-dir", dir}, &out, &out); err == nil || !strings.Contains(err.Error(), "stop it") {
		t.Fatalf("rotation while the directory is in use: %v", err)
	}
}

func TestFlagMessages(t *testing.T) {
	none := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--drain-timeout", "banana"}, nil, "--drain-timeout=banana: not a duration"},
		{nil, map[string]string{"PORTICO_DRAIN_TIMEOUT": "banana"}, "PORTICO_DRAIN_TIMEOUT=banana: not a duration"},
		{[]string{"--metrics=maybe"}, nil, "--metrics=maybe: not true or false"},
		{[]string{"--log-buffer", "x"}, nil, "--log-buffer=x: not a whole number"},
		{[]string{"--no-such"}, nil, "unknown flag --no-such"},
		{[]string{"--proxy-addr", "8080"}, nil, "--proxy-addr=8080: not an address"},
		{[]string{"--redis", "localhost:6379"}, nil, "--redis=localhost:6379: not a redis://"},
		{[]string{"--store", "mysql://x"}, nil, "--store: \"mysql://x\""},
		{[]string{"--trusted-proxies", "10.0.0.0/33"}, nil, "--trusted-proxies"},
	} {
		getenv := none
		if tc.env != nil {
			getenv = func(k string) string { return tc.env[k] }
		}
		_, err := parseServeFlags(tc.args, getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %v: %v, want it to say %q", tc.args, tc.env, err, tc.want)
		}
	}
}
