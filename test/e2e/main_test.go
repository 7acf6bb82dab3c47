package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the gateway built once for the whole package by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipping the end-to-end tests in -short mode (they build and run the gateway binary)")
		os.Exit(0)
	}
	os.Exit(run(m))
}

// run builds the binary into a temporary directory that outlives every test
// and is removed afterwards; os.Exit in TestMain would skip a defer there.
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portico-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "portico")
	// No -race: the gateway under test is the binary users run; the race
	// detector watches the test process only.
	cmd := exec.Command("go", "build", "-o", binary, "github.com/portico-gw/portico/cmd/portico")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the gateway:", err)
		return 1
	}
	return m.Run()
}
