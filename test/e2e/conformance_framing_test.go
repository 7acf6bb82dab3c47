package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// confFramingCase is one raw request and what the gateway must do with it.
type confFramingCase struct {
	name   string // starts with the case id
	req    string // sent as is, with $ID replaced by the case id
	method string // of the request, for reading the answer; GET when empty
	status int    // the answer's status; 0: checked by check alone
	// close: the answer carries Connection: close and the connection is
	// closed; closed: the connection is closed (the header is not checked).
	close, closed bool
	// reach: the request must reach the node with a complete body. When
	// false it must not reach the node at all, unless partial is set: then
	// it may reach it, but never with a complete body.
	reach, partial bool
	check          func(t *testing.T, r *confResp, seen []confSeen)
}

// confPost is a POST head to the recording node with the given extra field
// lines (each ending in CRLF), then the blank line.
func confPost(fields string) string {
	return "POST /rec/$ID HTTP/1.1\r\nHost: " + confHost + "\r\n" + fields + "\r\n"
}

// confGet is a GET to the recording node with extra field lines.
func confGet(fields string) string {
	return "GET /rec/$ID HTTP/1.1\r\nHost: " + confHost + "\r\n" + fields + "\r\n"
}

const confChunkedHello = "5\r\nhello\r\n0\r\n\r\n"

// TestConformanceRequestFraming: how the gateway reads a request's line,
// header section and body framing. Anything ambiguous is refused with the
// connection closed, so that no two parsers (the gateway's and the node's)
// can disagree on where a request ends.
func TestConformanceRequestFraming(t *testing.T) {
	t.Parallel()
	n := confNewNode(t)
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(n.node()))
	confService(g, "conf", nil, nil, "release",
		confRecAPI(ch.ID),
		channelAPI("who", "GET", "/who", ch.ID, "/who-main"))
	// abs.example is a custom domain pinned to test, where only this
	// service's /who is published: a request routed by that authority
	// reaches /who-dom, one routed by Host: gw.test reaches /who-main.
	confService(g, "confdom", nil, []map[string]string{{"host": "abs.example", "environment": "test"}}, "test",
		channelAPI("who", "GET", "/who", ch.ID, "/who-dom"))

	manyFields := func(k int) string {
		var b strings.Builder
		for i := range k {
			fmt.Fprintf(&b, "X-Field-%d: v\r\n", i)
		}
		return b.String()
	}
	wantBody := func(want string) func(t *testing.T, r *confResp, seen []confSeen) {
		return func(t *testing.T, r *confResp, seen []confSeen) {
			t.Helper()
			if len(seen) > 0 && string(seen[0].Body) != want {
				t.Errorf("the node received body %q, want %q", seen[0].Body, want)
			}
		}
	}
	absolute := func(wantXFH string) func(t *testing.T, r *confResp, seen []confSeen) {
		return func(t *testing.T, r *confResp, seen []confSeen) {
			t.Helper()
			if len(seen) == 0 {
				return
			}
			s := seen[0]
			if strings.HasPrefix(s.Target, "/who-main/") {
				t.Fatalf("routed by the Host header instead of the target's authority: the node got %s", s.Target)
			}
			if !strings.HasPrefix(s.Target, "/who-dom/") {
				t.Errorf("the node got target %q, want /who-dom/...", s.Target)
			}
			if got := s.values("X-Forwarded-Host"); len(got) != 1 || got[0] != wantXFH {
				t.Errorf("X-Forwarded-Host %q, want %q (the target's authority)", got, wantXFH)
			}
			if got := s.Header.Get("Host"); got != n.addr() {
				t.Errorf("the node got Host %q, want the node's address %s", got, n.addr())
			}
		}
	}

	cases := []confFramingCase{
		// The request line.
		{name: "F01 lower-case HTTP-version", req: "GET /rec/$ID http/1.1\r\nHost: gw.test\r\n\r\n", status: 400, close: true},
		{name: "F02 HTTP-version without minor", req: "GET /rec/$ID HTTP/1\r\nHost: gw.test\r\n\r\n", status: 400, close: true},
		{name: "F03 request line without version", req: "GET /rec/$ID\r\nHost: gw.test\r\n\r\n", status: 400, close: true},
		{name: "F04 two spaces in the request line", req: "GET  /rec/$ID HTTP/1.1\r\nHost: gw.test\r\n\r\n", status: 400, close: true},
		{name: "F05 method that is not a token", req: "G(T /rec/$ID HTTP/1.1\r\nHost: gw.test\r\n\r\n", status: 400, close: true},
		{name: "F06 HTTP/2.0 on the HTTP/1 port", req: "GET /rec/$ID HTTP/2.0\r\nHost: gw.test\r\n\r\n", status: 505, close: true},
		{name: "F07 HTTP/9.9", req: "GET /rec/$ID HTTP/9.9\r\nHost: gw.test\r\n\r\n", status: 505, close: true},
		{name: "F08 bare LF line ends are accepted", req: "GET /rec/$ID HTTP/1.1\nHost: gw.test\nX-A: 1\n\n", status: 200, reach: true},
		{name: "F09 bare CR in the head", req: confGet("X-A: a\rb\r\n"), status: 400, close: true},

		// Field lines.
		{name: "F10 whitespace between field name and colon", req: confPost("Transfer-Encoding : chunked\r\n") + confChunkedHello, status: 400, close: true},
		{name: "F11 space inside a field name", req: confGet("Bad Name: x\r\n"), status: 400, close: true},
		{name: "F12 obs-fold continuation line", req: confGet("X-Folded: a\r\n b\r\n"), status: 400, close: true},
		{name: "F13 NUL in a field value", req: confGet("X-A: a\x00b\r\n"), status: 400, close: true},
		{name: "F14 control character in a field value", req: confGet("X-A: a\x01b\r\n"), status: 400, close: true},
		{name: "F15 DEL in a field value", req: confGet("X-A: a\x7fb\r\n"), status: 400, close: true},
		{name: "F16 HTAB inside a field value is accepted", req: confGet("X-Tab: a\tb\r\n"), status: 200, reach: true,
			check: func(t *testing.T, r *confResp, seen []confSeen) {
				if len(seen) > 0 && seen[0].Header.Get("X-Tab") != "a\tb" {
					t.Errorf("X-Tab reached the node as %q, want %q", seen[0].Header.Get("X-Tab"), "a\tb")
				}
			}},
		{name: "F17 header section over 32 KiB", req: confGet("X-Big: " + strings.Repeat("a", 33<<10) + "\r\n"), status: 431, close: true},
		{name: "F18 more than 100 field lines", req: confGet(manyFields(101)), status: 431, close: true},
		{name: "F19 90 field lines are accepted", req: confGet(manyFields(90)), status: 200, reach: true},

		// Host.
		{name: "F20 HTTP/1.1 without Host", req: "GET /rec/$ID HTTP/1.1\r\nX-A: 1\r\n\r\n", status: 400, close: true},
		{name: "F21 two Host fields", req: "GET /rec/$ID HTTP/1.1\r\nHost: gw.test\r\nHost: other.test\r\n\r\n", status: 400, close: true},
		{name: "F22 userinfo in Host", req: "GET /rec/$ID HTTP/1.1\r\nHost: admin:hunter2@127.0.0.1\r\n\r\n", status: 400, close: true},
		{name: "F23 slash in Host", req: "GET /rec/$ID HTTP/1.1\r\nHost: gw.test/x\r\n\r\n", status: 400, close: true},
		{name: "F24 space in Host", req: "GET /rec/$ID HTTP/1.1\r\nHost: gw .test\r\n\r\n", status: 400, close: true},

		// Request targets.
		{name: "F25 absolute-form routes by its authority", req: "GET http://abs.example/who/$ID HTTP/1.1\r\nHost: gw.test\r\n\r\n",
			status: 200, reach: true, check: absolute("abs.example")},
		{name: "F26 absolute-form authority keeps its port in X-Forwarded-Host", req: "GET http://abs.example:8080/who/$ID HTTP/1.1\r\nHost: gw.test\r\n\r\n",
			status: 200, reach: true, check: absolute("abs.example:8080")},
		{name: "F27 userinfo in an absolute-form target", req: "GET http://admin:hunter2@abs.example/who/$ID HTTP/1.1\r\nHost: abs.example\r\n\r\n",
			status: 400, close: true},
		{name: "F28 CONNECT", req: "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", status: 501, close: true},
		{name: "F29 asterisk-form with GET", req: "GET * HTTP/1.1\r\nHost: gw.test\r\n\r\n", status: 400, close: true},
		{name: "F30 asterisk-form with OPTIONS is accepted", req: "OPTIONS * HTTP/1.1\r\nHost: gw.test\r\n\r\n",
			check: func(t *testing.T, r *confResp, seen []confSeen) {
				if r.Status == 400 || r.Status >= 500 {
					t.Errorf("OPTIONS * answered %s, want an ordinary answer (not 400 nor 5xx)", r)
				}
			}},

		// Transfer-Encoding.
		{name: "F31 Transfer-Encoding chunked, chunked", req: confPost("Transfer-Encoding: chunked, chunked\r\n") + confChunkedHello, status: 501, close: true},
		{name: "F32 Transfer-Encoding gzip, chunked", req: confPost("Transfer-Encoding: gzip, chunked\r\n") + confChunkedHello, status: 501, close: true},
		{name: "F33 Transfer-Encoding identity", req: confPost("Transfer-Encoding: identity\r\n"), status: 501, close: true},
		{name: "F34 Transfer-Encoding is case-insensitive", req: confPost("Transfer-Encoding: Chunked\r\n") + confChunkedHello,
			status: 200, reach: true, check: wantBody("hello")},
		{name: "F35 two Transfer-Encoding field lines", req: confPost("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") + confChunkedHello, status: 400, close: true},
		{name: "F36 Transfer-Encoding in an HTTP/1.0 request", req: "POST /rec/$ID HTTP/1.0\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n" + confChunkedHello, status: 400, close: true},

		// Content-Length.
		{name: "F37 two equal Content-Length field lines", req: confPost("Content-Length: 5\r\nContent-Length: 5\r\n") + "hello", status: 400, close: true},
		{name: "F38 Content-Length list", req: confPost("Content-Length: 5, 5\r\n") + "hello", status: 400, close: true},
		{name: "F39 Content-Length with a sign", req: confPost("Content-Length: +5\r\n") + "hello", status: 400, close: true},
		{name: "F40 Content-Length in hex", req: confPost("Content-Length: 0x5\r\n") + "hello", status: 400, close: true},
		{name: "F41 negative Content-Length", req: confPost("Content-Length: -1\r\n") + "hello", status: 400, close: true},
		{name: "F42 space inside Content-Length", req: confPost("Content-Length: 1 0\r\n") + "helloworld", status: 400, close: true},
		{name: "F43 Content-Length of 19 digits", req: confPost("Content-Length: 1000000000000000000\r\n") + "hello", status: 400, close: true},
		{name: "F44 Content-Length and chunked: chunked framing, then close", req: confPost("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n") + confChunkedHello,
			status: 200, close: true, reach: true, check: func(t *testing.T, r *confResp, seen []confSeen) {
				if len(seen) == 0 {
					return
				}
				if string(seen[0].Body) != "hello" {
					t.Errorf("the node received body %q, want the chunked body %q", seen[0].Body, "hello")
				}
				if cl := seen[0].Header.Get("Content-Length"); cl == "3" {
					t.Errorf("the client's Content-Length: 3 reached the node beside a chunked body")
				}
			}},
		{name: "F45 Content-Length and chunked: bytes after the chunked body never run",
			req:    confPost(fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len("0\r\n\r\n")+len(confSmuggle("F45")))) + "0\r\n\r\n" + confSmuggle("F45"),
			status: 200, close: true, reach: true},

		// HTTP/1.0.
		{name: "F46 an HTTP/1.0 request reaches the node as HTTP/1.1", req: "GET /rec/$ID HTTP/1.0\r\nHost: gw.test\r\n\r\n",
			status: 200, closed: true, reach: true, check: func(t *testing.T, r *confResp, seen []confSeen) {
				if len(seen) > 0 && seen[0].Proto != "HTTP/1.1" {
					t.Errorf("the node received %s, want HTTP/1.1", seen[0].Proto)
				}
			}},
		{name: "F47 HTTP/1.0 without Host is accepted", req: "GET /rec/$ID HTTP/1.0\r\n\r\n", status: 200, closed: true, reach: true},

		// Chunked bodies.
		{name: "C01 chunk size that is not hex", req: confPost("Transfer-Encoding: chunked\r\n") + "zz\r\nhello\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C02 chunk size with 0x", req: confPost("Transfer-Encoding: chunked\r\n") + "0x5\r\nhello\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C03 negative chunk size", req: confPost("Transfer-Encoding: chunked\r\n") + "-5\r\nhello\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C04 space before the chunk size", req: confPost("Transfer-Encoding: chunked\r\n") + " 5\r\nhello\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C05 chunk size of 17 hex digits", req: confPost("Transfer-Encoding: chunked\r\n") + "00000000000000005\r\nhello\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C06 chunk data longer than its size", req: confPost("Transfer-Encoding: chunked\r\n") + "5\r\nhelloEXTRA\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C07 bare LF after the chunk size", req: confPost("Transfer-Encoding: chunked\r\n") + "5\nhello\r\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C08 bare LF after the chunk data", req: confPost("Transfer-Encoding: chunked\r\n") + "5\r\nhello\n0\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C09 malformed trailer field", req: confPost("Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n", status: 400, close: true, partial: true},
		{name: "C10 chunk extensions are accepted and dropped", req: confPost("Transfer-Encoding: chunked\r\n") + "5;ext=1\r\nhello\r\n0;last\r\n\r\n",
			status: 200, reach: true, check: func(t *testing.T, r *confResp, seen []confSeen) {
				if len(seen) == 0 {
					return
				}
				if string(seen[0].Body) != "hello" {
					t.Errorf("the node received body %q, want %q", seen[0].Body, "hello")
				}
				if seen[0].ChunkExt {
					t.Errorf("a chunk extension reached the node")
				}
			}},
		{name: "C11 broken chunk after 100 KiB was forwarded",
			req:    confPost("Transfer-Encoding: chunked\r\n") + strings.Repeat("1000\r\n"+strings.Repeat("c", 4096)+"\r\n", 25) + "zz\r\nhello\r\n0\r\n\r\n",
			status: 400, close: true, partial: true},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id, _, _ := strings.Cut(c.name, " ")
			req := confReq(id, c.req)
			if c.status >= 400 && c.close {
				req += confSmuggle(id) // must never run
			}
			method := c.method
			if method == "" {
				method, _, _ = strings.Cut(req, " ")
			}
			cc := confDial(t, g)
			_ = cc.send(req)
			r, err := cc.read(method)
			if err != nil {
				t.Fatalf("no answer from the gateway: %v", err)
			}
			switch {
			case c.status >= 400:
				confWantError(t, r, c.status)
			case c.status != 0 && r.Status != c.status:
				t.Errorf("got %s, want %d", r, c.status)
			}
			switch {
			case c.close:
				if !r.Close {
					t.Errorf("the %d has no Connection: close", r.Status)
				}
				cc.wantClosed(t)
			case c.closed:
				cc.wantClosed(t)
			default:
				cc.wantQuiet(t)
			}
			seen := n.requests(id)
			var forwarded []confSeen
			for _, s := range seen {
				if !strings.Contains(s.Target, "SMUGGLED") {
					forwarded = append(forwarded, s)
				}
			}
			switch {
			case c.reach:
				if len(forwarded) != 1 {
					t.Errorf("the node received %d requests, want 1", len(forwarded))
				} else if !forwarded[0].Complete {
					t.Errorf("the node received an incomplete body: %s", forwarded[0])
				}
			case c.partial:
				for _, s := range forwarded {
					if s.Complete {
						t.Errorf("the node received a broken request as complete:\n%s", s)
					}
				}
			case c.status != 0:
				if len(forwarded) > 0 {
					t.Errorf("the node received a request the gateway must refuse:\n%s", forwarded[0])
				}
			}
			confWantNoSmuggled(t, n, id)
			if c.check != nil {
				c.check(t, r, forwarded)
			}
		})
	}
}

// TestConformanceExpectAndBodyLimit: Expect: 100-continue is answered only
// when the body is really wanted, a body over --max-body is refused before
// it is read, and other Expect values are refused.
func TestConformanceExpectAndBodyLimit(t *testing.T) {
	t.Parallel()
	n := confNewNode(t)
	deadHost, deadPort := deadAddr(t)
	g := startGateway(t, "--max-body", "1MiB")
	ch := g.admin.createChannel(httpChannel(n.node()))
	dead := httpChannel(node{Host: deadHost, Port: deadPort, Weight: 1})
	dead.Retries = 1
	deadCh := g.admin.createChannel(dead)
	confService(g, "conf", nil, nil, "release",
		confRecAPI(ch.ID),
		channelAPI("dead", "ANY", "/dead", deadCh.ID, "/dead"),
		mockAPI("mock", "ANY", "/mock", mock{Status: 200, Body: "mocked"}))

	t.Run("E01 Content-Length over --max-body with Expect: 413 at once, no 100", func(t *testing.T) {
		t.Parallel()
		cc := confDial(t, g)
		cc.mustSend(confReq("E01", confPost("Content-Length: 2097152\r\nExpect: 100-continue\r\n")))
		r, err := cc.read(http.MethodPost)
		if err != nil {
			t.Fatalf("no answer before the body was sent (the gateway waits for a body it will refuse): %v", err)
		}
		if r.Status == http.StatusContinue {
			t.Fatalf("the gateway sent 100 Continue for a body over --max-body")
		}
		confWantError(t, r, http.StatusRequestEntityTooLarge)
		// The body was never sent, so any answer at all proves the gateway
		// did not wait for it; the bound only catches one that answers on a
		// timer.
		if r.After > 3*time.Second {
			t.Errorf("413 after %s, want it at once", r.After.Round(time.Millisecond))
		}
		if !r.Close {
			t.Errorf("the 413 has no Connection: close")
		}
		cc.wantClosed(t)
		confWantNotReached(t, n, "E01")
	})

	t.Run("E02 acceptable Content-Length with Expect: 100 Continue, then the node's answer", func(t *testing.T) {
		t.Parallel()
		cc := confDial(t, g)
		cc.mustSend(confReq("E02", confPost("Content-Length: 1000\r\nExpect: 100-continue\r\n")))
		r := cc.mustRead(http.MethodPost)
		if r.Status != http.StatusContinue {
			t.Fatalf("first answer %s, want 100 Continue before the body is sent", r)
		}
		cc.mustSend(strings.Repeat("e", 1000))
		final, interim, err := cc.readFinal(http.MethodPost)
		if err != nil {
			t.Fatalf("no answer after the body: %v", err)
		}
		if len(interim) > 0 {
			t.Errorf("%d more interim answers after the 100 (the node's 100 must be dropped)", len(interim))
		}
		if final.Status != 200 || string(final.Body) != "node /rec/E02" {
			t.Errorf("got %s, want the node's 200", final)
		}
		if seen := n.requests("E02"); len(seen) != 1 || len(seen[0].Body) != 1000 {
			t.Errorf("the node received %d requests, want 1 with the 1000-byte body", len(seen))
		}
	})

	selfAnswered := []struct{ name, path string }{
		{"E03 Expect on a path with no API: 404, no 100", "/nothing/E03"},
		{"E04 Expect on a mock API: the mock's answer, no 100", "/mock/E04"},
	}
	for _, c := range selfAnswered {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cc := confDial(t, g)
			cc.mustSend("POST " + c.path + " HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
			r, err := cc.read(http.MethodPost)
			if err != nil {
				t.Fatalf("no answer without the body (the gateway waits for a body it does not need): %v", err)
			}
			if r.Status == http.StatusContinue {
				t.Fatalf("the gateway sent 100 Continue for a request it answers itself")
			}
			if strings.HasPrefix(c.path, "/mock") {
				if r.Status != 200 || string(r.Body) != "mocked" {
					t.Errorf("got %s, want the mock's 200", r)
				}
			} else {
				confWantError(t, r, http.StatusNotFound)
			}
		})
	}

	t.Run("E05 Expect with another value: 417", func(t *testing.T) {
		t.Parallel()
		cc := confDial(t, g)
		cc.mustSend(confReq("E05", confPost("Content-Length: 5\r\nExpect: something-else\r\n")) + "hello")
		r := cc.mustRead(http.MethodPost)
		confWantError(t, r, http.StatusExpectationFailed)
		confWantNotReached(t, n, "E05")
	})

	t.Run("E06 Expect to a dead node does not hang: 502", func(t *testing.T) {
		t.Parallel()
		cc := confDial(t, g)
		cc.mustSend("POST /dead/E06 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 16\r\nExpect: 100-continue\r\n\r\n")
		r := cc.mustRead(http.MethodPost)
		if r.Status == http.StatusContinue {
			cc.mustSend(`{"test": "data"}`)
			r = cc.mustRead(http.MethodPost)
		}
		confWantError(t, r, http.StatusBadGateway)
	})

	t.Run("E07 Content-Length over --max-body without Expect: 413 close", func(t *testing.T) {
		t.Parallel()
		cc := confDial(t, g)
		go func() {
			_ = cc.send(confReq("E07", confPost("Content-Length: 2097152\r\n")) + strings.Repeat("b", 2<<20))
		}()
		r := cc.mustRead(http.MethodPost)
		confWantError(t, r, http.StatusRequestEntityTooLarge)
		if !r.Close {
			t.Errorf("the 413 has no Connection: close")
		}
		confWantNotReached(t, n, "E07")
	})

	t.Run("E08 chunked body growing past --max-body: 413 close, the node never gets it whole", func(t *testing.T) {
		t.Parallel()
		cc := confDial(t, g)
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("b", 64<<10))
		go func() {
			_ = cc.send(confReq("E08", confPost("Transfer-Encoding: chunked\r\n")) + strings.Repeat(chunk, 24) + "0\r\n\r\n")
		}()
		r := cc.mustRead(http.MethodPost)
		confWantError(t, r, http.StatusRequestEntityTooLarge)
		if !r.Close {
			t.Errorf("the 413 has no Connection: close")
		}
		time.Sleep(confQuietTime)
		for _, s := range n.requests("E08") {
			if s.Complete {
				t.Errorf("the node received a %d-byte body through --max-body 1MiB as complete", len(s.Body))
			}
		}
	})
}
