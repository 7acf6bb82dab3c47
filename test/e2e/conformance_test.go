package e2e

// The HTTP conformance suite: requests written byte by byte on raw TCP
// connections to the proxy port, and a recording node that reads what the
// gateway forwards byte by byte too, so that every assertion is about what
// went over the wire. docs/conformance.md lists every case with the rule it
// comes from; the case ids there (F01, S03, ...) start the subtest names, so
//
//	go test -race -count=1 -run 'Conformance.*/F10' ./test/e2e/
//
// runs one case. This file holds the harness; the cases are in
// conformance_*_test.go.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bounds of every socket exchange of the suite. A healthy gateway answers in
// milliseconds; these only keep a broken one from hanging the run.
const (
	confIOTimeout    = 15 * time.Second       // whole life of one client or node connection
	confReadTimeout  = 5 * time.Second        // waiting for one answer
	confCloseTimeout = 3 * time.Second        // waiting for a connection that must close
	confQuietTime    = 300 * time.Millisecond // watching for bytes that must not come
	confMaxBody      = 64 << 20               // largest body the recording node accepts
	confHost         = "gw.test"              // the Host the cases send
)

// confField is one header or trailer field line as it was received.
type confField struct {
	Name, Value string
}

// confSeen is one request as the recording node received it.
type confSeen struct {
	Conn     int    // the node's connection number, from 1
	Method   string // as received
	Target   string // request-target as received
	Proto    string // HTTP-version as received
	Fields   []confField
	Header   http.Header // Fields by canonical name
	Chunked  bool        // the body came with Transfer-Encoding
	ChunkExt bool        // a chunk line carried an extension
	Body     []byte      // decoded body, as far as it was read
	Complete bool        // the body was read to its framed end (true when there is none)
	BodyErr  string      // why the body is not complete
	Trailer  []confField
}

// path is the target without its query.
func (s confSeen) path() string {
	p, _, _ := strings.Cut(s.Target, "?")
	return p
}

// id is the second segment of the target's path: the case id, by the suite's
// convention that every forwarded path is /<api>/<id>[/...].
func (s confSeen) id() string {
	p := s.path()
	if i := strings.Index(p, "://"); i >= 0 { // absolute-form: drop scheme and authority
		p = p[i+3:]
		if j := strings.IndexByte(p, '/'); j >= 0 {
			p = p[j:]
		} else {
			p = "/"
		}
	}
	parts := strings.Split(p, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// values are the values of the field lines named name, in order.
func (s confSeen) values(name string) []string {
	var v []string
	for _, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			v = append(v, f.Value)
		}
	}
	return v
}

func (s confSeen) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s (conn %d)", s.Method, confShort([]byte(s.Target)), s.Proto, s.Conn)
	for i, f := range s.Fields {
		if i == 30 {
			fmt.Fprintf(&b, "\n\t... %d more fields", len(s.Fields)-i)
			break
		}
		fmt.Fprintf(&b, "\n\t%s: %s", f.Name, confShort([]byte(f.Value)))
	}
	fmt.Fprintf(&b, "\n\tbody %d bytes, chunked %v, complete %v %s", len(s.Body), s.Chunked, s.Complete, s.BodyErr)
	return b.String()
}

// confHandler answers one request at the node. It has the request head in s
// and reads the body with nc.readBody when it wants it. It returns whether
// the node keeps the connection for a next request.
type confHandler func(nc *confNodeConn, s *confSeen) (keep bool)

// confNode is the recording node: a TCP server on 127.0.0.1 that parses
// requests itself (so it sees field names, order and framing as sent),
// records them, and answers each with the handler registered for the
// request's case id, or confDefault.
type confNode struct {
	t    *testing.T
	ln   net.Listener
	port int

	mu       sync.Mutex
	seen     []confSeen
	handlers map[string]confHandler
	conns    map[net.Conn]struct{}
	nconn    int
}

func confNewNode(t *testing.T) *confNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &confNode{t: t, ln: ln, port: ln.Addr().(*net.TCPAddr).Port,
		handlers: map[string]confHandler{}, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		n.mu.Lock()
		for c := range n.conns {
			c.Close()
		}
		n.mu.Unlock()
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
			n.mu.Lock()
			n.nconn++
			id := n.nconn
			n.conns[c] = struct{}{}
			n.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.serveConn(c, id)
				n.mu.Lock()
				delete(n.conns, c)
				n.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return n
}

// node is the recording node as a channel node.
func (n *confNode) node() node { return node{Host: "127.0.0.1", Port: n.port, Weight: 1} }

// addr is the node's host:port, the Host a channel without host_header sends.
func (n *confNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// handle makes h answer the requests of case id.
func (n *confNode) handle(id string, h confHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[id] = h
}

// requests returns what the node received for case id, in order.
func (n *confNode) requests(id string) []confSeen {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []confSeen
	for _, s := range n.seen {
		if s.id() == id {
			out = append(out, s)
		}
	}
	return out
}

// smuggled returns the requests of case id whose target has SMUGGLED in it.
func (n *confNode) smuggled(id string) []confSeen {
	var out []confSeen
	for _, s := range n.requests(id) {
		if strings.Contains(s.Target, "SMUGGLED") {
			out = append(out, s)
		}
	}
	return out
}

func (n *confNode) record(s confSeen) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen = append(n.seen, s)
	return len(n.seen) - 1
}

func (n *confNode) update(i int, s confSeen) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen[i] = s
}

func (n *confNode) serveConn(c net.Conn, connID int) {
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		_ = c.SetDeadline(time.Now().Add(confIOTimeout))
		s, err := confReadHead(br)
		if err != nil {
			if s.Method != "" {
				s.Conn, s.BodyErr = connID, "bad head: "+err.Error()
				n.record(s)
			}
			return
		}
		s.Conn = connID
		s.Complete = !confHasBody(s)
		nc := &confNodeConn{n: n, c: c, br: br, idx: n.record(s)}
		h := confDefault
		if !strings.Contains(s.Target, "SMUGGLED") {
			n.mu.Lock()
			if x, ok := n.handlers[s.id()]; ok {
				h = x
			}
			n.mu.Unlock()
		}
		keep := h(nc, &s)
		n.update(nc.idx, s)
		if !keep {
			return
		}
	}
}

// confNodeConn is the node's side of one exchange.
type confNodeConn struct {
	n   *confNode
	c   net.Conn
	br  *bufio.Reader
	idx int
}

// write sends raw bytes to the gateway.
func (nc *confNodeConn) write(s string) error {
	_, err := io.WriteString(nc.c, s)
	return err
}

// readBody reads the request body by its framing into s (answering an
// Expect: 100-continue first, as net/http does) and records it before
// returning, so that the record is complete before any answer is written.
func (nc *confNodeConn) readBody(s *confSeen) {
	defer func() { nc.n.update(nc.idx, *s) }()
	if !confHasBody(*s) {
		s.Complete = true
		return
	}
	if strings.EqualFold(s.Header.Get("Expect"), "100-continue") {
		if err := nc.write("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			s.BodyErr = err.Error()
			return
		}
	}
	var err error
	if len(s.Header.Values("Transfer-Encoding")) > 0 {
		s.Chunked = true
		err = confReadChunked(nc.br, s)
	} else {
		var size int64
		size, err = strconv.ParseInt(s.Header.Get("Content-Length"), 10, 64)
		if err == nil && (size < 0 || size > confMaxBody) {
			err = fmt.Errorf("content-length %d out of range", size)
		}
		if err == nil {
			s.Body = make([]byte, size)
			var got int
			got, err = io.ReadFull(nc.br, s.Body)
			s.Body = s.Body[:got]
		}
	}
	s.Complete = err == nil
	if err != nil {
		s.BodyErr = err.Error()
	}
}

// waitClosed reports whether the gateway closes this node connection within
// d, reading and discarding whatever else comes.
func (nc *confNodeConn) waitClosed(d time.Duration) bool {
	_ = nc.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc.br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func confHasBody(s confSeen) bool {
	return len(s.Header.Values("Transfer-Encoding")) > 0 ||
		(s.Header.Get("Content-Length") != "" && s.Header.Get("Content-Length") != "0")
}

// confDefault reads the body and answers 200 with "node <target>", no
// Content-Type. Like a WebSocket server, it switches protocols when asked to,
// so that an upgrade the gateway should not pass shows at the client.
func confDefault(nc *confNodeConn, s *confSeen) bool {
	nc.readBody(s)
	if !s.Complete {
		return false
	}
	if s.Header.Get("Upgrade") != "" && confHasToken(s.Header.Values("Connection"), "upgrade") {
		_ = nc.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		return false
	}
	body := "node " + s.Target
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
	if s.Method == http.MethodHead {
		body = ""
	}
	return nc.write(head+body) == nil
}

// confReply is a handler that reads the body and answers raw.
func confReply(raw string) confHandler {
	return func(nc *confNodeConn, s *confSeen) bool {
		nc.readBody(s)
		return s.Complete && nc.write(raw) == nil
	}
}

// confReplyClose is confReply that closes the connection after the answer.
func confReplyClose(raw string) confHandler {
	return func(nc *confNodeConn, s *confSeen) bool {
		nc.readBody(s)
		_ = nc.write(raw)
		return false
	}
}

// confHasToken reports whether the comma-separated lists hold token (any
// case).
func confHasToken(lists []string, token string) bool {
	for _, l := range lists {
		for _, x := range strings.Split(l, ",") {
			if strings.EqualFold(strings.TrimSpace(x), token) {
				return true
			}
		}
	}
	return false
}

// confReadLine reads one line ending in LF (CR before it dropped).
func confReadLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > 128<<10 {
			return "", errors.New("line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	return string(line), nil
}

// confReadCRLF reads one line that must end in CRLF.
func confReadCRLF(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("line %q does not end in CRLF", line)
	}
	return strings.TrimSuffix(line, "\r\n"), nil
}

func confReadHead(br *bufio.Reader) (confSeen, error) {
	var s confSeen
	line, err := confReadLine(br)
	if err != nil {
		return s, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) != 3 {
		return s, fmt.Errorf("request line %q", line)
	}
	s.Method, s.Target, s.Proto = parts[0], parts[1], parts[2]
	s.Header = http.Header{}
	for {
		line, err := confReadLine(br)
		if err != nil {
			return s, err
		}
		if line == "" {
			return s, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return s, fmt.Errorf("field line %q", line)
		}
		value = strings.Trim(value, " \t")
		s.Fields = append(s.Fields, confField{name, value})
		s.Header.Add(name, value)
	}
}

// confReadChunked decodes a chunked body strictly (RFC 9112 7.1).
func confReadChunked(br *bufio.Reader, s *confSeen) error {
	for {
		line, err := confReadCRLF(br)
		if err != nil {
			return err
		}
		size, _, hasExt := strings.Cut(line, ";")
		if hasExt {
			s.ChunkExt = true
		}
		size = strings.TrimRight(size, " \t")
		n, err := strconv.ParseUint(size, 16, 64)
		if err != nil || size == "" || len(size) > 16 {
			return fmt.Errorf("chunk size %q", line)
		}
		if n == 0 {
			break
		}
		if uint64(len(s.Body))+n > confMaxBody {
			return errors.New("chunked body too large")
		}
		start := len(s.Body)
		s.Body = append(s.Body, make([]byte, n)...)
		got, err := io.ReadFull(br, s.Body[start:])
		s.Body = s.Body[:start+got]
		if err != nil {
			return err
		}
		if crlf, err := confReadCRLF(br); err != nil || crlf != "" {
			return fmt.Errorf("chunk data not followed by CRLF (%q, %v)", crlf, err)
		}
	}
	for {
		line, err := confReadCRLF(br)
		if err != nil {
			return err
		}
		if line == "" {
			return nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("trailer line %q", line)
		}
		s.Trailer = append(s.Trailer, confField{name, strings.Trim(value, " \t")})
	}
}

// confClient is one raw client connection to the proxy port.
type confClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func confDial(t *testing.T, g *gateway) *confClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the proxy port: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(confIOTimeout))
	t.Cleanup(func() { c.Close() })
	return &confClient{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes raw bytes. The gateway may close the connection before it has
// read them all (an early 413 or 400); that is not an error here, the answer
// is what the case checks.
func (cc *confClient) send(s string) error {
	_ = cc.c.SetWriteDeadline(time.Now().Add(confReadTimeout))
	_, err := io.WriteString(cc.c, s)
	return err
}

// mustSend is send that fails the test on an error.
func (cc *confClient) mustSend(s string) {
	cc.t.Helper()
	if err := cc.send(s); err != nil {
		cc.t.Fatalf("writing the request: %v", err)
	}
}

// confResp is one answer read from the gateway.
type confResp struct {
	Status  int
	Proto   string
	Header  http.Header
	Body    []byte
	BodyErr error // the body ended early or was malformed
	Trailer http.Header
	Close   bool // Connection: close, or HTTP/1.0 without keep-alive
	After   time.Duration
}

func (r *confResp) String() string {
	if r == nil {
		return "no answer"
	}
	s := fmt.Sprintf("%s %d %q", r.Proto, r.Status, confShort(r.Body))
	if r.BodyErr != nil {
		s += fmt.Sprintf(" (body error: %v)", r.BodyErr)
	}
	return s
}

// read reads one answer (an interim 1xx included) to a request of method,
// within confReadTimeout.
func (cc *confClient) read(method string) (*confResp, error) {
	start := time.Now()
	_ = cc.c.SetReadDeadline(start.Add(confReadTimeout))
	resp, err := http.ReadResponse(cc.br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	r := &confResp{Status: resp.StatusCode, Proto: resp.Proto, Header: resp.Header, Close: resp.Close}
	r.Body, r.BodyErr = io.ReadAll(resp.Body)
	resp.Body.Close()
	r.Trailer = resp.Trailer
	r.After = time.Since(start)
	return r, nil
}

// mustRead is read that fails the test when no answer comes.
func (cc *confClient) mustRead(method string) *confResp {
	cc.t.Helper()
	r, err := cc.read(method)
	if err != nil {
		cc.t.Fatalf("no answer from the gateway: %v", err)
	}
	return r
}

// readFinal reads answers until a final (non-1xx) one and returns it with
// the interim ones before it.
func (cc *confClient) readFinal(method string) (final *confResp, interim []*confResp, err error) {
	for range 100 {
		r, err := cc.read(method)
		if err != nil {
			if len(interim) > 0 {
				err = fmt.Errorf("after %d interim answer(s) (the first a %d): %w", len(interim), interim[0].Status, err)
			}
			return nil, interim, err
		}
		if r.Status >= 200 || r.Status == http.StatusSwitchingProtocols {
			return r, interim, nil
		}
		interim = append(interim, r)
	}
	var codes []int
	for _, r := range interim {
		codes = append(codes, r.Status)
	}
	return nil, interim, fmt.Errorf("more than 100 interim answers: %v", codes)
}

// wantClosed checks that the gateway closes the connection without sending
// anything more.
func (cc *confClient) wantClosed(t *testing.T) {
	t.Helper()
	_ = cc.c.SetReadDeadline(time.Now().Add(confCloseTimeout))
	buf := make([]byte, 4096)
	n, err := cc.br.Read(buf)
	switch {
	case n > 0:
		t.Errorf("after its answer the gateway sent more on a connection it must close: %q", confShort(buf[:n]))
	case confIsTimeout(err):
		t.Errorf("the connection is still open %s after an answer that must close it", confCloseTimeout)
	}
}

// wantQuiet checks that nothing more arrives for a while (the connection may
// stay open or close).
func (cc *confClient) wantQuiet(t *testing.T) {
	t.Helper()
	_ = cc.c.SetReadDeadline(time.Now().Add(confQuietTime))
	buf := make([]byte, 4096)
	if n, _ := cc.br.Read(buf); n > 0 {
		t.Errorf("the gateway sent more than one answer; after the first came: %q", confShort(buf[:n]))
	}
}

func confIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// confShort shortens b for a failure message.
func confShort(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return string(b)
}

// confWantError checks that r is the gateway's own JSON error with status.
func confWantError(t *testing.T, r *confResp, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("got %s, want the gateway's %d", r, status)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%d: Content-Type %q, want application/json", status, ct)
	}
	var e struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Message == "" || e.RequestID == "" {
		t.Errorf("%d: body %q is not the gateway's JSON error", status, confShort(r.Body))
		return
	}
	if h := r.Header.Get("X-Request-Id"); h != e.RequestID {
		t.Errorf("%d: X-Request-Id %q, body request_id %q", status, h, e.RequestID)
	}
}

// confReq puts the case id into the head of a raw request written with $ID;
// the body is left as it is.
func confReq(id, raw string) string {
	end := len(raw)
	for _, blank := range []string{"\r\n\r\n", "\n\n"} {
		if i := strings.Index(raw, blank); i >= 0 && i < end {
			end = i
		}
	}
	return strings.ReplaceAll(raw[:end], "$ID", id) + raw[end:]
}

// confSmuggle is a complete request that must never run: it sits inside a
// body or after a request the gateway must reject.
func confSmuggle(id string) string {
	return "GET /rec/" + id + "/SMUGGLED HTTP/1.1\r\nHost: " + confHost + "\r\n\r\n"
}

// confService creates a service with optional protocols and domains, adds
// apis and publishes it to env.
func confService(g *gateway, name string, protocols []string, domains []map[string]string, env string, apis ...api) {
	g.t.Helper()
	body := map[string]any{"name": name}
	if protocols != nil {
		body["protocols"] = protocols
	}
	if domains != nil {
		body["domains"] = domains
	}
	var out struct {
		ID string `json:"id"`
	}
	g.admin.write(http.MethodPost, "/services", body, http.StatusCreated, &out)
	for _, x := range apis {
		g.admin.createAPI(out.ID, x)
	}
	g.admin.publish(out.ID, env)
}

// confRecAPI is the API every case uses to reach the recording node:
// ANY /rec (and below) to the node's /rec.
func confRecAPI(chID string) api {
	return channelAPI("rec", "ANY", "/rec", chID, "/rec")
}

// confWantNotReached checks that the node saw nothing of case id.
func confWantNotReached(t *testing.T, n *confNode, id string) {
	t.Helper()
	if seen := n.requests(id); len(seen) > 0 {
		t.Errorf("the node received %d request(s) of a request the gateway must reject; the first:\n%s", len(seen), seen[0])
	}
}

// confWantNoSmuggled checks, after a moment for a late request to arrive,
// that no request hidden in case id's bytes reached the node.
func confWantNoSmuggled(t *testing.T, n *confNode, id string) {
	t.Helper()
	time.Sleep(confQuietTime)
	if s := n.smuggled(id); len(s) > 0 {
		t.Errorf("a request hidden in the bytes of another reached the node (request smuggling):\n%s", s[0])
	}
}
