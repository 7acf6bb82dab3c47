package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickStart runs the README's "A first API in one minute" block
// exactly as written, twice (it must be re-runnable), from the root of the
// checkout, as a newcomer pastes it.
func TestReadmeQuickStart(t *testing.T) {
	for _, p := range []string{"8080", "8443", "9180"} {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("port %s is taken; the quick start needs it: %v", p, err)
			}
			t.Skipf("port %s is taken (a gateway running here?); the quick start needs 8080, 8443 and 9180 free", p)
		}
		ln.Close()
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the quick start needs %s, which is not installed", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := quickStartBlock(t, string(readme))
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", block)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("run %d of the quick start failed: %v\n%s", run, err, out.String())
		}
		if !strings.Contains(out.String(), "HTTP/1.1 200 OK") || !strings.Contains(out.String(), `"status":"ok"`) {
			t.Fatalf("run %d: the quick start's call did not answer 200 from the node:\n%s", run, out.String())
		}
	}
}

// quickStartBlock is the first sh block after the quick start's heading.
func quickStartBlock(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "## A first API in one minute")
	if !ok {
		t.Fatal("README.md has no \"## A first API in one minute\" section")
	}
	_, after, ok = strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("the quick start section has no sh block")
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("the quick start's sh block is not closed")
	}
	return block
}
