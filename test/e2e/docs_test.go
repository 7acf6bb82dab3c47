package e2e

// TestDocs runs the examples of docs/*.md and compares what they print with
// what the docs show, so that a user who pastes the blocks of a page top to
// bottom sees what the page says.
//
// The convention, for whoever writes docs:
//
//   - Every ```sh block runs, in document order. The blocks of one file run in
//     one bash process, so variables (TOKEN, CH, SVC, …) carry over from block
//     to block, as in a user's terminal. Other languages (```json, ```yaml,
//     ```bash, ```python, ```) do not run.
//   - A block that cannot run here is marked in its info string with no-run
//     and a reason: ```sh no-run: needs a PostgreSQL cluster. GitHub still
//     highlights it as sh. Keep these few: a server that runs in the
//     foreground, a second machine or a database, a test suite of its own, a
//     state that cannot be produced on one fresh node.
//   - Each file gets its own fresh gateway, on the ports the docs use: proxy
//     :8080, TLS :8443, admin 127.0.0.1:9180, started with the defaults in a
//     fresh directory that holds ./portico-data (its --data-dir) and
//     ./portico (the binary, also on PATH as portico). Two backend nodes
//     listen on 127.0.0.1:9001 and 127.0.0.1:9002; each answers any request
//     with 200, Content-Type: text/plain and the body "<port> <method>
//     <path>\n", e.g. "9001 GET /README.md"; nothing listens on 127.0.0.1:9003
//     (a node that refuses connections). The test is skipped when one of
//     these ports is taken, and fails instead when CI=true.
//   - Expected output is written as comment lines right after the command
//     that prints it, with no blank line in between: "# " followed by the
//     line ("#" alone is an empty line, as between the headers and the body
//     of curl -i). Comment lines after a blank line, or at the top of a
//     block, are prose and are not compared. A ```json block that directly follows an
//     sh block (nothing but blank lines between) is the expected output of
//     the sh block's last commands. Every code line since the previous
//     expected output (or the start of the block) is one step, and its
//     output (stdout and stderr together) is compared with the expected
//     lines. Its exit status is kept for the next step, so "echo $?" works.
//   - Comparison: generated ids (ch-…, svc-…, api-…, key-…, plan-…, app-…,
//     plg-…, pb-…, cert-…, node-…, and the others of the store), RFC 3339
//     times, HTTP dates, request ids, revisions and latencies are masked on
//     both sides, so the docs may show real-looking values. "…" in the
//     expected text matches anything, across lines too. When the expected
//     text is JSON, whitespace outside strings is ignored, so the docs may
//     wrap long answers over several comment lines. When it starts with an
//     HTTP status line (curl -i), the status line must match, each header
//     line shown must be among the answer's headers (the others are
//     ignored), and the body, when shown, must match.
//   - A step whose output is not shown must exit 0, and must not print an
//     admin API error ({"error":{…}}): an example that fails must say so.
//
// docs/console.md and docs/performance.md are not run yet: their sh blocks
// run another package's tests and the benchmark, and are to be marked no-run.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// docsNotRun are the docs whose blocks are not run yet, with the reason.
var docsNotRun = map[string]string{}

// docsFirst are run first, in this order; the others follow by name.
var docsFirst = []string{"admin-api.md", "configuration.md", "cluster.md", "declarative.md"}

// The ports the docs use, and the backend nodes the test provides.
const docsAdminAddr = "127.0.0.1:9180"

var (
	// 9003 stays closed: a node that refuses connections.
	docsPorts        = []string{"8080", "8443", "9180", "9001", "9002", "9003"}
	docsBackendPorts = []string{"9001", "9002"}
)

// docsFileTimeout bounds the run of one file's blocks.
const docsFileTimeout = 60 * time.Second

func TestDocs(t *testing.T) {
	for _, p := range docsPorts {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("port %s is taken; the docs' examples need it: %v", p, err)
			}
			t.Skipf("port %s is taken (a gateway running here?); the docs' examples need %s free", p, strings.Join(docsPorts, ", "))
		}
		ln.Close()
	}
	for _, tool := range []string{"bash", "curl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the docs' examples need %s, which is not installed", tool)
		}
	}
	for _, p := range docsBackendPorts {
		startDocsBackend(t, p)
	}
	dir, err := filepath.Abs("../../docs")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range docsFiles(t, dir) {
		t.Run(name, func(t *testing.T) {
			if why, ok := docsNotRun[name]; ok {
				t.Skipf("docs/%s is not run: %s", name, why)
			}
			text, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			blocks, err := parseDocBlocks("docs/"+name, string(text))
			if err != nil {
				t.Fatal(err)
			}
			steps, compared, noRun := docStepsCount(blocks)
			if steps == 0 {
				t.Skipf("docs/%s: no runnable examples (%d no-run blocks)", name, noRun)
			}
			t.Logf("docs/%s: %d steps run, %d of them compared with the output the doc shows; %d no-run blocks", name, steps, compared, noRun)
			runDocBlocks(t, blocks)
		})
	}
}

// docsFiles lists docs/*.md, docsFirst first.
func docsFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	rank := func(name string) int {
		for i, f := range docsFirst {
			if f == name {
				return i
			}
		}
		return len(docsFirst)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	sort.SliceStable(names, func(i, j int) bool {
		ri, rj := rank(names[i]), rank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

// startDocsBackend serves "<port> <method> <path>\n" on 127.0.0.1:port until
// the test ends.
func startDocsBackend(t *testing.T, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("backend node on port %s: %v", port, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "%s %s %s\n", port, r.Method, r.URL.RequestURI())
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// runDocBlocks runs the runnable blocks of one file in one bash process, in a
// fresh directory next to a fresh gateway, and compares each step's output.
func runDocBlocks(t *testing.T, blocks []docBlock) {
	t.Helper()
	var steps []docStep
	for _, b := range blocks {
		if b.run {
			steps = append(steps, b.steps...)
		}
	}
	work := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(work, "portico")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, ".curlrc"), []byte("max-time = 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := startDocsGateway(t, work)
	defer stop()

	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	marker := "@@docs-step-" + hex.EncodeToString(nonce[:])
	// After each step a marker line carries the step's exit status, which
	// is then restored, so that $? in the next step is the one the user sees.
	var script strings.Builder
	script.WriteString("__docs_status() { return \"$1\"; }\n")
	for i, s := range steps {
		script.WriteString(s.code)
		fmt.Fprintf(&script, "\n__docs_rc=$?; printf '\\n%s %d %%d@@\\n' \"$__docs_rc\"; __docs_status \"$__docs_rc\"\n", marker, i)
	}
	script.WriteString("exit 0\n")
	scriptPath := filepath.Join(t.TempDir(), "docs.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), docsFileTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", scriptPath)
	cmd.Dir = work
	cmd.Env = docsEnv(work)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()

	results := splitStepOutput(out.String(), marker)
	for i, s := range steps {
		r, ok := results[i]
		if !ok {
			t.Errorf("%s:%d: the step did not finish (bash: %v, timeout %s)\n--- command:\n%s\n--- output of the whole run, last 4 KiB:\n%s",
				s.file, s.line, runErr, docsFileTimeout, s.code, tail(out.String(), 4096))
			return
		}
		if msg := checkStep(s, r); msg != "" {
			t.Errorf("%s:%d: %s\n--- command:\n%s\n--- expected (%s:%d):\n%s\n--- actual (exit %d):\n%s",
				s.file, s.line, msg, strings.TrimRight(s.code, "\n"), s.file, s.expLine, strings.Join(s.expected, "\n"), r.exit, r.output)
		}
	}
	if runErr != nil {
		t.Errorf("bash: %v", runErr)
	}
}

// docsEnv is the environment of the examples: the caller's, without PORTICO_*
// variables, with the work directory first on PATH and its .curlrc (a time
// limit, so that a hanging call fails the step instead of the whole run).
func docsEnv(work string) []string {
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		switch {
		case strings.HasPrefix(name, "PORTICO_"), name == "PATH", name == "CURL_HOME", name == "LC_ALL":
			continue
		}
		env = append(env, e)
	}
	return append(env, "PATH="+work+string(os.PathListSeparator)+os.Getenv("PATH"), "CURL_HOME="+work, "LC_ALL=C")
}

// startDocsGateway starts `portico serve` with its defaults (the docs' ports)
// and ./portico-data in work, and returns what stops it.
func startDocsGateway(t *testing.T, work string) func() {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--data-dir", filepath.Join(work, "portico-data"))
	cmd.Dir = work
	cmd.Env = docsEnv(work)
	output := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(exitTimeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("the gateway did not stop within %s of SIGTERM", exitTimeout)
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", output.tail(16<<10))
		}
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			t.Fatalf("the gateway exited before serving:\n%s", output.tail(8<<10))
		default:
		}
		resp, err := client.Get("http://" + docsAdminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the gateway did not serve /healthz within %s", startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
