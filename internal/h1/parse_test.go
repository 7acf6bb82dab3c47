package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

func readReq(raw string) (*Request, error) {
	var r Request
	err := r.Read(bufio.NewReader(strings.NewReader(raw)))
	return &r, err
}

func status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestRequestHeads(t *testing.T) {
	cases := []struct {
		name, raw string
		status    int // 0: accepted
	}{
		{"simple", "GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n", 0},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 0},
		{"absolute form", "GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 0},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", 0},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"value with obs-text and tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\tb\r\n\r\n", 0},

		{"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"space in name", "GET / HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nXA\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"userinfo in Host", "GET / HTTP/1.1\r\nHost: admin:hunter2@127.0.0.1\r\n\r\n", 400},
		{"userinfo in absolute form", "GET http://a:b@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"space in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"percent in Host", "GET / HTTP/1.1\r\nHost: exam%2Fple.com\r\n\r\n", 400},
		{"port not digits", "GET http://example.com:abc/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"bracket junk", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400},
		{"IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0},
		{"absolute form without Host", "GET http://h/ HTTP/1.1\r\n\r\n", 400},
		{"two TE lines", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"TE identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 501},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"two CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400},
		{"CL hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x1\r\n\r\n", 400},
		{"CL too long", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/9.9", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/1", "GET / HTTP/1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/0.9", "GET /\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"Expect other", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeadBytes) + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: 1\r\n", MaxFields) + "\r\n", 431},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readReq(c.raw)
			if got := status(err); got != c.status {
				t.Fatalf("status %d (%v), want %d", got, err, c.status)
			}
		})
	}
}

func TestRequestSemantics(t *testing.T) {
	r, err := readReq("GET http://Example.com:8080?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close, Upgrade\r\nUpgrade: websocket\r\nTE: trailers\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Host) != "Example.com:8080" || string(r.Path) != "/" || string(r.Query) != "q=1" || !r.HasQuery {
		t.Fatalf("absolute form: host %q path %q query %q", r.Host, r.Path, r.Query)
	}
	if !r.Close || string(r.Upgrade) != "websocket" || !r.TrailersOK {
		t.Fatalf("close %v upgrade %q trailers %v", r.Close, r.Upgrade, r.TrailersOK)
	}
	r, err = readReq("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	if err != nil || !r.Chunked || r.ContentLength != -1 || !r.Close {
		t.Fatalf("CL+TE: chunked %v length %d close %v (%v): want chunked framing and a close after", r.Chunked, r.ContentLength, r.Close, err)
	}
	r, _ = readReq("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if r.Close || r.Minor != 0 {
		t.Fatalf("HTTP/1.0 keep-alive: close %v", r.Close)
	}
	r, _ = readReq("GET / HTTP/1.0\r\n\r\n")
	if !r.Close {
		t.Fatal("HTTP/1.0 without keep-alive must close")
	}
}

func TestResponseFraming(t *testing.T) {
	cases := []struct {
		raw    string
		head   bool
		length int64
		chunk  bool
		noBody bool
		close  bool
		status int
	}{
		{raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", length: 3},
		{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", length: -1, chunk: true},
		{raw: "HTTP/1.1 200 OK\r\n\r\n", length: -1, close: true},
		{raw: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", length: 3, close: true},
		{raw: "HTTP/1.1 204 No Content\r\n\r\n", noBody: true},
		{raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", noBody: true, length: 9},
		{raw: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", head: true, noBody: true, length: 9},
		{raw: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
		{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", length: -1, close: true},
		{raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", length: 3},
		{raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", status: 502},
		{raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", status: 502},
		{raw: "HTTP/1.1 99 OK\r\n\r\n", status: 502},
		{raw: "HTTP/1.1 200OK\r\n\r\n", status: 502},
		{raw: "ICY 200 OK\r\n\r\n", status: 502},
	}
	for _, c := range cases {
		var r Response
		err := r.Read(bufio.NewReader(strings.NewReader(c.raw)), c.head)
		if got := status(err); got != c.status {
			t.Errorf("%q: status %d (%v), want %d", c.raw, got, err, c.status)
			continue
		}
		if err != nil {
			continue
		}
		if r.ContentLength != c.length || r.Chunked != c.chunk || r.NoBody != c.noBody || r.Close != c.close {
			t.Errorf("%q: length %d chunked %v noBody %v close %v", c.raw, r.ContentLength, r.Chunked, r.NoBody, r.Close)
		}
	}
}

func readChunked(raw string) (string, []Field, error) {
	br := bufio.NewReader(strings.NewReader(raw))
	var b Body
	b.ResetRequest(br, &Request{Chunked: true, ContentLength: -1}, 0)
	out, err := io.ReadAll(&b)
	return string(out), b.Trailers, err
}

func TestChunkedBodies(t *testing.T) {
	good := []struct{ raw, body string }{
		{"5\r\nhello\r\n0\r\n\r\n", "hello"},
		{"5;ext=1\r\nhello\r\n6;x\r\n world\r\n0\r\n\r\n", "hello world"},
		{"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", "0123456789"},
		{"0\r\n\r\n", ""},
	}
	for _, c := range good {
		body, _, err := readChunked(c.raw)
		if err != nil || body != c.body {
			t.Errorf("%q: %q %v, want %q", c.raw, body, err, c.body)
		}
	}
	_, tr, _ := readChunked("1\r\na\r\n0\r\nGrpc-Status: 0\r\n\r\n")
	if len(tr) != 1 || string(tr[0].Name) != "Grpc-Status" {
		t.Errorf("trailers %q", tr)
	}
	bad := []string{
		"zz\r\nhello\r\n0\r\n\r\n",     // not hex
		"0x5\r\nhello\r\n0\r\n\r\n",    // 0x prefix
		" 5\r\nhello\r\n0\r\n\r\n",     // leading space
		"-5\r\nhello\r\n0\r\n\r\n",     // sign
		"5\nhello\r\n0\r\n\r\n",        // bare LF on the size line
		"3\r\nhello\r\n0\r\n\r\n",      // data longer than its size
		"5\r\nhello\n0\r\n\r\n",        // bare LF after the data
		"5\r\nhel",                     // cut short
		"5\r\nhello\r\n",               // no last chunk
		"1ffffffffffffffff\r\na\r\n",   // size overflows
		"5;\x00\r\nhello\r\n0\r\n\r\n", // control byte in an extension
		"0\r\nX T: 1\r\n\r\n",          // malformed trailer
		"0\r\n\n",                      // bare LF ends the trailers
		"5 ;x\r\nhello\r\n0\r\n\r\n",   // whitespace after the size
	}
	for _, raw := range bad {
		if body, _, err := readChunked(raw); err == nil {
			t.Errorf("%q was accepted as %q", raw, body)
		}
	}
}

func TestBodyLimitAndDiscard(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(strings.Repeat("a", 100)))
	var b Body
	b.ResetRequest(br, &Request{ContentLength: 100}, 10)
	if _, err := io.ReadAll(&b); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	br = bufio.NewReader(strings.NewReader(strings.Repeat("a", 100) + "NEXT"))
	b.ResetRequest(br, &Request{ContentLength: 100}, 0)
	if !b.Discard(1000) {
		t.Fatal("a small body must be discarded")
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Fatalf("discard read past the body: %q left", rest)
	}
	br = bufio.NewReader(strings.NewReader(strings.Repeat("a", 100)))
	b.ResetRequest(br, &Request{ContentLength: 100}, 0)
	if b.Discard(10) {
		t.Fatal("a body over the discard bound must report it")
	}
}

// FuzzRequestHead: whatever the bytes, the parser does not panic, and a head
// it accepts is one net/http's parser accepts too, framed the same way.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET http://h/p HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var r Request
		if err := r.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		ref, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("accepted a head net/http refuses (%v): %q", err, raw)
		}
		if ref.Method != string(r.Method) || ref.RequestURI != string(r.Target) {
			t.Fatalf("%q: method/target %q %q, net/http %q %q", raw, r.Method, r.Target, ref.Method, ref.RequestURI)
		}
		refChunked := len(ref.TransferEncoding) > 0
		if refChunked != r.Chunked || (!r.Chunked && ref.ContentLength != r.ContentLength && !(ref.ContentLength == -1 && r.ContentLength == 0)) {
			t.Fatalf("%q: framing chunked=%v length=%d, net/http chunked=%v length=%d", raw, r.Chunked, r.ContentLength, refChunked, ref.ContentLength)
		}
	})
}

// FuzzChunkedBody: a chunked body this reader accepts, Go's accepts with the
// same bytes; and it never reads past the body's end.
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n", "0\r\n\r\n", "3\r\nabc\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		const tail = "GET /next HTTP/1.1\r\n"
		br := bufio.NewReader(strings.NewReader(raw + tail))
		var b Body
		b.ResetRequest(br, &Request{Chunked: true, ContentLength: -1}, 0)
		got, err := io.ReadAll(&b)
		if err != nil {
			return
		}
		ref, rerr := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(strings.NewReader(raw + tail))))
		if rerr != nil || !bytes.Equal(got, ref) {
			t.Fatalf("%q: got %q; Go's reader %q %v", raw, got, ref, rerr)
		}
		rest, _ := io.ReadAll(br)
		if !strings.HasSuffix(string(rest), tail) {
			t.Fatalf("%q: the body reader consumed bytes after the body: %q left", raw, rest)
		}
	})
}

// FuzzResponseHead: no panic on any bytes; a framed answer is framed once.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\nbody"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		var r Response
		if err := r.Read(bufio.NewReader(strings.NewReader(raw)), head); err != nil {
			return
		}
		if r.Chunked && r.ContentLength != -1 {
			t.Fatalf("%q: chunked with a length", raw)
		}
		if r.Status < 100 || r.Status > 999 {
			t.Fatalf("%q: status %d", raw, r.Status)
		}
	})
}
