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
	// Built with -race: the data plane is Portico's own HTTP/1.1 engine
	// (parser, writer, node connection pool), whose buffers and connections
	// pass between goroutines (client reader, node reader, pool, timers).
	// Only real sockets driven from outside, as here, exercise those paths
	// concurrently, and a race in the gateway shows only in the process that
	// runs it, so the gateway itself must carry the detector. GORACE makes
	// a race end the gateway (exit code 66) so that it fails the test that
	// hit it, with the report in the gateway output the test prints, rather
	// than scroll by unnoticed.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "halt_on_error=1")
	}
	cmd := exec.Command("go", "build", "-race", "-o", binary, "github.com/portico-gw/portico/cmd/portico")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the gateway:", err)
		return 1
	}
	return m.Run()
}
