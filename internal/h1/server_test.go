package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testHandler answers with the request's path, reading the body only when
// the path asks it to, and panics on /panic.
type testHandler struct{}

func (testHandler) ServeH1(x *Exchange) {
	path := string(x.Req.Path)
	if path == "/panic" {
		panic("boom")
	}
	if path == "/hijack" {
		nc, br, release := x.Hijack()
		defer release()
		defer nc.Close()
		_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\n\r\n")
		_, _ = io.Copy(nc, br) // echo until the client or Shutdown closes it
		return
	}
	body := ""
	if strings.HasPrefix(path, "/read") {
		b, err := io.ReadAll(&x.Body)
		if err != nil {
			x.SetClose()
		}
		body = string(b)
	}
	out := path + ":" + body
	x.StartResponse(200, nil)
	x.EndHead(int64(len(out)), false)
	_, _ = x.Write([]byte(out))
	_ = x.Finish(nil)
}

func (testHandler) RejectH1(x *Exchange, err *Error) {
	x.StartResponse(err.Status, nil)
	x.EndHead(int64(len(err.Msg)), false)
	_, _ = x.Write([]byte(err.Msg))
	_ = x.Finish(nil)
}

func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: testHandler{}, ReadTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, ln.Addr().String()
}

// exchange writes raw on a new connection and reads every answer until the
// server closes it (or 2 s pass).
func exchange(t *testing.T, addr, raw string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	go io.WriteString(c, raw)
	br := bufio.NewReader(c)
	var got []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return got
		}
		b, _ := io.ReadAll(resp.Body)
		got = append(got, resp.Status[:3]+" "+string(b))
		if resp.Close {
			return got
		}
	}
}

func TestServerPipeliningAndUnreadBodies(t *testing.T) {
	_, addr := startServer(t)
	got := exchange(t, addr, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if strings.Join(got, "|") != "200 /a:|200 /read:abc|200 /b:" {
		t.Fatalf("pipelined answers %q", got)
	}
	// A small unread body is thrown away; the next request is served.
	got = exchange(t, addr, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if strings.Join(got, "|") != "200 /x:|200 /y:" {
		t.Fatalf("after an unread body: %q", got)
	}
	// A large unread body hiding a request closes the connection instead.
	smuggled := "GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
	body := strings.Repeat("a", 100<<10) + smuggled
	got = exchange(t, addr, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
	if len(got) != 1 || got[0] != "200 /x:" {
		t.Fatalf("a request hidden in an unread body was served: %q", got)
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestServerRejectsAndCloses(t *testing.T) {
	_, addr := startServer(t)
	for _, raw := range []string{
		"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: x\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		got := exchange(t, addr, raw)
		if len(got) != 1 || strings.Contains(got[0], "SMUGGLED") {
			t.Errorf("%q: answers %q, want exactly one refusal", raw, got)
		}
	}
}

func TestServerExpectContinue(t *testing.T) {
	_, addr := startServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, want 100 Continue before the body is sent", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "hi")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "/read:hi" {
		t.Fatalf("answer %q", b)
	}
	// A handler that does not read the body: no 100, and the connection
	// closes (the client may never send the body).
	got := exchange(t, addr, "POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	if len(got) != 1 || got[0] != "200 /noread:" {
		t.Fatalf("without reading: %q", got)
	}
}

func TestServerRecoversFromAPanic(t *testing.T) {
	_, addr := startServer(t)
	got := exchange(t, addr, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if len(got) != 1 || !strings.HasPrefix(got[0], "500") {
		t.Fatalf("after a panic: %q, want one 500", got)
	}
	if got := exchange(t, addr, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); len(got) != 1 || got[0] != "200 /ok:" {
		t.Fatalf("the server must keep serving: %q", got)
	}
}

func TestShutdownClosesIdleAndHijackedConnections(t *testing.T) {
	s, addr := startServer(t)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	ws, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	io.WriteString(ws, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	wbr := bufio.NewReader(ws)
	if line, _ := wbr.ReadString('\n'); !strings.Contains(line, "101") {
		t.Fatalf("hijack: %q", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err == nil {
		t.Fatal("a hijacked connection must hold the drain until its deadline")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Shutdown overran its context")
	}
	for name, c := range map[string]net.Conn{"idle": idle, "hijacked": ws} {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 64)); err == nil {
			// the 101's trailing empty line may still be buffered; read again
			if _, err = c.Read(make([]byte, 64)); err == nil {
				t.Errorf("%s connection still open after Shutdown", name)
			}
		}
	}
}
