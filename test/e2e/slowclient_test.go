package e2e

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSlowAndIdleClientsAreCut: a client that trickles its request, or keeps
// an idle keep-alive connection, loses the connection after the configured
// timeouts instead of holding it for ever.
func TestSlowAndIdleClientsAreCut(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--read-timeout", "1s", "--idle-timeout", "1s")
	g.admin.publishedService("quick", mockAPI("ping", "GET", "/ping", mock{Body: "pong"}))

	// closedWithin reads until the gateway closes the connection, or fails
	// the test after limit.
	closedWithin := func(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(limit))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("connection still open after %s", limit)
				}
				return time.Since(start)
			}
		}
	}

	t.Run("a request header sent too slowly", func(t *testing.T) {
		c, err := net.Dial("tcp", g.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /ping HTTP/1.1\r\nHost: x\r\n")); err != nil { // never finished
			t.Fatal(err)
		}
		closedWithin(t, c, 5*time.Second)
	})

	t.Run("an idle keep-alive connection", func(t *testing.T) {
		c, err := net.Dial("tcp", g.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("first request: %v %v", resp, err)
		}
		resp.Body.Close()
		closedWithin(t, c, 5*time.Second)
	})
}
