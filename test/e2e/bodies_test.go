package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRequestBodyLimit: --max-body is a hard limit, counted on streamed
// bodies too (SPEC 1: "streamed, counted, 413 past it").
func TestRequestBodyLimit(t *testing.T) {
	t.Parallel()
	var largest atomic.Int64
	sink := newHandlerBackend(t, "sink", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		for {
			m := largest.Load()
			if n <= m || largest.CompareAndSwap(m, n) {
				break
			}
		}
		_, _ = io.WriteString(w, "stored")
	}))
	g := startGateway(t, "--max-body", "1MiB")
	ch := g.admin.createChannel(httpChannel(sink.node(1)))
	g.admin.publishedService("limit", channelAPI("up", "POST", "/up", ch.ID, "/"))

	post := func(n int, chunked bool) reply {
		t.Helper()
		var body io.Reader = bytes.NewReader(bytes.Repeat([]byte{'b'}, n))
		if chunked {
			body = io.MultiReader(body) // hides the length: chunked encoding
		}
		req, err := http.NewRequest(http.MethodPost, g.url("/up"), body)
		if err != nil {
			t.Fatal(err)
		}
		r, err := g.try(req)
		if err != nil {
			t.Fatalf("POST of %d bytes (chunked %v): %v", n, chunked, err)
		}
		return r
	}
	if r := post(1<<20, false); r.status != http.StatusOK {
		t.Fatalf("a body of exactly --max-body: %s, want 200", r)
	}
	if r := post(1<<20, true); r.status != http.StatusOK {
		t.Fatalf("a chunked body of exactly --max-body: %s, want 200", r)
	}

	wantGatewayError(t, post(1<<20+1, false), http.StatusRequestEntityTooLarge)
	wantGatewayError(t, post(4<<20, false), http.StatusRequestEntityTooLarge)
	wantGatewayError(t, post(4<<20, true), http.StatusRequestEntityTooLarge)
	if n := largest.Load(); n > 1<<20 {
		t.Errorf("the backend received a body of %d bytes through a gateway with --max-body 1MiB", n)
	}
}

// rawBackend is a TCP server that answers each connection with serve, for
// responses net/http would not produce (close-delimited, truncated).
func rawBackend(t *testing.T, serve func(c net.Conn, req *http.Request)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				serve(c, req)
			}()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return &backend{name: "raw", host: "127.0.0.1", port: a.Port}
}

// TestBrokenAndUnusualBackendBodies: a body that ends with the connection
// is relayed; a body cut short is never passed off as a complete answer
// (SPEC 3: "the client never sees a partial success").
func TestBrokenAndUnusualBackendBodies(t *testing.T) {
	t.Parallel()
	raw := rawBackend(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/close-delimited":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nhello, close-delimited")
		case "/truncated-chunked":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"+strings.Repeat("a", 100)+"\r\n")
		case "/truncated-length":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("a", 200000))
		}
		// A moment before the close, so the gateway has read what came.
		time.Sleep(50 * time.Millisecond)
	})
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(raw.node(1)))
	x := channelAPI("raw", "GET", "/raw", ch.ID, "/")
	g.admin.publishedService("raw", x)

	get := func(path string) (reply, error) {
		req, err := http.NewRequest(http.MethodGet, g.url(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		return g.try(req)
	}
	for _, path := range []string{"/raw/truncated-length", "/raw/truncated-chunked"} {
		t.Run(path, func(t *testing.T) {
			if path == "/raw/truncated-chunked" {
			}
			r, err := get(path)
			switch {
			case err != nil:
				t.Logf("the client saw the break: %v", err)
			case r.status == http.StatusBadGateway:
				wantGatewayError(t, r, http.StatusBadGateway)
			default:
				t.Errorf("a truncated backend body reached the client as a complete %d with %d bytes", r.status, len(r.body))
			}
		})
	}
	t.Run("/raw/close-delimited", func(t *testing.T) {
		r, err := get("/raw/close-delimited")
		if err != nil {
			t.Fatalf("the client got no answer: %v", err)
		}
		if r.status != http.StatusOK || string(r.body) != "hello, close-delimited" {
			t.Errorf("got %s, want 200 hello, close-delimited", r)
		}
	})
}
