package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/balancer"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/snapshot"
)

// forwardH2 sends a request to a channel whose nodes speak HTTP/2 (gRPC:
// scheme grpc or grpcs). Routing, policies, the access log and metrics are
// the same as for every request; only the exchange with the node differs:
// it runs on net/http's HTTP/2 client, full duplex (the request body keeps
// streaming while the answer streams back, as bidirectional gRPC calls
// need), and the node's trailers (grpc-status, grpc-message) are relayed.
//
// The fields sent are exactly those of an HTTP/1.1 exchange: the same head
// is built, then read back into an http.Header, so the forwarding rules
// (hop-by-hop fields, X-Forwarded-*, the request id, trace context, claims)
// live in one place.
func (p *Proxy) forwardH2(hx *h1.Exchange, st *reqState, api *snapshot.API) {
	x := &st.x
	req := &hx.Req
	ch := api.Channel
	hx.Body.SetLimit(p.maxBody)
	if !ch.Balancer.Active() {
		p.fail(hx, x, 502, "the channel has no node with a weight above 0")
		return
	}
	deadline := x.start.Add(api.Timeout)
	if d, ok := grpcTimeout(req.Fields); ok && x.start.Add(d).Before(deadline) {
		deadline = x.start.Add(d)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// 100 Continue goes out now, from this goroutine: the body is read by
	// the HTTP/2 client's.
	if f := hx.Body.BeforeRead; f != nil {
		hx.Body.BeforeRead = nil
		f()
	}
	body := &h2Body{r: &hx.Body, closed: make(chan struct{})}
	hx.ReadBodyConcurrently()
	defer body.detach(hx)

	var (
		tried   balancer.Tried
		lastErr error
	)
	for try := 0; try <= ch.Retries; try++ {
		i := ch.Pick(&tried, time.Now().UnixNano())
		if i < 0 {
			if lastErr != nil {
				break
			}
			x.errMsg = "every node of channel " + ch.ID + " is unhealthy"
			p.fail(hx, x, 502, "no healthy backend node: every node of the channel is unhealthy")
			return
		}
		tried.Add(i)
		node := &ch.Nodes[i]
		x.upstreamAddr, x.retries = node.Addr, try
		hreq, err := p.h2Request(ctx, hx, st, node, body)
		if err != nil {
			p.fail(hx, x, 400, "the request cannot be forwarded: "+err.Error())
			return
		}
		sent := time.Now()
		resp, err := node.Client.RoundTrip(hreq)
		if err == nil {
			if ch.Health.PassiveFailure(resp.StatusCode) {
				node.Health.Failure(health.HTTP, "answered "+strconv.Itoa(resp.StatusCode), ch.Health)
			} else {
				node.Health.Success(ch.Health)
			}
			x.headerTime = time.Since(sent)
			p.relayH2(hx, st, resp)
			return
		}
		lastErr = err
		kind := health.TCP
		if ctx.Err() != nil {
			kind = health.Timeout
		}
		node.Health.Failure(kind, err.Error(), ch.Health)
		// Only a request none of whose body was taken can go to another
		// node: the first node may have seen the rest.
		if ctx.Err() != nil || body.started() {
			break
		}
	}
	x.errMsg = lastErr.Error()
	if ctx.Err() != nil {
		p.fail(hx, x, 504, "the backend did not answer within the API's timeout")
		return
	}
	p.fail(hx, x, 502, "no backend node could be reached")
}

// h2Request builds the node's request: the HTTP/1.1 head the proxy would
// send, read back into an http.Request.
func (p *Proxy) h2Request(ctx context.Context, hx *h1.Exchange, st *reqState, node *snapshot.Node, body *h2Body) (*http.Request, error) {
	st.head = p.appendHead(st.head[:0], hx, st, node, false, -1)
	var head h1.Request
	if err := head.Read(bufio.NewReader(bytes.NewReader(st.head))); err != nil {
		return nil, err
	}
	scheme := "http://"
	if node.HTTPS {
		scheme = "https://"
	}
	u, err := url.Parse(scheme + node.Addr + string(head.Target))
	if err != nil {
		return nil, err
	}
	var rb io.ReadCloser = body
	length := hx.Req.ContentLength
	if hx.Body.Empty() {
		rb, length = http.NoBody, 0
	}
	hreq := &http.Request{Method: string(head.Method), URL: u, Host: string(head.Host), Header: http.Header{},
		Body: rb, ContentLength: length, Proto: "HTTP/2.0", ProtoMajor: 2}
	hreq = hreq.WithContext(ctx)
	for _, f := range head.Fields {
		name := http.CanonicalHeaderKey(string(f.Name))
		switch name {
		case "Host", "Transfer-Encoding", "Content-Length", "Connection":
			continue
		}
		hreq.Header.Add(name, string(f.Value))
	}
	return hreq, nil
}

// relayH2 writes the node's HTTP/2 answer to the client: head, body as it
// arrives (flushed at once, for streams), then the trailers.
func (p *Proxy) relayH2(hx *h1.Exchange, st *reqState, resp *http.Response) {
	x := &st.x
	defer resp.Body.Close()
	x.upStatus = resp.StatusCode
	hx.StartResponse(resp.StatusCode, nil)
	w := hx.W()
	for name, vs := range resp.Header {
		if skipResponseField([]byte(name)) {
			continue
		}
		for _, v := range vs {
			h1.WriteFieldString(w, name, v)
		}
	}
	h1.WriteField(w, hdrRequestID, x.reqID)
	x.rl.write(w)
	// Trailers the node announced, and gRPC's, which it may send unannounced.
	var announce []string
	for name := range resp.Trailer {
		announce = append(announce, name)
	}
	if isGRPC(hx.Req.Fields) {
		announce = append(announce, "Grpc-Status", "Grpc-Message")
	}
	if len(announce) > 0 && hx.Req.TrailersOK {
		h1.WriteFieldString(w, "Trailer", strings.Join(dedupe(announce), ", "))
	}
	length := resp.ContentLength
	if length >= 0 && len(announce) > 0 {
		length = -1 // trailers need the chunked framing
	}
	hx.EndHead(length, false)
	buf := st.copyBuf
	var rerr error
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := hx.Write(buf[:n]); werr != nil {
				x.errMsg = "the client stopped reading: " + werr.Error()
				hx.SetClose()
				return
			}
			if werr := hx.Flush(); werr != nil {
				x.errMsg = "the client stopped reading: " + werr.Error()
				hx.SetClose()
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	if p.acc != nil || p.metrics != nil {
		x.responseTime = time.Since(x.start)
	}
	if rerr != nil {
		x.errMsg = "response body: " + rerr.Error()
		hx.SetClose()
		_ = hx.Flush()
		return
	}
	var tr []h1.Field
	for name, vs := range resp.Trailer {
		for _, v := range vs {
			tr = append(tr, h1.Field{Name: []byte(name), Value: []byte(v)})
		}
	}
	_ = hx.Finish(tr)
}

func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		k := http.CanonicalHeaderKey(n)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// h2Body hands the client's request body to the HTTP/2 client, whose
// goroutine reads it. detach ends that: after it returns, nothing reads
// the exchange's body any more, so the connection can go on.
type h2Body struct {
	r        io.Reader
	mu       sync.Mutex
	n        int64
	detached bool
	once     sync.Once
	closed   chan struct{}
}

func (b *h2Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// Close is called by the HTTP/2 client when it is done with the body.
func (b *h2Body) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func (b *h2Body) started() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n > 0
}

// detach waits (bounded by the client's own read timeout, which ends any
// read in progress) until no read is running and none will start. A body
// not read to its end leaves the connection closing.
func (b *h2Body) detach(hx *h1.Exchange) {
	select {
	case <-b.closed:
	case <-time.After(time.Second):
		// The HTTP/2 client has not let go of the body yet; the locked
		// flag below stops it whatever it does next.
	}
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
	if !hx.Body.Done() {
		hx.SetClose()
	}
}

// isGRPC reports whether the request is a gRPC call (its content type is
// application/grpc or application/grpc+…).
func isGRPC(fields []h1.Field) bool {
	for i := range fields {
		if f := &fields[i]; f.Is("content-type") {
			v := f.Value
			return len(v) >= 16 && h1.EqualLower(v[:16], "application/grpc") && (len(v) == 16 || v[16] == '+' || v[16] == ';')
		}
	}
	return false
}

// grpcTimeout reads grpc-timeout: an integer of at most 8 digits and a
// unit (H, M, S, m, u, n).
func grpcTimeout(fields []h1.Field) (time.Duration, bool) {
	for i := range fields {
		f := &fields[i]
		if !f.Is("grpc-timeout") {
			continue
		}
		v := f.Value
		if len(v) < 2 || len(v) > 9 {
			return 0, false
		}
		n, err := strconv.ParseInt(string(v[:len(v)-1]), 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		var unit time.Duration
		switch v[len(v)-1] {
		case 'H':
			unit = time.Hour
		case 'M':
			unit = time.Minute
		case 'S':
			unit = time.Second
		case 'm':
			unit = time.Millisecond
		case 'u':
			unit = time.Microsecond
		case 'n':
			unit = time.Nanosecond
		default:
			return 0, false
		}
		if n > int64(math.MaxInt64/unit) {
			// Longer than any API timeout; the API's applies.
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(n) * unit, true
	}
	return 0, false
}

// grpcCode is the gRPC status of an error the gateway answers itself.
func grpcCode(status int) int {
	switch status {
	case 400:
		return 3 // INVALID_ARGUMENT
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 5 // NOT_FOUND
	case 405:
		return 12 // UNIMPLEMENTED
	case 408, 504:
		return 4 // DEADLINE_EXCEEDED
	case 413, 429:
		return 8 // RESOURCE_EXHAUSTED
	case 426:
		return 9 // FAILED_PRECONDITION
	case 499:
		return 1 // CANCELLED
	case 502, 503:
		return 14 // UNAVAILABLE
	}
	return 13 // INTERNAL
}

// failGRPC answers a gRPC call the gateway refuses with a gRPC status:
// HTTP 200, no message, grpc-status and grpc-message as trailers (or in
// the head for a client that did not accept trailers).
func (p *Proxy) failGRPC(hx *h1.Exchange, x *exchange, status int, msg string, extra ...string) {
	code := strconv.Itoa(grpcCode(status))
	gmsg := grpcMessage(msg)
	hx.StartResponse(200, nil)
	w := hx.W()
	_, _ = w.WriteString("Content-Type: application/grpc\r\n")
	for i := 0; i+1 < len(extra); i += 2 {
		h1.WriteFieldString(w, extra[i], extra[i+1])
	}
	h1.WriteField(w, hdrRequestID, x.reqID)
	x.rl.write(w)
	if !hx.Req.TrailersOK {
		h1.WriteFieldString(w, "Grpc-Status", code)
		h1.WriteFieldString(w, "Grpc-Message", gmsg)
		hx.EndHead(0, false)
		_ = hx.Finish(nil)
		return
	}
	_, _ = w.WriteString("Trailer: Grpc-Status, Grpc-Message\r\n")
	hx.EndHead(-1, false)
	_ = hx.Finish([]h1.Field{{Name: []byte("Grpc-Status"), Value: []byte(code)}, {Name: []byte("Grpc-Message"), Value: []byte(gmsg)}})
}

// grpcMessage percent-encodes a message for grpc-message: every byte
// outside printable ASCII, and '%'.
func grpcMessage(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
