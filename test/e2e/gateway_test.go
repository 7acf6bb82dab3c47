package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of the process helpers. They are generous because the machine is
// shared; a healthy gateway starts in tens of milliseconds.
const (
	startTimeout = 15 * time.Second
	exitTimeout  = 15 * time.Second
	bindAttempts = 5
)

// gateway is one `portico serve` process on free local ports. Its data
// directory outlives Stop and Kill, so Start after them is a restart on the
// same state.
type gateway struct {
	t       *testing.T
	dataDir string
	args    []string // extra flags, e.g. --max-body 64MiB
	env     []string // extra environment, e.g. PORTICO_ADMIN_TOKEN=x

	proxyAddr string
	tlsAddr   string // the TLS port (HTTP/1.1 and HTTP/2)
	adminAddr string
	token     string // the admin token read after each start

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	output *syncBuffer   // stdout and stderr of every run, in order

	client *http.Client // to the proxy port
	admin  *adminClient
}

// startGateway starts a gateway on a fresh data directory and stops it when
// the test ends.
func startGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	g := newGateway(t, t.TempDir(), args...)
	g.Start()
	return g
}

// newGateway prepares a gateway without starting it.
func newGateway(t *testing.T, dataDir string, args ...string) *gateway {
	t.Helper()
	tr := &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	g := &gateway{
		t:       t,
		dataDir: dataDir,
		args:    args,
		output:  &syncBuffer{},
		client:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
	g.admin = &adminClient{g: g, http: &http.Client{Timeout: 15 * time.Second}}
	t.Cleanup(func() {
		if g.running() {
			g.Kill()
		}
		tr.CloseIdleConnections()
		if t.Failed() {
			t.Logf("gateway output (data dir %s):\n%s", g.dataDir, g.output.tail(16<<10))
		}
	})
	return g
}

// Start runs the process and waits until /healthz answers 200 and the admin
// token is known. It keeps the previous ports when it has some (a restart),
// and picks new ones when a port turns out to be taken.
func (g *gateway) Start() {
	g.t.Helper()
	if g.running() {
		g.t.Fatal("gateway: Start while running")
	}
	for attempt := 0; attempt < bindAttempts; attempt++ {
		if g.proxyAddr == "" || attempt > 0 {
			g.proxyAddr, g.adminAddr, g.tlsAddr = freeAddr(g.t), freeAddr(g.t), freeAddr(g.t)
		}
		err := g.launch()
		if err == nil {
			g.readToken()
			return
		}
		if !errors.Is(err, errPortTaken) {
			g.t.Fatalf("gateway did not start: %v\n%s", err, g.output.tail(8<<10))
		}
	}
	g.t.Fatalf("gateway: no free ports after %d attempts\n%s", bindAttempts, g.output.tail(8<<10))
}

var errPortTaken = errors.New("port taken")

func (g *gateway) launch() error {
	args := append([]string{"serve",
		"--proxy-addr", g.proxyAddr,
		"--proxy-tls-addr", g.tlsAddr,
		"--admin-addr", g.adminAddr,
		"--data-dir", g.dataDir,
		"--access-log", "off",
	}, g.args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Stdout, cmd.Stderr = g.output, g.output
	mark := g.output.Len()
	if err := cmd.Start(); err != nil {
		return err
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(g.exited)

	health := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			if strings.Contains(g.output.since(mark), "address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("exited with %s before serving", cmd.ProcessState)
		default:
		}
		resp, err := health.Get("http://" + g.adminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.Kill()
	return fmt.Errorf("/healthz did not answer 200 within %s", startTimeout)
}

// readToken takes the token from --admin-token or PORTICO_ADMIN_TOKEN when
// given, else from <data-dir>/admin.token, as a user would.
func (g *gateway) readToken() {
	g.t.Helper()
	for i, a := range g.args {
		if a == "--admin-token" && i+1 < len(g.args) {
			g.token = g.args[i+1]
			return
		}
		if v, ok := strings.CutPrefix(a, "--admin-token="); ok {
			g.token = v
			return
		}
	}
	for _, e := range g.env {
		if v, ok := strings.CutPrefix(e, "PORTICO_ADMIN_TOKEN="); ok && v != "" {
			g.token = v
			return
		}
	}
	b, err := os.ReadFile(g.tokenPath())
	if err != nil {
		g.t.Fatalf("reading the generated admin token: %v", err)
	}
	g.token = strings.TrimSpace(string(b))
}

func (g *gateway) tokenPath() string { return filepath.Join(g.dataDir, "admin.token") }

func (g *gateway) running() bool {
	if g.cmd == nil {
		return false
	}
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process without waiting.
func (g *gateway) Signal(sig os.Signal) {
	g.t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the process to exit and returns its exit code.
func (g *gateway) Wait() int {
	g.t.Helper()
	select {
	case <-g.exited:
	case <-time.After(exitTimeout):
		_ = g.cmd.Process.Kill()
		<-g.exited
		g.t.Fatalf("gateway did not exit within %s; killed", exitTimeout)
	}
	return g.cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM (a drain) and returns the exit code.
func (g *gateway) Stop() int {
	g.t.Helper()
	g.Signal(syscall.SIGTERM)
	return g.Wait()
}

// Kill ends the process with SIGKILL: no drain, no cleanup.
func (g *gateway) Kill() {
	g.t.Helper()
	_ = g.cmd.Process.Kill()
	select {
	case <-g.exited:
	case <-time.After(exitTimeout):
		g.t.Errorf("gateway pid %d did not die after SIGKILL", g.cmd.Process.Pid)
	}
}

// Restart stops the process with SIGTERM, expects exit code 0, and starts it
// again on the same data directory.
func (g *gateway) Restart() {
	g.t.Helper()
	if code := g.Stop(); code != 0 {
		g.t.Fatalf("gateway exited with code %d on SIGTERM", code)
	}
	g.Start()
}

// url is the proxy URL of path (which starts with "/").
func (g *gateway) url(path string) string { return "http://" + g.proxyAddr + path }

// reply is a fully read response.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// try sends req through the proxy and reads the whole answer. It does not
// touch t, so load goroutines may use it.
func (g *gateway) try(req *http.Request) (reply, error) {
	resp, err := g.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("reading the body of a %d: %w", resp.StatusCode, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// call sends a request through the proxy; headers are name, value pairs.
// A transport error fails the test.
func (g *gateway) call(method, path string, body io.Reader, headers ...string) reply {
	g.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, g.url(path), body)
	if err != nil {
		g.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	r, err := g.try(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (g *gateway) get(path string, headers ...string) reply {
	g.t.Helper()
	return g.call(http.MethodGet, path, nil, headers...)
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago. Another
// process may take it before the gateway binds it; Start retries then.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// syncBuffer collects the process output; exec copies into it from its own
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) since(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[off:])
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}
