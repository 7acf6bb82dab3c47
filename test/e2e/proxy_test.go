package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSlowNodeAnswers504: a node slower than the API's timeout gets a 504
// from the gateway once the timeout has passed, not when the node answers.
func TestSlowNodeAnswers504(t *testing.T) {
	t.Parallel()
	slow := newHandlerBackend(t, "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
			_, _ = w.Write([]byte("too late"))
		case <-r.Context().Done():
		}
	}))
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(slow.node(1)))
	x := channelAPI("slow", "GET", "/slow", ch.ID, "/")
	x.Backend.Timeout = 1
	g.admin.publishedService("slow", x)

	start := time.Now()
	r := g.get("/slow")
	elapsed := time.Since(start)
	wantGatewayError(t, r, http.StatusGatewayTimeout)
	if elapsed >= 2500*time.Millisecond {
		t.Errorf("504 after %s: the gateway waited for the node instead of its 1 s timeout", elapsed)
	}
	if elapsed < 900*time.Millisecond {
		t.Errorf("504 after %s, before the 1 s timeout", elapsed)
	}
	if n := slow.hits.Load(); n != 1 {
		t.Errorf("the slow node saw %d requests, want 1 (a timeout is not retried)", n)
	}
}

// TestWebSocketEcho: a WebSocket upgrade passes through to a channel node
// and messages flow both ways.
func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	ws := newHandlerBackend(t, "ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := r.Context()
		if err := c.Write(ctx, websocket.MessageText, []byte("hello from the backend")); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}))
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(ws.node(1)))
	x := channelAPI("ws", "GET", "/ws", ch.ID, "/socket")
	x.Protocol = "websocket"
	g.admin.publishedService("ws", x)

	// ws on the plain port, wss on the TLS port (HTTP/1.1 by ALPN).
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			url, opts := "ws://"+g.proxyAddr+"/ws", (*websocket.DialOptions)(nil)
			if scheme == "wss" {
				url = "wss://" + g.tlsAddr + "/ws"
				opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
					TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}} //nolint:gosec // the default certificate
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, url, opts)
			if err != nil {
				t.Fatalf("dialing through the gateway: %v", err)
			}
			defer c.CloseNow()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake answered %d", resp.StatusCode)
			}
			c.SetReadLimit(1 << 20)

			typ, msg, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageText || string(msg) != "hello from the backend" {
				t.Fatalf("first message from the backend: %v %q %v", typ, msg, err)
			}
			big := make([]byte, 100<<10)
			rand.NewChaCha8([32]byte{8}).Read(big)
			msgs := []struct {
				typ  websocket.MessageType
				data []byte
			}{
				{websocket.MessageText, []byte("one")},
				{websocket.MessageText, []byte("two")},
				{websocket.MessageBinary, []byte{0, 1, 2, 255}},
				{websocket.MessageText, []byte(strings.Repeat("x", 70000))},
				{websocket.MessageBinary, big},
			}
			for i, m := range msgs {
				if err := c.Write(ctx, m.typ, m.data); err != nil {
					t.Fatalf("message %d: write: %v", i, err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("message %d: read: %v", i, err)
				}
				if typ != m.typ || !bytes.Equal(got, append([]byte("echo:"), m.data...)) {
					t.Fatalf("message %d: echo differs (type %v, %d bytes)", i, typ, len(got))
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
				t.Errorf("closing: %v", err)
			}
		})
	}
}

// TestStreamingResponse: bodies stream in both directions.
func TestStreamingResponse(t *testing.T) {
	t.Parallel()
	var (
		firstSeen = make(chan struct{})
		seenOnce  sync.Once
		lastSent  atomic.Bool
	)
	markSeen := func() { seenOnce.Do(func() { close(firstSeen) }) }
	t.Cleanup(markSeen)
	chunks := []string{"chunk-0\n", "chunk-1\n", "chunk-2\n", "chunk-3\n"}
	var (
		sizedSeen     = make(chan struct{})
		sizedOnce     sync.Once
		sizedLastSent atomic.Bool
	)
	markSizedSeen := func() { sizedOnce.Do(func() { close(sizedSeen) }) }
	t.Cleanup(markSizedSeen)
	const sizedLen, sizedHead = 8 << 20, 1 << 20
	sized := bytes.Repeat([]byte("0123456789abcdef"), sizedLen/16)
	stream := newHandlerBackend(t, "stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		if r.URL.Path == "/sized" {
			// The same handshake with a Content-Length body: the first MiB
			// must reach the client before the rest is sent.
			w.Header().Set("Content-Length", fmt.Sprint(sizedLen))
			_, _ = w.Write(sized[:sizedHead])
			fl.Flush()
			select {
			case <-sizedSeen:
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
				return
			}
			sizedLastSent.Store(true)
			_, _ = w.Write(sized[sizedHead:])
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		for i, c := range chunks[:len(chunks)-1] {
			if i > 0 {
				time.Sleep(200 * time.Millisecond)
			}
			_, _ = io.WriteString(w, c)
			fl.Flush()
		}
		// The last chunk waits until the client has read the first, or 5 s:
		// a gateway that buffers the response delivers the first chunk only
		// after this one, and the client sees lastSent already set.
		select {
		case <-firstSeen:
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
			return
		}
		time.Sleep(200 * time.Millisecond)
		lastSent.Store(true)
		_, _ = io.WriteString(w, chunks[len(chunks)-1])
		fl.Flush()
	}))

	started := make(chan struct{}, 1)
	upload := newHandlerBackend(t, "upload", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		var buf [32 << 10]byte
		n, err := r.Body.Read(buf[:])
		h.Write(buf[:n])
		total := int64(n)
		if n > 0 {
			select {
			case started <- struct{}{}:
			default:
			}
		}
		if err == nil {
			var m int64
			m, err = io.CopyBuffer(h, r.Body, buf[:])
			total += m
		}
		if err != nil && !errors.Is(err, io.EOF) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"len": total, "sha256": hex.EncodeToString(h.Sum(nil))})
	}))

	g := startGateway(t, "--max-body", "64MiB")
	streamCh := g.admin.createChannel(httpChannel(stream.node(1)))
	uploadCh := g.admin.createChannel(httpChannel(upload.node(1)))
	g.admin.publishedService("streams",
		channelAPI("stream", "GET", "/stream", streamCh.ID, "/"),
		channelAPI("sized", "GET", "/sized", streamCh.ID, "/sized"),
		channelAPI("upload", "POST", "/upload", uploadCh.ID, "/"),
	)

	t.Run("response chunks arrive as they are sent", func(t *testing.T) {
		start := time.Now()
		resp, err := g.client.Get(g.url("/stream"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		br := bufio.NewReader(resp.Body)
		first, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first chunk: %v", err)
		}
		sentLast := lastSent.Load()
		t.Logf("first chunk after %s", time.Since(start).Round(time.Millisecond))
		markSeen()
		if first != chunks[0] {
			t.Fatalf("first chunk %q, want %q", first, chunks[0])
		}
		if sentLast {
			t.Errorf("the first chunk reached the client only after the backend sent the last: the response was buffered")
		}
		rest, err := io.ReadAll(br)
		if err != nil {
			t.Fatalf("reading the rest: %v", err)
		}
		if got := first + string(rest); got != strings.Join(chunks, "") {
			t.Errorf("body %q, want %q", got, strings.Join(chunks, ""))
		}
	})

	t.Run("a Content-Length response streams too", func(t *testing.T) {
		resp, err := g.client.Get(g.url("/sized"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != sizedLen {
			t.Fatalf("status %d, Content-Length %d; want 200 and %d", resp.StatusCode, resp.ContentLength, sizedLen)
		}
		head := make([]byte, sizedHead)
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatalf("reading the first MiB: %v", err)
		}
		sentLast := sizedLastSent.Load()
		markSizedSeen()
		if sentLast {
			t.Errorf("the first MiB reached the client only after the backend sent the rest: the response was buffered")
		}
		rest, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the rest: %v", err)
		}
		if !bytes.Equal(append(head, rest...), sized) {
			t.Errorf("the body differs from what the backend sent (%d bytes)", len(head)+len(rest))
		}
	})

	data := make([]byte, 20<<20)
	rand.NewChaCha8([32]byte{20}).Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	for _, chunked := range []bool{false, true} {
		name := "20 MiB request body with Content-Length"
		if chunked {
			name = "20 MiB chunked request body"
		}
		t.Run(name, func(t *testing.T) {
			// The client sends 1 MiB and holds the rest until the backend has
			// started reading: only a gateway that streams the body passes.
			pr, pw := io.Pipe()
			go func() {
				if _, err := pw.Write(data[:1<<20]); err != nil {
					return
				}
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					pw.CloseWithError(errors.New("the backend saw nothing of the body 10 s after the first MiB was sent: the gateway buffers request bodies"))
					return
				}
				_, _ = pw.Write(data[1<<20:])
				pw.Close()
			}()
			req, err := http.NewRequest(http.MethodPost, g.url("/upload"), pr)
			if err != nil {
				t.Fatal(err)
			}
			if !chunked {
				req.ContentLength = int64(len(data))
			}
			r, err := g.try(req)
			pr.Close()
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusOK {
				t.Fatalf("upload answered %s", r)
			}
			var got struct {
				Len    int64  `json:"len"`
				SHA256 string `json:"sha256"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if got.Len != int64(len(data)) || got.SHA256 != want {
				t.Errorf("the backend received %d bytes with sha256 %s, want %d bytes with %s", got.Len, got.SHA256, len(data), want)
			}
		})
	}
}

// TestHostHeaderAndHTTPSChannel: host_header sets the Host the node sees;
// https channels verify the node's certificate unless told otherwise.
func TestHostHeaderAndHTTPSChannel(t *testing.T) {
	t.Parallel()
	plain := newBackend(t, "plain")
	secure := newTLSBackend(t, "secure")
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.srv.Certificate().Raw}))
	g := startGateway(t)
	a := g.admin

	hostCh := httpChannel(plain.node(1))
	hostCh.HostHeader = "backend.example.com:8080"
	withCA := channel{Network: "default", Scheme: "https", Nodes: []node{secure.node(1)}, TLS: &channelTLS{CAPEM: caPEM}}
	// httptest's certificate is valid for example.com: the SNI name follows
	// host_header.
	withCAHost := withCA
	withCAHost.HostHeader = "example.com"
	noCA := channel{Network: "default", Scheme: "https", Nodes: []node{secure.node(1)}, Retries: 1}
	skip := channel{Network: "default", Scheme: "https", Nodes: []node{secure.node(1)}, TLS: &channelTLS{InsecureSkipVerify: true}}
	a.publishedService("tls",
		channelAPI("host", "GET", "/host", a.createChannel(hostCh).ID, "/"),
		channelAPI("ca", "GET", "/ca", a.createChannel(withCA).ID, "/"),
		channelAPI("cahost", "GET", "/cahost", a.createChannel(withCAHost).ID, "/"),
		channelAPI("noca", "GET", "/noca", a.createChannel(noCA).ID, "/"),
		channelAPI("skip", "GET", "/skip", a.createChannel(skip).ID, "/"),
	)

	e := decodeEcho(t, g.get("/host"))
	if e.Host != "backend.example.com:8080" {
		t.Errorf("the node saw Host %q, want the channel's host_header", e.Host)
	}
	if got := e.Header.Get("X-Forwarded-Host"); got != g.proxyAddr {
		t.Errorf("X-Forwarded-Host %q, want the client's %q", got, g.proxyAddr)
	}

	if e := decodeEcho(t, g.get("/ca")); e.Backend != "secure" || e.Host != secure.addr() {
		t.Errorf("https with ca_pem reached %s with Host %q", e.Backend, e.Host)
	}
	if e := decodeEcho(t, g.get("/cahost")); e.Host != "example.com" {
		t.Errorf("https with ca_pem and host_header: Host %q, want example.com", e.Host)
	}
	before := secure.hits.Load()
	wantGatewayError(t, g.get("/noca"), http.StatusBadGateway)
	if n := secure.hits.Load() - before; n != 0 {
		t.Errorf("an unverified node got %d requests", n)
	}
	if e := decodeEcho(t, g.get("/skip")); e.Backend != "secure" {
		t.Errorf("insecure_skip_verify reached %q", e.Backend)
	}
}

// attempts counts the requests each node saw, by method and X-Test-Id.
type attempts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *attempts) add(node string, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[node+" "+r.Method+" "+r.Header.Get("X-Test-Id")]++
}

func (a *attempts) get(node, method, id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[node+" "+method+" "+id]
}

// TestRetriesNonIdempotent: a node that resets the connection after reading
// the request costs a GET nothing (retried on the next node), but a POST that
// may have reached it is not sent twice: it answers 502.
func TestRetriesNonIdempotent(t *testing.T) {
	t.Parallel()
	var seen attempts
	reset := newHandlerBackend(t, "reset", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		seen.add("reset", r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
		conn.Close()
	}))
	healthy := &backend{name: "healthy"}
	healthy.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add("healthy", r)
		healthy.echo(w, r)
	}), false)
	g := startGateway(t)
	c := httpChannel(reset.node(1), healthy.node(1))
	// Health checks off: the resetting node must stay in the rotation for
	// the POSTs to meet it (the implicit check would take it out after
	// its first reset).
	c.HealthCheck = map[string]any{"enable_active_check": false, "enable_passive_check": false}
	ch := g.admin.createChannel(c)
	g.admin.publishedService("retry", channelAPI("retry", "ANY", "/retry", ch.ID, "/"))

	for i := range 10 {
		id := fmt.Sprintf("get-%d", i)
		r := g.get("/retry", "X-Test-Id", id)
		if r.status != http.StatusOK {
			t.Fatalf("GET %d: %s; a GET that reached a resetting node must be retried", i, r)
		}
		if n := seen.get("healthy", "GET", id); n != 1 {
			t.Errorf("GET %d: the healthy node saw it %d times", i, n)
		}
	}
	resetGETs := 0
	for i := range 10 {
		resetGETs += seen.get("reset", "GET", fmt.Sprintf("get-%d", i))
	}
	if resetGETs == 0 {
		t.Fatalf("no GET reached the resetting node: the test proves nothing")
	}

	failed := 0
	for i := range 10 {
		id := fmt.Sprintf("post-%d", i)
		r := g.call(http.MethodPost, "/retry", strings.NewReader(`{"order":1}`), "X-Test-Id", id, "Content-Type", "application/json")
		nReset, nHealthy := seen.get("reset", "POST", id), seen.get("healthy", "POST", id)
		switch r.status {
		case http.StatusOK:
			if nReset != 0 || nHealthy != 1 {
				t.Errorf("POST %d answered 200 after %d tries on the resetting node and %d on the healthy one; want 0 and 1", i, nReset, nHealthy)
			}
		case http.StatusBadGateway:
			failed++
			wantGatewayError(t, r, http.StatusBadGateway)
			if nReset != 1 || nHealthy != 0 {
				t.Errorf("POST %d answered 502 after %d tries on the resetting node and %d on the healthy one; want 1 and 0", i, nReset, nHealthy)
			}
		default:
			t.Errorf("POST %d: %s, want 200 or 502", i, r)
		}
	}
	if failed == 0 {
		t.Errorf("no POST hit the resetting node in 10 calls to two nodes of weight 1")
	}
	t.Logf("%d GETs retried after a reset, %d of 10 POSTs answered 502", resetGETs, failed)
}
