package upstream

import (
	"bufio"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/h1"
)

// get sends GET / to c and reads the whole answer.
func get(t *testing.T, c *Client) (int, string, error) {
	t.Helper()
	req := &Request{
		Head:     []byte("GET / HTTP/1.1\r\nHost: node\r\n\r\n"),
		Deadline: time.Now().Add(5 * time.Second),
		Timeout:  5 * time.Second,
		Buf:      make([]byte, 4096),
	}
	var resp Response
	if err := c.Do(req, &resp); err != nil {
		return 0, "", err
	}
	defer resp.Release()
	body, err := io.ReadAll(&resp.Body)
	return resp.Status, string(body), err
}

func TestRefusedConnectIsDialError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := NewPool()
	defer p.Close()
	c, err := p.Client(Target{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = get(t, c)
	if !IsDialError(err) {
		t.Fatalf("refused connect: %v, want a DialError", err)
	}
	if ue := err.(*Error); ue.Reached || ue.Status != 502 {
		t.Fatalf("a refused connect never reached the node and is a 502: %+v", ue)
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	p := NewPool()
	defer p.Close()

	untrusted, _ := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{ServerName: "example.com"}})
	if _, _, err := get(t, untrusted); !IsDialError(err) {
		t.Fatalf("unknown CA: %v, want a DialError (verification is on by default)", err)
	}
	trusted, _ := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{ServerName: "example.com", CAPEM: caPEM}})
	if status, _, err := get(t, trusted); err != nil || status != 200 {
		t.Fatalf("with ca_pem: %d %v", status, err)
	}
	skip, _ := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{InsecureSkipVerify: true}})
	if status, _, err := get(t, skip); err != nil || status != 200 {
		t.Fatalf("insecure_skip_verify: %d %v", status, err)
	}
	if _, err := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{CAPEM: "junk"}}); err == nil {
		t.Fatal("a CA without a certificate must be refused")
	}
}

func TestPoolReusesAndRetains(t *testing.T) {
	p := NewPool()
	defer p.Close()
	a, _ := p.Client(Target{Addr: "127.0.0.1:1"})
	b, _ := p.Client(Target{Addr: "127.0.0.1:1"})
	c, _ := p.Client(Target{Addr: "127.0.0.1:2"})
	if a != b || a == c {
		t.Fatal("one client per target expected")
	}
	p.Retain(map[*Client]bool{c: true})
	if d, _ := p.Client(Target{Addr: "127.0.0.1:1"}); d == a {
		t.Fatal("a dropped target must get a new client")
	}
	if e, _ := p.Client(Target{Addr: "127.0.0.1:2"}); e != c {
		t.Fatal("a retained target must keep its client")
	}
}

// rawNode serves each connection with serve, which reads requests itself.
func rawNode(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String(), &conns
}

func readReq(br *bufio.Reader) bool {
	_, err := http.ReadRequest(br)
	return err == nil
}

// A node that sends bytes after a complete answer (an unsolicited second
// answer) must never have them read as the answer to the next request.
func TestBytesAfterAnAnswerCloseTheConnection(t *testing.T) {
	for _, late := range []bool{false, true} {
		var n atomic.Int32
		addr, conns := rawNode(t, func(c net.Conn, br *bufio.Reader) {
			for readReq(br) {
				if n.Add(1) == 1 {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
					if late {
						time.Sleep(50 * time.Millisecond)
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!")
					continue
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
			}
		})
		p := NewPool()
		c, _ := p.Client(Target{Addr: addr})
		if _, body, err := get(t, c); err != nil || body != "first" {
			t.Fatalf("first: %q %v", body, err)
		}
		time.Sleep(100 * time.Millisecond)
		if _, body, err := get(t, c); err != nil || body != "second" {
			t.Fatalf("late=%v: second client got %q %v, want its own answer", late, body, err)
		}
		if conns.Load() != 2 {
			t.Fatalf("late=%v: %d connections, want the tainted one replaced", late, conns.Load())
		}
		p.Close()
	}
}

func TestInterimAnswers(t *testing.T) {
	addr, _ := rawNode(t, func(c net.Conn, br *bufio.Reader) {
		for readReq(br) {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := NewPool()
	defer p.Close()
	c, _ := p.Client(Target{Addr: addr})
	var got []int
	req := &Request{
		Head: []byte("GET / HTTP/1.1\r\nHost: n\r\n\r\n"), Deadline: time.Now().Add(5 * time.Second), Timeout: time.Second,
		Interim: func(status int, _ []byte, fields []h1.Field) {
			got = append(got, status)
			if len(fields) != 1 || string(fields[0].Value) != "</a.css>; rel=preload" {
				t.Errorf("103 fields %q", fields)
			}
		},
	}
	var resp Response
	if err := c.Do(req, &resp); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(&resp.Body)
	resp.Release()
	if resp.Status != 200 || string(body) != "ok" || len(got) != 1 || got[0] != 103 {
		t.Fatalf("status %d body %q interim %v: want 200 ok and one 103 (100 is dropped)", resp.Status, body, got)
	}
}

func TestUnsolicitedSwitchingProtocolsIsBadGateway(t *testing.T) {
	addr, _ := rawNode(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\nraw bytes")
		}
	})
	p := NewPool()
	defer p.Close()
	c, _ := p.Client(Target{Addr: addr})
	_, _, err := get(t, c)
	ue, ok := err.(*Error)
	if !ok || ue.Status != 502 {
		t.Fatalf("unsolicited 101: %v, want a 502 error", err)
	}
}

func TestMalformedAnswersAreBadGateway(t *testing.T) {
	for name, answer := range map[string]string{
		"CL and TE":          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two lengths":        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"space before colon": "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
		"bad status line":    "HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/2 status line": "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"obs-fold":           "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			addr, _ := rawNode(t, func(c net.Conn, br *bufio.Reader) {
				if readReq(br) {
					io.WriteString(c, answer)
				}
			})
			p := NewPool()
			defer p.Close()
			c, _ := p.Client(Target{Addr: addr})
			_, _, err := get(t, c)
			if ue, ok := err.(*Error); !ok || ue.Status != 502 {
				t.Fatalf("%q: %v, want a 502 error", answer, err)
			}
		})
	}
}

func TestBrokenChunkedAnswerIsAnError(t *testing.T) {
	addr, _ := rawNode(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		}
	})
	p := NewPool()
	defer p.Close()
	c, _ := p.Client(Target{Addr: addr})
	if _, _, err := get(t, c); err == nil {
		t.Fatal("a chunked body cut before its last chunk must be an error")
	}
	if c.Idle() != 0 {
		t.Fatal("the connection of a broken answer must not be pooled")
	}
}

// A node that reads a request on a pooled connection and closes it without
// a byte of answer may have acted on it: only an idempotent request is sent
// again, on a fresh connection; any other fails, and the node saw it once.
func TestDroppedRequestRetriedOnlyWhenIdempotent(t *testing.T) {
	for _, tc := range []struct {
		method     string
		idempotent bool
	}{{"GET", true}, {"DELETE", true}, {"POST", false}, {"PATCH", false}} {
		t.Run(tc.method, func(t *testing.T) {
			var seen atomic.Int32 // requests of tc.method read by the node
			addr, conns := rawNode(t, func(c net.Conn, br *bufio.Reader) {
				first := true
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if req.Method == tc.method {
						seen.Add(1)
						if !first {
							return // read, then dropped with the connection
						}
					}
					first = false
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			p := NewPool()
			defer p.Close()
			c, _ := p.Client(Target{Addr: addr})
			if status, _, err := get(t, c); err != nil || status != 200 {
				t.Fatalf("warm-up: %d %v", status, err)
			}
			req := &Request{
				Head:       []byte(tc.method + " / HTTP/1.1\r\nHost: node\r\n\r\n"),
				Idempotent: tc.idempotent,
				Deadline:   time.Now().Add(5 * time.Second),
				Timeout:    5 * time.Second,
				Buf:        make([]byte, 4096),
			}
			var resp Response
			err := c.Do(req, &resp)
			if tc.idempotent {
				if err != nil || resp.Status != 200 {
					t.Fatalf("an idempotent request dropped with a pooled connection: %v, want it sent again", err)
				}
				resp.Release()
				want := int32(2)
				if tc.method == "GET" {
					want++ // the warm-up
				}
				if seen.Load() != want || conns.Load() != 2 {
					t.Fatalf("node saw %d %ss over %d connections, want %d over 2", seen.Load(), tc.method, conns.Load(), want)
				}
				return
			}
			var ue *Error
			if !errors.As(err, &ue) || !ue.Reached || ue.Status != 502 {
				t.Fatalf("a %s dropped after the node read it: %v, want a 502 that says it reached the node", tc.method, err)
			}
			if seen.Load() != 1 {
				t.Fatalf("node saw %d copies of the %s, want exactly 1", seen.Load(), tc.method)
			}
		})
	}
}
