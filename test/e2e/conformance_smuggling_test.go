package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConformanceUnreadBodies: a request the gateway answers itself still
// has its body read (or the connection closed), so that a request hidden in
// that body never runs. Each body is about 16 000 bytes and carries a
// complete GET /rec/<id>/SMUGGLED to an API that forwards to the recording
// node, at its end or at its start.
func TestConformanceUnreadBodies(t *testing.T) {
	t.Parallel()
	n := confNewNode(t)
	deadHost, deadPort := deadAddr(t)
	g := startGateway(t)
	small := startGateway(t, "--max-body", "4KiB")

	ch := g.admin.createChannel(httpChannel(n.node()))
	dead := httpChannel(node{Host: deadHost, Port: deadPort, Weight: 1})
	dead.Retries = 1
	deadCh := g.admin.createChannel(dead)
	confService(g, "conf", nil, nil, "release",
		confRecAPI(ch.ID),
		channelAPI("getonly", "GET", "/getonly", ch.ID, "/getonly"),
		mockAPI("mock", "ANY", "/mock", mock{Status: 200, Body: "mocked"}),
		channelAPI("dead", "ANY", "/dead", deadCh.ID, "/dead"),
		channelAPI("closing", "ANY", "/closing", ch.ID, "/closing"))
	confService(g, "confsecure", []string{"https"}, nil, "release",
		mockAPI("secure", "ANY", "/secure", mock{Status: 200, Body: "secret"}))
	smallCh := small.admin.createChannel(httpChannel(n.node()))
	confService(small, "conf", nil, nil, "release", confRecAPI(smallCh.ID))

	type kind struct {
		what   string
		gw     *gateway
		path   string // with $ID
		status int
		close  bool
		size   int
	}
	kinds := []kind{
		{"404 (no API)", g, "/nothing/$ID", 404, false, 16000},
		{"405 (method not allowed)", g, "/getonly/$ID", 405, false, 16000},
		{"426 (https-only service)", g, "/secure/$ID", 426, false, 16000},
		{"413 (over --max-body)", small, "/rec/$ID", 413, true, 16000},
		{"mock answer", g, "/mock/$ID", 200, false, 16000},
		{"502 (dead node)", g, "/dead/$ID", 502, false, 16000},
		{"502 (node closes during the upload)", g, "/closing/$ID", 502, false, 16000},
		{"404 with a 100 KiB body (over the 64 KiB discarded)", g, "/nothing/$ID", 404, true, 100 << 10},
	}
	i := 0
	for _, k := range kinds {
		for _, atStart := range []bool{false, true} {
			if k.size > 16000 && atStart {
				continue
			}
			i++
			id := fmt.Sprintf("S%02d", i)
			where := "ends"
			if atStart {
				where = "starts"
			}
			t.Run(fmt.Sprintf("%s %s, body %s with a request", id, k.what, where), func(t *testing.T) {
				t.Parallel()
				if strings.HasPrefix(k.path, "/closing/") {
					// The node reads the head and 100 bytes of the body,
					// then drops the connection.
					n.handle(id, func(nc *confNodeConn, s *confSeen) bool {
						_, _ = io.ReadFull(nc.br, make([]byte, 100))
						return false
					})
				}
				smuggled := confSmuggle(id)
				pad := strings.Repeat("a", k.size-len(smuggled))
				body := pad + smuggled
				if atStart {
					body = smuggled + pad
				}
				path := strings.ReplaceAll(k.path, "$ID", id)
				req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", path, confHost, len(body), body)
				cc := confDial(t, k.gw)
				_ = cc.send(req)
				r, err := cc.read(http.MethodPost)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				if k.status == 200 {
					if r.Status != 200 || string(r.Body) != "mocked" {
						t.Errorf("got %s, want the mock's 200", r)
					}
				} else {
					confWantError(t, r, k.status)
				}
				if k.close {
					if !r.Close {
						t.Errorf("the %d has no Connection: close", r.Status)
					}
					cc.wantClosed(t)
				} else {
					cc.wantQuiet(t)
				}
				confWantNoSmuggled(t, n, id)
			})
		}
	}
}

// TestConformanceNodeDesync: what a node sends beyond or instead of a
// well-formed answer is never given to another client. Each case has its own
// node (so its own connection pool): client A's request makes the node
// misbehave, then client B, on a new connection, must get its own answer.
func TestConformanceNodeDesync(t *testing.T) {
	t.Parallel()
	const leftover = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nLEFTOVER"
	cases := []struct {
		name  string
		reply string        // the node's answer to A, written at once
		later string        // written after a pause, the connection kept
		want  int           // A's status
		body  string        // A's body when want is 200
		pause time.Duration // between A's answer and B's request
	}{
		{name: "D01 extra complete response after a Content-Length response",
			reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + leftover, want: 200, body: "first"},
		{name: "D02 extra response arriving after the answer",
			reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", later: leftover, want: 200, body: "first", pause: 200 * time.Millisecond},
		{name: "D03 body longer than its Content-Length",
			reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstEXTRA-BYTES\r\n\r\n", want: 200, body: "first"},
		{name: "D04 extra bytes after a chunked response",
			reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n" + leftover, want: 200, body: "first"},
		{name: "D05 unsolicited 101 Switching Protocols",
			reply: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + leftover, want: 502},
		{name: "D06 Content-Length and Transfer-Encoding in a response",
			reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + leftover, want: 502},
		{name: "D07 two different Content-Length values",
			reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 8\r\n\r\nfirst" + leftover, want: 502},
		{name: "D08 malformed status line",
			reply: "HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nfirst" + leftover, want: 502},
		{name: "D09 whitespace before the colon of a response field",
			reply: "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nfirst" + leftover, want: 502},
	}

	g := startGateway(t)
	nodes := make([]*confNode, len(cases))
	var apis []api
	for i := range cases {
		nodes[i] = confNewNode(t)
		c := httpChannel(nodes[i].node())
		c.Retries = 1
		ch := g.admin.createChannel(c)
		p := fmt.Sprintf("/d%02d", i+1)
		apis = append(apis, channelAPI(p[1:], "ANY", p, ch.ID, p))
	}
	confService(g, "desync", nil, nil, "release", apis...)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := nodes[i]
			prefix := fmt.Sprintf("/d%02d/", i+1)
			idA, idB := c.name[:3]+"-a", c.name[:3]+"-b"
			n.handle(idA, func(nc *confNodeConn, s *confSeen) bool {
				nc.readBody(s)
				if nc.write(c.reply) != nil {
					return false
				}
				if c.later != "" {
					time.Sleep(50 * time.Millisecond)
					if nc.write(c.later) != nil {
						return false
					}
				}
				return true // keep reading: a gateway that reuses this connection gets the leftover
			})

			a := confDial(t, g)
			a.mustSend("POST " + prefix + idA + " HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 0\r\n\r\n")
			r := a.mustRead(http.MethodPost)
			if c.want == 200 {
				if r.Status != 200 || string(r.Body) != c.body || r.BodyErr != nil {
					t.Errorf("client A got %s, want 200 %q", r, c.body)
				}
			} else {
				confWantError(t, r, c.want)
			}
			time.Sleep(c.pause + 20*time.Millisecond)

			for k := range 3 {
				b := confDial(t, g)
				id := fmt.Sprintf("%s%d", idB, k)
				b.mustSend("GET " + prefix + id + " HTTP/1.1\r\nHost: gw.test\r\n\r\n")
				r := b.mustRead(http.MethodGet)
				if want := "node " + prefix + id; r.Status != 200 || string(r.Body) != want {
					t.Fatalf("client %d after A got %s, want 200 %q: the node's bytes meant for nobody went to another client", k+1, r, want)
				}
			}
		})
	}
}
