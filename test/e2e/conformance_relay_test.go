package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

// confExchange is what one relay case sent and got.
type confExchange struct {
	id      string
	cc      *confClient
	final   *confResp
	interim []*confResp
	seen    []confSeen // what the node received for the case, SMUGGLED excluded
}

// confRelayCase is one request through the gateway to a node that answers
// with handler (confDefault when nil).
type confRelayCase struct {
	name    string // starts with the case id
	handler confHandler
	req     string // raw, $ID replaced by the case id
	check   func(t *testing.T, x *confExchange)
}

// confFollowUp checks that the client connection still serves a request
// after x's answer: proof that the answer was framed exactly.
func confFollowUp(t *testing.T, x *confExchange) {
	t.Helper()
	if x.final.Close {
		return
	}
	id := x.id + "-next"
	x.cc.mustSend("GET /rec/" + id + " HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	r, err := x.cc.read(http.MethodGet)
	if err != nil {
		t.Fatalf("the next request on the connection got no answer: %v", err)
	}
	if want := "node /rec/" + id; r.Status != 200 || string(r.Body) != want {
		t.Errorf("the next request on the connection got %s, want 200 %q", r, want)
	}
}

// confNodeSaw returns the single request the node received, failing the
// test otherwise.
func confNodeSaw(t *testing.T, x *confExchange) confSeen {
	t.Helper()
	if len(x.seen) != 1 {
		t.Fatalf("the node received %d requests, want 1", len(x.seen))
	}
	return x.seen[0]
}

// confMultipart is a multipart/form-data body with binary parts that hold
// CRLFs, NULs, boundary look-alikes and an HTTP request.
func confMultipart(seed byte, fileSize int) (contentType string, body []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.SetBoundary("conf-boundary-" + fmt.Sprint(seed))
	_ = w.WriteField("name", "value with spaces\r\nand a second line")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="blob.bin"`)
	h.Set("Content-Type", "application/octet-stream")
	part, _ := w.CreatePart(h)
	data := make([]byte, fileSize)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	copy(data[100:], "\r\n--conf-boundary-x\r\n\x00\x00\r\n\r\nGET /rec/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n")
	_, _ = part.Write(data)
	_ = w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// confChunk frames body as chunks of irregular sizes.
func confChunk(body []byte) string {
	var b strings.Builder
	sizes := []int{1, 7, 4096, 3, 65536, 100}
	for i := 0; len(body) > 0; i++ {
		k := min(sizes[i%len(sizes)], len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// TestConformanceRelay: what the node receives of a request, and what the
// client receives of the node's answer: interim answers, trailers, hop-by-hop
// fields, forwarding fields, bodies without a length, and nothing invented.
func TestConformanceRelay(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	shared := confNewNode(t)
	ch := g.admin.createChannel(httpChannel(shared.node()))
	confService(g, "conf", nil, nil, "release", confRecAPI(ch.ID))
	// Each case has its own node behind its own API, /rec/<id>, so that a
	// node connection left out of step by one case (a gateway bug) cannot
	// make another case fail; follow-up requests go to the shared node.
	nodes := map[string]*confNode{}
	caseAPI := func(id string) api {
		n := confNewNode(t)
		nodes[id] = n
		ch := g.admin.createChannel(httpChannel(n.node()))
		return channelAPI(strings.ToLower(id), "ANY", "/rec/"+id, ch.ID, "/rec/"+id)
	}

	const hello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	const early = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
	wantFinal := func(t *testing.T, x *confExchange, status int, body string) {
		t.Helper()
		if x.final.Status != status || string(x.final.Body) != body || x.final.BodyErr != nil {
			t.Errorf("got %s, want %d %q", x.final, status, body)
		}
	}
	absent := func(t *testing.T, where string, h http.Header, names ...string) {
		t.Helper()
		for _, name := range names {
			if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
				t.Errorf("%s has %s: %q", where, name, v)
			}
		}
	}
	multipartCase := func(name string, seed byte, size int, chunked bool) confRelayCase {
		ct, body := confMultipart(seed, size)
		req := confPost("Content-Type: "+ct+"\r\n"+fmt.Sprintf("Content-Length: %d\r\n", len(body))) + string(body)
		if chunked {
			req = confPost("Content-Type: "+ct+"\r\nTransfer-Encoding: chunked\r\n") + confChunk(body)
		}
		return confRelayCase{name: name, req: req, check: func(t *testing.T, x *confExchange) {
			s := confNodeSaw(t, x)
			wantFinal(t, x, 200, "node /rec/"+x.id)
			if got := s.Header.Get("Content-Type"); got != ct {
				t.Errorf("Content-Type %q reached the node as %q", ct, got)
			}
			if !bytes.Equal(s.Body, body) {
				t.Errorf("the multipart body (%d bytes) reached the node changed (%d bytes):\n%s", len(body), len(s.Body), s)
			}
			if !chunked && s.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
				t.Errorf("Content-Length %d reached the node as %q", len(body), s.Header.Get("Content-Length"))
			}
		}}
	}
	closeDelimited := bytes.Repeat([]byte("0123456789abcdef"), (200<<10)/16)

	cases := []confRelayCase{
		{name: "R01 103 Early Hints reaches an HTTP/1.1 client before the answer",
			handler: func(nc *confNodeConn, s *confSeen) bool {
				nc.readBody(s)
				_ = nc.write(early)
				time.Sleep(20 * time.Millisecond)
				return nc.write(hello) == nil
			},
			req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if len(x.interim) != 1 || x.interim[0].Status != 103 {
					t.Fatalf("interim answers %v, want one 103", x.interim)
				}
				if got := x.interim[0].Header.Get("Link"); got != "</style.css>; rel=preload; as=style" {
					t.Errorf("the 103's Link is %q", got)
				}
				wantFinal(t, x, 200, "hello")
			}},
		{name: "R02 several 1xx answers in order",
			handler: confReply(early + "HTTP/1.1 102 Processing\r\n\r\n" +
				"HTTP/1.1 103 Early Hints\r\nLink: </script.js>; rel=preload; as=script\r\n\r\n" + hello),
			req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				var got []int
				for _, r := range x.interim {
					got = append(got, r.Status)
				}
				if !slices.Equal(got, []int{103, 102, 103}) {
					t.Errorf("interim answers %v, want [103 102 103]", got)
				}
				wantFinal(t, x, 200, "hello")
			}},
		{name: "R03 an HTTP/1.0 client gets no 1xx",
			handler: confReply(early + hello), req: "GET /rec/$ID HTTP/1.0\r\nHost: gw.test\r\n\r\n",
			check: func(t *testing.T, x *confExchange) {
				if len(x.interim) > 0 {
					t.Errorf("an HTTP/1.0 client got a %d", x.interim[0].Status)
				}
				wantFinal(t, x, 200, "hello")
			}},
		{name: "R04 a 100 Continue from the node is dropped",
			handler: confReply("HTTP/1.1 100 Continue\r\n\r\n" + hello), req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if len(x.interim) > 0 {
					t.Errorf("the client got a %d it did not ask for", x.interim[0].Status)
				}
				wantFinal(t, x, 200, "hello")
			}},
		{name: "R05 at most 10 interim answers are relayed",
			handler: confReply(strings.Repeat(early, 11) + hello), req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if len(x.interim) > 10 {
					t.Errorf("%d interim answers relayed for 11 sent, want at most 10 (more than 11: the request was tried again after answers reached the client)", len(x.interim))
				}
				if x.final.Status != 502 && x.final.Status != 200 {
					t.Errorf("after 11 interim answers the client got %s, want 502 (or the node's 200)", x.final)
				}
			}},
		{name: "R06 nothing invented on a request",
			req: confPost("Content-Length: 5\r\n") + "hello",
			check: func(t *testing.T, x *confExchange) {
				s := confNodeSaw(t, x)
				absent(t, "the node's request", s.Header, "Content-Type", "User-Agent", "Accept-Encoding", "Accept",
					"Authorization", "Cookie", "Transfer-Encoding", "Connection")
				if s.Header.Get("Content-Length") != "5" || string(s.Body) != "hello" {
					t.Errorf("the node got Content-Length %q and body %q, want 5 and hello", s.Header.Get("Content-Length"), s.Body)
				}
			}},
		{name: "R07 a GET without a body gets none",
			req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				s := confNodeSaw(t, x)
				if s.Chunked || len(s.Body) > 0 || (s.Header.Get("Content-Length") != "" && s.Header.Get("Content-Length") != "0") {
					t.Errorf("a GET without a body reached the node with one: %s", s)
				}
			}},
		{name: "R08 nothing invented on an answer",
			handler: confReply(hello), req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				wantFinal(t, x, 200, "hello")
				absent(t, "the answer", x.final.Header, "Content-Type", "Date", "Server")
				if x.final.Header.Get("X-Request-Id") == "" {
					t.Errorf("the answer has no X-Request-Id")
				}
			}},
		{name: "R09 204 has no body",
			handler: confReply("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"), req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				wantFinal(t, x, 204, "")
				absent(t, "the 204", x.final.Header, "Content-Type", "Transfer-Encoding")
				confFollowUp(t, x)
			}},
		{name: "R10 304 has no body",
			handler: confReply("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"), req: confGet("If-None-Match: \"v1\"\r\n"),
			check: func(t *testing.T, x *confExchange) {
				wantFinal(t, x, 304, "")
				absent(t, "the 304", x.final.Header, "Content-Type", "Transfer-Encoding")
				if x.final.Header.Get("ETag") != `"v1"` {
					t.Errorf("the 304 lost its ETag")
				}
				confFollowUp(t, x)
			}},
		{name: "R11 HEAD keeps Content-Length and has no body",
			handler: confReply("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"), req: "HEAD /rec/$ID HTTP/1.1\r\nHost: gw.test\r\n\r\n",
			check: func(t *testing.T, x *confExchange) {
				wantFinal(t, x, 200, "")
				if got := x.final.Header.Get("Content-Length"); got != "1234" {
					t.Errorf("the HEAD answer has Content-Length %q, want the node's 1234", got)
				}
				confFollowUp(t, x)
			}},
		{name: "R12 trailers of a chunked answer are relayed",
			handler: confReply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n" +
				"5\r\nhello\r\n0\r\nX-Trailer: trailer_value\r\nX-Unannounced-Trailer: unannounced_value\r\n\r\n"),
			req: confGet("TE: trailers\r\n"),
			check: func(t *testing.T, x *confExchange) {
				wantFinal(t, x, 200, "hello")
				if got := x.final.Trailer.Get("X-Trailer"); got != "trailer_value" {
					t.Errorf("trailer X-Trailer %q, want trailer_value", got)
				}
				if got := x.final.Trailer.Get("X-Unannounced-Trailer"); got != "unannounced_value" {
					t.Errorf("trailer X-Unannounced-Trailer %q, want unannounced_value", got)
				}
			}},
		{name: "R13 TE: trailers reaches the node",
			req: confGet("TE: trailers\r\n"),
			check: func(t *testing.T, x *confExchange) {
				if got := confNodeSaw(t, x).values("TE"); !slices.Equal(got, []string{"trailers"}) {
					t.Errorf("the node got TE %q, want [trailers]", got)
				}
			}},
		{name: "R14 a TE list with trailers reaches the node as TE: trailers",
			req: confGet("TE: deflate;q=0.5\r\nTE: gzip, trailers\r\n"),
			check: func(t *testing.T, x *confExchange) {
				if got := confNodeSaw(t, x).values("TE"); !slices.Equal(got, []string{"trailers"}) {
					t.Errorf("the node got TE %q, want [trailers]", got)
				}
			}},
		{name: "R15 TE without trailers is removed",
			req: confGet("TE: gzip\r\n"),
			check: func(t *testing.T, x *confExchange) {
				absent(t, "the node's request", confNodeSaw(t, x).Header, "TE")
			}},
		{name: "R16 request trailers reach the node",
			req: confPost("Transfer-Encoding: chunked\r\nTrailer: X-Req-Trailer\r\n") + "5\r\nhello\r\n0\r\nX-Req-Trailer: t1\r\n\r\n",
			check: func(t *testing.T, x *confExchange) {
				s := confNodeSaw(t, x)
				if !s.Chunked || string(s.Body) != "hello" {
					t.Errorf("the node got body %q (chunked %v), want hello, chunked", s.Body, s.Chunked)
				}
				if !slices.Contains(s.Trailer, confField{"X-Req-Trailer", "t1"}) {
					t.Errorf("the node got trailers %v, want X-Req-Trailer: t1", s.Trailer)
				}
			}},
		multipartCase("R17 a multipart body arrives byte for byte", 17, 10<<10, false),
		multipartCase("R18 a 300 KiB multipart body arrives byte for byte", 18, 300<<10, false),
		multipartCase("R19 a chunked multipart body arrives byte for byte", 19, 200<<10, true),
		{name: "R20 Upgrade to a plain http API is not passed",
			req: confGet("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
			check: func(t *testing.T, x *confExchange) {
				if x.final.Status == http.StatusSwitchingProtocols {
					t.Fatalf("the client got 101 from an API whose protocol is http")
				}
				wantFinal(t, x, 200, "node /rec/"+x.id)
				absent(t, "the node's request", confNodeSaw(t, x).Header, "Upgrade", "Connection")
			}},
		{name: "R21 hop-by-hop request fields are removed",
			req: confGet("Connection: keep-alive, X-Hop-A\r\nConnection: X-Hop-B\r\nConnection:\r\nKeep-Alive: timeout=5\r\n" +
				"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Hop-A: a\r\nX-Hop-B: b\r\n" +
				"Upgrade: foo\r\nTrailer: X-T\r\nX-End-To-End: kept\r\n"),
			check: func(t *testing.T, x *confExchange) {
				s := confNodeSaw(t, x)
				absent(t, "the node's request", s.Header, "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
					"X-Hop-A", "X-Hop-B", "Upgrade", "Trailer")
				if s.Header.Get("X-End-To-End") != "kept" {
					t.Errorf("the end-to-end field X-End-To-End did not reach the node")
				}
			}},
		{name: "R22 hop-by-hop answer fields are removed, repeated fields kept",
			handler: confReply("HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop, keep-alive\r\nConnection: X-Resp-Hop2\r\n" +
				"Keep-Alive: timeout=3\r\nProxy-Connection: keep-alive\r\nProxy-Authenticate: Basic\r\nUpgrade: foo\r\n" +
				"X-Resp-Hop: 1\r\nX-Resp-Hop2: 2\r\nTrailers: not a special header field name\r\n" +
				"X-Multi-Value: foo\r\nX-Multi-Value: bar\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok"),
			req: confGet(""),
			check: func(t *testing.T, x *confExchange) {
				h := x.final.Header
				wantFinal(t, x, 200, "ok")
				absent(t, "the answer", h, "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade", "X-Resp-Hop", "X-Resp-Hop2")
				if confHasToken(h.Values("Connection"), "X-Resp-Hop") || confHasToken(h.Values("Connection"), "X-Resp-Hop2") {
					t.Errorf("the node's Connection tokens reached the client: %q", h.Values("Connection"))
				}
				if h.Get("Trailers") != "not a special header field name" {
					t.Errorf("the end-to-end field Trailers was removed")
				}
				if got := h.Values("X-Multi-Value"); !slices.Equal(got, []string{"foo", "bar"}) {
					t.Errorf("X-Multi-Value %q, want the two lines [foo bar]", got)
				}
				if got := h.Values("Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
					t.Errorf("Set-Cookie %q, want the two lines [a=1 b=2]", got)
				}
			}},
		{name: "R23 X-Forwarded-For appended across lines, X-Forwarded-Proto, -Host, X-Request-Id",
			req: "GET /rec/$ID HTTP/1.1\r\nHost: gw.test:8080\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n\r\n",
			check: func(t *testing.T, x *confExchange) {
				s := confNodeSaw(t, x)
				if got := s.values("X-Forwarded-For"); !slices.Equal(got, []string{"10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"}) {
					t.Errorf("X-Forwarded-For reached the node as %q, want one line 10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1", got)
				}
				if got := s.values("X-Forwarded-Proto"); !slices.Equal(got, []string{"http"}) {
					t.Errorf("X-Forwarded-Proto %q, want http", got)
				}
				if got := s.values("X-Forwarded-Host"); !slices.Equal(got, []string{"gw.test:8080"}) {
					t.Errorf("X-Forwarded-Host %q, want gw.test:8080 as sent", got)
				}
				if id := s.Header.Get("X-Request-Id"); id == "" || id != x.final.Header.Get("X-Request-Id") {
					t.Errorf("the node got X-Request-Id %q, the client %q", id, x.final.Header.Get("X-Request-Id"))
				}
			}},
		{name: "R24 a close-delimited answer is relayed whole",
			handler: confReplyClose("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + string(closeDelimited)),
			req:     confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if x.final.Status != 200 || x.final.BodyErr != nil || !bytes.Equal(x.final.Body, closeDelimited) {
					t.Errorf("got %s (%d bytes), want 200 with the node's %d bytes", x.final, len(x.final.Body), len(closeDelimited))
				}
			}},
		{name: "R25 an HTTP/1.0 node's answer is relayed whole",
			handler: confReplyClose("HTTP/1.0 200 OK\r\n\r\n" + string(closeDelimited[:50<<10])),
			req:     confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if x.final.Status != 200 || x.final.BodyErr != nil || !bytes.Equal(x.final.Body, closeDelimited[:50<<10]) {
					t.Errorf("got %s (%d bytes), want 200 with the node's %d bytes", x.final, len(x.final.Body), 50<<10)
				}
			}},
		{name: "R26 the query string is passed on unchanged",
			req: "GET /rec/$ID?a=1&a=2;b=3&c=%zz&d=%2F&e=a+b HTTP/1.1\r\nHost: gw.test\r\n\r\n",
			check: func(t *testing.T, x *confExchange) {
				s := confNodeSaw(t, x)
				if _, q, _ := strings.Cut(s.Target, "?"); q != "a=1&a=2;b=3&c=%zz&d=%2F&e=a+b" {
					t.Errorf("the node got query %q", q)
				}
			}},
		{name: "R27 field names keep their case and order",
			req: confGet("x-lower: 1\r\nX-UPPER: 2\r\nX-Mixed-Case: 3\r\nx-lower-2: 4\r\n"),
			check: func(t *testing.T, x *confExchange) {
				var got []string
				for _, f := range confNodeSaw(t, x).Fields {
					switch strings.ToLower(f.Name) {
					case "x-lower", "x-upper", "x-mixed-case", "x-lower-2":
						got = append(got, f.Name)
					}
				}
				if want := []string{"x-lower", "X-UPPER", "X-Mixed-Case", "x-lower-2"}; !slices.Equal(got, want) {
					t.Errorf("the node got the names %q, want %q", got, want)
				}
			}},
		{name: "R28 a node that hangs up without answering: 502",
			handler: func(nc *confNodeConn, s *confSeen) bool { return false },
			req:     confGet(""),
			check: func(t *testing.T, x *confExchange) {
				confWantError(t, x.final, http.StatusBadGateway)
			}},
		{name: "R29 a body cut short by the node is not passed off as complete",
			handler: confReplyClose("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 50)),
			req:     confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if x.final.Status == 200 && x.final.BodyErr == nil {
					t.Errorf("a 100-byte body cut at 50 bytes reached the client as a complete answer of %d bytes", len(x.final.Body))
				}
			}},
		{name: "R30 a chunked body cut short by the node is not passed off as complete",
			handler: confReplyClose("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
			req:     confGet(""),
			check: func(t *testing.T, x *confExchange) {
				if x.final.Status == 200 && x.final.BodyErr == nil {
					t.Errorf("a chunked body without its last chunk reached the client as a complete answer %q", x.final.Body)
				}
			}},
	}

	var apis []api
	for _, c := range cases {
		id, _, _ := strings.Cut(c.name, " ")
		apis = append(apis, caseAPI(id))
	}
	apis = append(apis, caseAPI("R31"))
	confService(g, "cases", nil, nil, "release", apis...)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id, _, _ := strings.Cut(c.name, " ")
			n := nodes[id]
			if c.handler != nil {
				n.handle(id, c.handler)
			}
			req := confReq(id, c.req)
			method, _, _ := strings.Cut(req, " ")
			x := &confExchange{id: id, cc: confDial(t, g)}
			x.cc.mustSend(req)
			var err error
			x.final, x.interim, err = x.cc.readFinal(method)
			if err != nil {
				t.Fatalf("no answer from the gateway: %v", err)
			}
			for _, s := range n.requests(id) {
				if !strings.Contains(s.Target, "SMUGGLED") {
					x.seen = append(x.seen, s)
				}
			}
			c.check(t, x)
		})
	}

	t.Run("R31 a client that goes away closes the node's connection", func(t *testing.T) {
		t.Parallel()
		// A gateway may call the node more than once (a retry); only the
		// first call reports.
		n := nodes["R31"]
		got := make(chan struct{}, 1)
		closed := make(chan bool, 1)
		n.handle("R31", func(nc *confNodeConn, s *confSeen) bool {
			nc.readBody(s)
			select {
			case got <- struct{}{}:
			default:
				return false
			}
			closed <- nc.waitClosed(5 * time.Second)
			return false
		})
		cc := confDial(t, g)
		cc.mustSend(confReq("R31", confGet("")))
		select {
		case <-got:
		case <-time.After(confReadTimeout):
			t.Fatalf("the request did not reach the node")
		}
		cc.c.Close()
		select {
		case ok := <-closed:
			if !ok {
				t.Errorf("the node's connection was still open 5 s after the client went away")
			}
		case <-time.After(8 * time.Second):
			t.Errorf("the node's handler did not finish")
		}
	})
}
