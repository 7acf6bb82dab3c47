package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartKeepsServing: a drained stop and a start on the same data
// directory serve the same published configuration.
func TestRestartKeepsServing(t *testing.T) {
	t.Parallel()
	b := newBackend(t, "kept")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(b.node(1)))
	g.admin.publishedService("kept", channelAPI("kept", "GET", "/kept", ch.ID, "/k"))
	decodeEcho(t, g.get("/kept"))
	token := g.token

	g.Restart()
	if g.token != token {
		t.Errorf("the generated admin token changed across a restart")
	}
	if e := decodeEcho(t, g.get("/kept/1")); e.Backend != "kept" || e.Path != "/k/1" {
		t.Errorf("after restart: reached %s %s, want kept /k/1", e.Backend, e.Path)
	}
	g.admin.getChannel(ch.ID)
}

// TestKillDashNineKeepsAcknowledgedWrites: a 201 means the write is durable,
// even when the process is killed right after it.
func TestKillDashNineKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	for _, n := range []int{1, 20} {
		ids := make([]string, 0, n)
		for i := range n {
			// do, not write: no wait for the data plane, the kill must follow
			// the acknowledgement as closely as possible.
			var c channel
			body := httpChannel(node{Host: "127.0.0.1", Port: 10000 + i, Weight: 1})
			body.Name = fmt.Sprintf("durable_%d_%d", n, i)
			g.admin.do(http.MethodPost, "/channels", body, http.StatusCreated, &c)
			ids = append(ids, c.ID)
		}
		g.Kill()
		g.Start()
		for i, id := range ids {
			c := g.admin.getChannel(id)
			if c.Name != fmt.Sprintf("durable_%d_%d", n, i) || len(c.Nodes) != 1 || c.Nodes[0].Port != 10000+i {
				t.Errorf("after kill -9: channel %s came back as %+v", id, c)
			}
		}
	}
	var list struct {
		Total int `json:"total"`
	}
	g.admin.do(http.MethodGet, "/channels", nil, http.StatusOK, &list)
	if list.Total != 21 {
		t.Errorf("after two kills: %d channels, want 21", list.Total)
	}
}

// TestSIGTERMDrains: SIGTERM lets an in-flight request finish, exits 0, and
// the port then refuses connections.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	slow := newHandlerBackend(t, "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte("finished"))
	}))
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(slow.node(1)))
	g.admin.publishedService("drain", channelAPI("drain", "GET", "/drain", ch.ID, "/"))

	type result struct {
		r   reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, g.url("/drain"), nil)
		r, err := g.try(req)
		done <- result{r, err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the backend")
	}
	g.Signal(syscall.SIGTERM)

	// While the request is in flight, the node stops accepting.
	refusedEarly := false
	for start := time.Now(); time.Since(start) < 800*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", g.proxyAddr, 200*time.Millisecond)
		if err != nil {
			refusedEarly = true
			break
		}
		c.Close()
	}

	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight request did not finish within 10 s of SIGTERM")
	}
	if res.err != nil {
		t.Fatalf("the in-flight request failed during the drain: %v", res.err)
	}
	if res.r.status != http.StatusOK || string(res.r.body) != "finished" {
		t.Fatalf("the in-flight request answered %s, want 200 finished", res.r)
	}
	if code := g.Wait(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	_, err := net.DialTimeout("tcp", g.proxyAddr, time.Second)
	if err == nil {
		t.Fatal("the proxy port accepts connections after the process exited")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Logf("dial after exit: %v", err)
	}
	if !refusedEarly {
		t.Error("the proxy port kept accepting new connections for 800 ms after SIGTERM while draining")
	}
}

// TestAdminAuth: the generated token, its file, and --admin-token.
func TestAdminAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	a := g.admin

	fi, err := os.Stat(g.tokenPath())
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", g.tokenPath(), mode)
	}
	if len(g.token) < 16 {
		t.Errorf("generated token %q is too short", g.token)
	}

	wantStatus := func(token string, want int) {
		t.Helper()
		status, _, body := a.request(http.MethodGet, "/api/v1/channels", token, nil)
		if status != want {
			t.Errorf("GET /api/v1/channels with token %q: %d %s, want %d", token, status, body, want)
			return
		}
		if want == http.StatusUnauthorized {
			var e struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
				t.Errorf("401 body is not the admin error shape: %s", body)
			}
		}
	}
	wantStatus("", http.StatusUnauthorized)
	wantStatus("wrong-token", http.StatusUnauthorized)
	wantStatus(g.token, http.StatusOK)
	if status, _, _ := a.request(http.MethodGet, "/healthz", "", nil); status != http.StatusOK {
		t.Errorf("/healthz without a token: %d, want 200", status)
	}
	stored := g.token

	// --admin-token wins over the stored token.
	if code := g.Stop(); code != 0 {
		t.Fatalf("exit code %d on SIGTERM", code)
	}
	g.args = []string{"--admin-token", "flag-token-0123456789"}
	g.Start()
	wantStatus("flag-token-0123456789", http.StatusOK)
	wantStatus(stored, http.StatusUnauthorized)

	// So does PORTICO_ADMIN_TOKEN.
	if code := g.Stop(); code != 0 {
		t.Fatalf("exit code %d on SIGTERM", code)
	}
	g.args, g.env = nil, []string{"PORTICO_ADMIN_TOKEN=env-token-0123456789"}
	g.Start()
	wantStatus("env-token-0123456789", http.StatusOK)
	wantStatus(stored, http.StatusUnauthorized)

	// Without either, the stored token is back: the override did not
	// replace it.
	if code := g.Stop(); code != 0 {
		t.Fatalf("exit code %d on SIGTERM", code)
	}
	g.env = nil
	g.Start()
	if g.token != stored {
		t.Errorf("admin.token now holds %q, want the first generated token", g.token)
	}
	wantStatus(stored, http.StatusOK)
}

// TestSecondProcessOnDataDirRefused: a data directory belongs to one
// process; a second one on it stops with a message naming the first.
func TestSecondProcessOnDataDirRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	cmd := exec.Command(binary, "serve", "--data-dir", g.dataDir, "--proxy-addr", freeAddr(t),
		"--admin-addr", freeAddr(t), "--proxy-tls-addr", "off", "--access-log", "off")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a second process on the same data directory started:\n%s", out)
	}
	if !strings.Contains(string(out), "another portico process (pid ") {
		t.Fatalf("the refusal does not say why:\n%s", out)
	}
	if r := g.get("/nothing"); r.status != 404 {
		t.Fatalf("the first gateway stopped serving: %s", r)
	}
}
