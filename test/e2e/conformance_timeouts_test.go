package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConformanceTimeouts: an API's timeout bounds the wait for the node's
// answer and each silence inside its body, counted from the end of the
// upload; it never cuts a stream that keeps flowing nor an upload that takes
// longer than the timeout.
func TestConformanceTimeouts(t *testing.T) {
	t.Parallel()
	n := confNewNode(t)
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(n.node()))
	rec := confRecAPI(ch.ID)
	rec.Backend.Timeout = 1 // seconds
	confService(g, "conf", nil, nil, "release", rec)

	t.Run("T01 an event stream longer than the timeout is relayed whole", func(t *testing.T) {
		t.Parallel()
		const events = 10
		n.handle("T01", func(nc *confNodeConn, s *confSeen) bool {
			nc.readBody(s)
			if nc.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n") != nil {
				return false
			}
			for i := range events {
				time.Sleep(300 * time.Millisecond)
				ev := fmt.Sprintf("data: %d\n\n", i)
				if nc.write(fmt.Sprintf("%x\r\n%s\r\n", len(ev), ev)) != nil {
					return false
				}
			}
			return nc.write("0\r\n\r\n") == nil
		})
		cc := confDial(t, g)
		cc.mustSend(confReq("T01", confGet("Accept: text/event-stream\r\n")))
		r := cc.mustRead(http.MethodGet)
		var want strings.Builder
		for i := range events {
			fmt.Fprintf(&want, "data: %d\n\n", i)
		}
		if r.Status != 200 || r.BodyErr != nil || string(r.Body) != want.String() {
			t.Errorf("a 3 s stream through an API with a 1 s timeout: got %s, want all %d events", r, events)
		}
	})

	upload := func(t *testing.T, id string, chunked bool) {
		const size, pieces = 1 << 20, 20
		n.handle(id, func(nc *confNodeConn, s *confSeen) bool {
			nc.readBody(s)
			return s.Complete && nc.write("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nreceived") == nil
		})
		cc := confDial(t, g)
		if chunked {
			cc.mustSend(confReq(id, confPost("Transfer-Encoding: chunked\r\n")))
		} else {
			cc.mustSend(confReq(id, confPost(fmt.Sprintf("Content-Length: %d\r\n", size))))
		}
		piece := strings.Repeat("u", size/pieces)
		start, sent := time.Now(), 0
		var err error
		for i := 0; i < pieces && err == nil; i++ {
			raw := piece
			if i == pieces-1 {
				raw = strings.Repeat("u", size-sent)
			}
			p := raw
			if chunked {
				p = fmt.Sprintf("%x\r\n%s\r\n", len(raw), raw)
			}
			if err = cc.send(p); err == nil {
				sent += len(raw)
				time.Sleep(100 * time.Millisecond)
			}
		}
		if chunked && err == nil {
			err = cc.send("0\r\n\r\n")
		}
		if err != nil {
			r, rerr := cc.read(http.MethodPost)
			t.Fatalf("the gateway stopped the upload after %s and %d bytes (%v); its answer: %v %v",
				time.Since(start).Round(time.Millisecond), sent, err, r, rerr)
		}
		r := cc.mustRead(http.MethodPost)
		if r.Status != 200 || string(r.Body) != "received" {
			t.Errorf("a 1 MiB upload over 2 s through an API with a 1 s timeout: got %s, want the node's 200", r)
		}
		if seen := n.requests(id); len(seen) != 1 || len(seen[0].Body) != size {
			t.Errorf("the node did not receive the whole upload (%d requests)", len(seen))
		}
	}
	t.Run("T02 a slow 1 MiB upload longer than the timeout", func(t *testing.T) {
		t.Parallel()
		upload(t, "T02", false)
	})
	t.Run("T03 a slow 1 MiB chunked upload longer than the timeout", func(t *testing.T) {
		t.Parallel()
		upload(t, "T03", true)
	})

	t.Run("T04 a node silent mid-body for longer than the timeout is cut", func(t *testing.T) {
		t.Parallel()
		closed := make(chan bool, 1)
		report := func(ok bool) {
			select {
			case closed <- ok:
			default: // a second call (a retry) does not report
			}
		}
		n.handle("T04", func(nc *confNodeConn, s *confSeen) bool {
			nc.readBody(s)
			if nc.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n") != nil {
				report(true)
				return false
			}
			report(nc.waitClosed(4 * time.Second))
			_ = nc.write("4\r\nlate\r\n0\r\n\r\n")
			return false
		})
		cc := confDial(t, g)
		cc.mustSend(confReq("T04", confGet("")))
		r := cc.mustRead(http.MethodGet)
		if r.Status != 200 {
			t.Fatalf("got %s, want the node's 200 and then a cut", r)
		}
		if r.BodyErr == nil {
			t.Errorf("the client got a complete body %q from a node that fell silent mid-body", r.Body)
		}
		if r.After > 3*time.Second {
			t.Errorf("the silent node was cut after %s, want about the API's 1 s timeout", r.After.Round(time.Millisecond))
		}
		select {
		case ok := <-closed:
			if !ok {
				t.Errorf("the gateway kept the silent node's connection open")
			}
		case <-time.After(6 * time.Second):
			t.Errorf("the node's handler did not finish")
		}
	})

	t.Run("T05 a node that does not answer within the timeout: 504", func(t *testing.T) {
		t.Parallel()
		n.handle("T05", func(nc *confNodeConn, s *confSeen) bool {
			nc.readBody(s)
			nc.waitClosed(3 * time.Second)
			return false
		})
		cc := confDial(t, g)
		cc.mustSend(confReq("T05", confGet("")))
		r := cc.mustRead(http.MethodGet)
		confWantError(t, r, http.StatusGatewayTimeout)
		if r.After > 3*time.Second || r.After < 900*time.Millisecond {
			t.Errorf("504 after %s, want after the 1 s timeout", r.After.Round(time.Millisecond))
		}
	})
}
