package tlsfront

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/h1"
)

// whoami answers what the engine knows of the connection: the peer and
// whether it came over TLS.
type whoami struct{}

func (whoami) ServeH1(x *h1.Exchange) {
	body := x.RemoteAddr().String() + " tls=" + map[bool]string{true: "yes", false: "no"}[x.IsTLS()] + " path=" + string(x.Req.Target)
	x.StartResponse(200, nil)
	x.EndHead(int64(len(body)), false)
	_, _ = x.Write([]byte(body))
	_ = x.Finish(nil)
}

func (whoami) RejectH1(x *h1.Exchange, err *h1.Error) {
	x.StartResponse(err.Status, nil)
	x.EndHead(0, false)
	_ = x.Finish(nil)
}

// TestBothProtocolsReachTheEngine: HTTP/1.1 and HTTP/2 requests over TLS
// both reach the one engine, which sees the client's own address and that
// the request came over TLS.
func TestBothProtocolsReachTheEngine(t *testing.T) {
	dir := t.TempDir()
	cert, _, err := certs.LoadOrCreateDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	engine := &h1.Server{Handler: whoami{}, ReadTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	front := New(engine, certs.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }),
		Options{IdleTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = front.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = front.Shutdown(ctx)
		_ = engine.Shutdown(ctx)
	}()

	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2} //nolint:gosec // the self-signed default
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		var local string
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				local = c.LocalAddr().String()
			}
			return c, err
		}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		req, _ := http.NewRequest(http.MethodGet, "https://"+ln.Addr().String()+"/a/b?c=d", nil)
		req.Header.Set(h1.PeerField, "203.0.113.9:4444") // a client's attempt to choose its address
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantProto := map[bool]int{false: 1, true: 2}[h2]
		if resp.ProtoMajor != wantProto {
			t.Errorf("answered over %s, want HTTP/%d", resp.Proto, wantProto)
		}
		want := local + " tls=yes path=/a/b?c=d"
		if string(body) != want {
			t.Errorf("HTTP/%d: the engine saw %q, want %q", wantProto, body, want)
		}
		tr.CloseIdleConnections()
	}
}

// TestHandshakeFailureClosesQuietly: a client that is not TLS gets its
// connection closed and the port keeps serving.
func TestHandshakeFailureClosesQuietly(t *testing.T) {
	cert, _, err := certs.LoadOrCreateDefault(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	engine := &h1.Server{Handler: whoami{}, ReadTimeout: 5 * time.Second}
	front := New(engine, certs.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }), Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = front.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = front.Shutdown(ctx)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(nc)
	nc.Close()
	if strings.Contains(string(b), "HTTP/1.1 200") {
		t.Fatalf("plain HTTP on the TLS port was served: %q", b)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed
	resp, err := c.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("after a failed handshake the port no longer serves: %v", err)
	}
	resp.Body.Close()
}
