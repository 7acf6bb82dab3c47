// Package proxy is the data plane: a request's way from accept to response.
//
// It runs on valyala/fasthttp rather than net/http: on this project's
// benchmark (docs/performance.md) a net/http reverse proxy reaches about a
// third of nginx's throughput, fasthttp about nine tenths, because it reuses
// request and response objects and parses headers without allocating. The
// price is HTTP/1.1 only on the proxy port; see docs/design.md.
package proxy

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/portico-gw/portico/internal/balancer"
	"github.com/portico-gw/portico/internal/router"
	"github.com/portico-gw/portico/internal/snapshot"
	"github.com/portico-gw/portico/internal/upstream"
)

// ReplayableBody is the largest request body read into memory before it is
// forwarded, so that a failed try can be sent again to another node. Larger
// bodies stream through and are retried only when the node was never reached.
const ReplayableBody = 64 << 10

// Source gives the snapshot to serve.
type Source interface {
	Current() *snapshot.Snapshot
}

// Proxy serves API traffic from the current snapshot.
type Proxy struct {
	src     Source
	log     *slog.Logger
	ids     *idGen
	acc     *AccessLog
	pool    *upstream.Pool
	maxBody int
}

// Options configures a Proxy.
type Options struct {
	Source    Source
	Log       *slog.Logger
	AccessLog *AccessLog // nil: no access log
	// Pool is the connection pool the snapshots' clients come from.
	Pool *upstream.Pool
	// MaxBody is the largest request body accepted (413 past it).
	MaxBody int
}

// New returns a proxy serving what o.Source holds.
func New(o Options) *Proxy {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	return &Proxy{src: o.Source, log: o.Log, ids: newIDGen(), acc: o.AccessLog, pool: o.Pool, maxBody: o.MaxBody}
}

// DefaultMaxBody is the request body limit when none is configured.
const DefaultMaxBody = 16 << 20

// b2s views b as a string without copying; the string must not outlive the
// request that owns b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// exchange is the per-request state that the access log reads.
type exchange struct {
	start        time.Time
	api          *snapshot.API
	reqID        []byte
	host         []byte // lower case, without port; the Host header is rewritten for the node
	uri          []byte // the client's request URI; the request's is rewritten for the node
	upstreamAddr string
	upStatus     int
	connectTime  time.Duration
	headerTime   time.Duration
	errMsg       string
	bodyLimit    *limitedBody // set when a chunked request body is counted
}

// reqState is the scratch space of one request, pooled so that serving a
// request allocates nothing of the gateway's own.
type reqState struct {
	x        exchange
	m        router.Match
	idBuf    [64]byte
	hostBuf  [256]byte
	pathBuf  [512]byte
	escBuf   [768]byte
	xffBuf   [512]byte
	uriBuf   []byte // grows to the longest URI seen, then is reused
	protoBuf [64]byte
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// Handler serves one request.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	st := statePool.Get().(*reqState)
	x := &st.x
	*x = exchange{start: time.Now()}
	x.reqID = p.requestID(ctx, st.idBuf[:0])
	x.host = normalizeHost(ctx.Host(), st.hostBuf[:0])
	if p.acc != nil {
		st.uriBuf = append(st.uriBuf[:0], ctx.RequestURI()...)
		x.uri = st.uriBuf
	}
	p.serve(ctx, st)
	ctx.Response.Header.SetBytesKV(hdrRequestID, x.reqID)
	if p.acc != nil {
		p.acc.Log(ctx, x)
	}
	*x = exchange{}
	statePool.Put(st)
}

func (p *Proxy) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	x := &st.x
	s := p.src.Current()
	if s == nil {
		p.fail(ctx, x, fasthttp.StatusServiceUnavailable, "the gateway is starting")
		return
	}
	m := &st.m
	api, path, res := s.Lookup(b2s(x.host), b2s(ctx.Method()), b2s(ctx.Path()), m)
	switch res {
	case router.NotFound:
		p.fail(ctx, x, fasthttp.StatusNotFound, "no API matches this host, environment and path")
		return
	case router.MethodNotAllowed:
		ctx.Response.Header.Set("Allow", m.Allow)
		p.fail(ctx, x, fasthttp.StatusMethodNotAllowed, "the path does not allow this method; allowed: "+m.Allow)
		return
	}
	x.api = api
	scheme := snapshot.ProtoHTTP
	if ctx.IsTLS() {
		scheme = snapshot.ProtoHTTPS
	}
	if api.Protocols&scheme == 0 {
		ctx.Response.Header.Set("Upgrade", "TLS/1.2, HTTP/1.1")
		ctx.Response.Header.Set("Connection", "Upgrade")
		p.fail(ctx, x, fasthttp.StatusUpgradeRequired, "this API is not served over this scheme")
		return
	}
	if api.Mock != nil {
		serveMock(ctx, api.Mock)
		return
	}

	// The route matched the decoded, cleaned path; the node gets the same
	// path percent-encoded again (the upstream clients send it verbatim).
	backendPath := appendEscapedPath(st.escBuf[:0], api.AppendBackendPath(st.pathBuf[:0], path, m))
	req := &ctx.Request
	clientClose := req.Header.ConnectionClose()
	upgrade := isUpgrade(&req.Header)
	prepareRequest(ctx, st, upgrade)
	req.URI().SetPathBytes(backendPath)

	if upgrade {
		p.serveUpgrade(ctx, x, api)
		return
	}
	p.forward(ctx, x, api)
	if clientClose {
		ctx.SetConnectionClose()
	}
}

// forward sends the request to the API's backend, retrying per SPEC 3, and
// leaves the answer (the node's or the gateway's error) in ctx.Response.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, x *exchange, api *snapshot.API) {
	req := &ctx.Request
	deadline := x.start.Add(api.Timeout)
	replayable := true
	switch n := req.Header.ContentLength(); {
	case n > p.maxBody:
		p.rejectBody(ctx, x)
		return
	case n >= 0 && n <= ReplayableBody:
		// Read whole so that a failed try can be sent again.
		req.Body()
	case req.IsBodyStream():
		replayable = false
		if n < 0 {
			// Chunked: the length is known only at the end, so the body
			// is counted on its way. Replacing the body stream of
			// ctx.Request would release the stream being read, so the
			// node gets a copy of the request around a counting reader.
			out := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(out)
			req.Header.CopyTo(&out.Header)
			req.URI().CopyTo(out.URI())
			x.bodyLimit = &limitedBody{r: ctx.RequestBodyStream(), left: p.maxBody}
			out.SetBodyStream(x.bodyLimit, -1)
			req = out
		}
	}
	idempotent := isIdempotent(req.Header.Method())

	var (
		ch       = api.Channel
		tries    = 1
		tried    balancer.Tried
		lastErr  error
		timedOut bool
		reached  bool
	)
	if ch != nil {
		tries += ch.Retries
		if !ch.Balancer.Active() {
			p.fail(ctx, x, fasthttp.StatusBadGateway, "the channel has no node with a weight above 0")
			return
		}
	}
	up := fasthttp.AcquireResponse()
	// Clock reads cost a few percent on this path; the first try starts at
	// the request's own start time, later ones read the clock once each.
	now := x.start
	for try := 0; try < tries; try++ {
		node := api.URL
		if ch != nil {
			i := ch.Pick(&tried, now.UnixNano())
			tried.Add(i)
			node = &ch.Nodes[i]
		}
		uri := req.URI()
		if node.HTTPS {
			uri.SetSchemeBytes(schemeHTTPS)
		} else {
			uri.SetSchemeBytes(schemeHTTP)
		}
		uri.SetHost(node.Host)
		x.upstreamAddr = node.Addr
		err := node.Client.DoDeadline(req, up, deadline)
		if err == nil {
			node.Health.OK()
			if p.acc != nil {
				x.headerTime = time.Since(now)
			}
			x.upStatus = up.StatusCode()
			p.relay(ctx, up)
			return
		}
		lastErr = err
		if x.bodyLimit != nil && x.bodyLimit.over {
			fasthttp.ReleaseResponse(up)
			p.rejectBody(ctx, x)
			return
		}
		now = time.Now()
		if errors.Is(err, fasthttp.ErrTimeout) || !now.Before(deadline) {
			timedOut = true
			break
		}
		reached = !upstream.IsDialError(err) && !errors.Is(err, fasthttp.ErrNoFreeConns)
		if upstream.IsDialError(err) { // a full pool is no fault of the node
			node.Health.Fail(now.UnixNano(), int64(snapshot.FailTimeout))
		}
		// A connect failure never reached the node: always try again. A
		// request that may have reached it goes again only when repeating
		// it is harmless and its body can be sent again.
		if reached && (!idempotent || !replayable) {
			break
		}
	}
	fasthttp.ReleaseResponse(up)
	x.errMsg = lastErr.Error()
	switch {
	case timedOut:
		p.fail(ctx, x, fasthttp.StatusGatewayTimeout, "the backend did not answer within the API's timeout")
	case reached:
		p.fail(ctx, x, fasthttp.StatusBadGateway, "the backend closed the connection or answered with an invalid response")
	default:
		p.fail(ctx, x, fasthttp.StatusBadGateway, "no backend node could be reached")
	}
}

// Lingering close after a 413: the client may still be sending its body,
// and closing a socket with unread data makes the kernel send a reset that
// can destroy the answer before the client reads it. So the answer is
// written, then the body is read and thrown away for a bounded time.
const (
	lingerTime  = 5 * time.Second
	lingerBytes = 64 << 20
)

// rejectBody answers 413 and closes the connection after a lingering read.
func (p *Proxy) rejectBody(ctx *fasthttp.RequestCtx, x *exchange) {
	p.fail(ctx, x, fasthttp.StatusRequestEntityTooLarge, "the request body is over the limit")
	ctx.Response.Header.SetBytesKV(hdrRequestID, x.reqID)
	ctx.Response.SetConnectionClose()
	var raw bytes.Buffer
	if _, err := ctx.Response.WriteTo(&raw); err != nil {
		ctx.SetConnectionClose()
		return
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		if _, err := c.Write(raw.Bytes()); err != nil {
			return
		}
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c, lingerBytes)
	})
}

// relay moves the node's answer into ctx.Response. A body already read whole
// (it had a Content-Length up to upstream.BufferedBody) is copied and the
// node's connection goes back to its pool at once; any other body streams
// to the client as it arrives. The node's response must not be ctx.Response
// itself: fasthttp's body reader follows its response's header, and the
// server rewrites ctx.Response's header (to chunked) while writing.
func (p *Proxy) relay(ctx *fasthttp.RequestCtx, up *fasthttp.Response) {
	resp := &ctx.Response
	up.Header.CopyTo(&resp.Header)
	resp.Header.ResetConnectionClose()
	cleanResponse(&resp.Header)
	n := up.Header.ContentLength()
	if up.SkipBody || (n >= 0 && n <= upstream.BufferedBody) {
		if !up.SkipBody {
			resp.SetBody(up.Body())
		}
		_ = up.CloseBodyStream()
		fasthttp.ReleaseResponse(up)
		return
	}
	if n < 0 {
		n = -1 // close-delimited or chunked: chunked to the client
	}
	resp.SetBodyStream(&streamedBody{up: up, pool: p.pool}, n)
}

// streamedBody relays a node's body to the client. The server closes it
// with the write error, if any, once the body is written.
type streamedBody struct {
	up   *fasthttp.Response
	pool *upstream.Pool
	eof  bool
}

func (b *streamedBody) Read(p []byte) (int, error) {
	n, err := b.up.BodyStream().Read(p)
	if err == io.EOF {
		if b.up.Header.ContentLength() == -1 && b.pool != nil && b.pool.PeerClosed(b.up.LocalAddr(), b.up.RemoteAddr()) {
			// A chunked body whose connection closed before the last
			// chunk: the client must see a broken body, not a complete one.
			return n, io.ErrUnexpectedEOF
		}
		b.eof = true
	}
	return n, err
}

// CloseWithError gives the node's connection back to its pool when the body
// was read to its end, and closes it otherwise (the client went away, or the
// node broke off): leftover bytes must never reach the next request.
func (b *streamedBody) CloseWithError(err error) error {
	if err == nil && b.eof {
		cerr := b.up.CloseBodyStream()
		fasthttp.ReleaseResponse(b.up)
		return cerr
	}
	if err == nil {
		err = errBodyAborted
	}
	if rc, ok := b.up.BodyStream().(fasthttp.ReadCloserWithError); ok {
		// Closing the stream directly closes the connection; the response
		// is then left to the garbage collector, not returned to the pool,
		// because resetting it would close the stream a second time.
		return rc.CloseWithError(err)
	}
	return b.up.CloseBodyStream()
}

const errBodyAborted = proxyError("the body was not read to its end")

// limitedBody counts a streamed request body and fails past the limit.
type limitedBody struct {
	r    io.Reader
	left int
	read int
	over bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= n
	l.read += n
	if l.left < 0 {
		l.over = true
		return 0, errBodyTooLarge
	}
	return n, err
}

const errBodyTooLarge = proxyError("the request body is over the limit")

func serveMock(ctx *fasthttp.RequestCtx, m *snapshot.Mock) {
	ctx.SetStatusCode(m.Status)
	for _, h := range m.Headers {
		ctx.Response.Header.Set(h[0], h[1])
	}
	ctx.SetBody(m.Body)
}

var (
	hdrRequestID      = []byte("X-Request-Id")
	hdrXFF            = []byte("X-Forwarded-For")
	hdrXFProto        = []byte("X-Forwarded-Proto")
	hdrXFHost         = []byte("X-Forwarded-Host")
	schemeHTTP        = []byte("http")
	schemeHTTPS       = []byte("https")
	hopByHopResponses = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Trailer", "Upgrade", "TE"}
	hopByHopRequests  = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "Trailer", "Upgrade", "TE"}
)

// prepareRequest rewrites the client's headers for the node: hop-by-hop
// headers out (kept for an upgrade, which needs them), forwarding headers in.
func prepareRequest(ctx *fasthttp.RequestCtx, st *reqState, upgrade bool) {
	h := &ctx.Request.Header
	var proto []byte
	if upgrade {
		proto = append(st.protoBuf[:0], h.Peek("Upgrade")...)
	}
	removeConnectionTokens(h.Peek("Connection"), h.Del)
	for _, k := range hopByHopRequests {
		h.Del(k)
	}
	h.ResetConnectionClose()
	if upgrade {
		// An upgrade needs its two hop-by-hop headers on the next hop too;
		// every other one stays behind.
		h.Set("Connection", "Upgrade")
		h.SetBytesV("Upgrade", proto)
	}

	// Every X-Forwarded-For line, in order, then the peer: the client is
	// the right-most entry whatever the caller sent.
	v := st.xffBuf[:0]
	for _, prior := range h.PeekAll("X-Forwarded-For") {
		v = append(append(v, prior...), ", "...)
	}
	v = appendClientIP(v, ctx.RemoteAddr())
	h.DelBytes(hdrXFF)
	h.SetBytesKV(hdrXFF, v)
	if ctx.IsTLS() {
		h.SetBytesKV(hdrXFProto, schemeHTTPS)
	} else {
		h.SetBytesKV(hdrXFProto, schemeHTTP)
	}
	h.SetBytesKV(hdrXFHost, h.Host())
	h.SetBytesKV(hdrRequestID, st.x.reqID)
}

// cleanResponse removes the node's hop-by-hop headers.
func cleanResponse(h *fasthttp.ResponseHeader) {
	removeConnectionTokens(h.Peek("Connection"), h.Del)
	for _, k := range hopByHopResponses {
		h.Del(k)
	}
}

func removeConnectionTokens(v []byte, del func(string)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
			del(string(tok))
		}
	}
}

func appendClientIP(dst []byte, addr net.Addr) []byte {
	if ta, ok := addr.(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap().AppendTo(dst)
		}
	}
	return append(dst, addr.String()...)
}

func isIdempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE":
		return true
	}
	return false
}

func isUpgrade(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && len(h.Peek("Upgrade")) > 0
}

// normalizeHost lower-cases the Host header and drops its port.
func normalizeHost(h []byte, dst []byte) []byte {
	if len(h) > 0 && h[0] == '[' { // [v6]:port
		if i := bytes.IndexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = bytes.TrimSuffix(h, []byte(".")) // "api.example.com." is the same host
	// ASCII only: a host is ASCII (IDNs travel as punycode), and other
	// bytes must pass unchanged rather than grow into U+FFFD.
	for _, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// fail answers with the gateway's own JSON error.
func (p *Proxy) fail(ctx *fasthttp.RequestCtx, x *exchange, status int, msg string) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	if x.errMsg == "" {
		x.errMsg = msg
	}
	var buf [512]byte
	b := append(buf[:0], `{"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"request_id":"`...)
	b = append(b, x.reqID...) // validated: no characters that need escaping
	b = append(b, `"}`...)
	ctx.SetBody(b)
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// ErrorHandler answers requests the server could not read, in the gateway's
// JSON error shape with a request id like every other answer.
func (p *Proxy) ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	status, msg := fasthttp.StatusBadRequest, "the request could not be read"
	var sizeErr *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, msg = fasthttp.StatusRequestEntityTooLarge, "the request body is over the limit"
	case errors.As(err, &sizeErr):
		status, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, "the request headers are too large"
	case isTimeout(err):
		status, msg = fasthttp.StatusRequestTimeout, "the request was not received in time"
	}
	ctx.Response.Reset()
	x := exchange{start: time.Now(), reqID: p.ids.append(nil), errMsg: err.Error()}
	p.fail(ctx, &x, status, msg)
	ctx.Response.Header.SetBytesKV(hdrRequestID, x.reqID)
	ctx.SetConnectionClose()
	if p.acc != nil {
		p.acc.Log(ctx, &x)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// appendEscapedPath percent-encodes every byte of p that may not stand in a
// URI path as it is (RFC 3986 pchar and "/").
func appendEscapedPath(dst, p []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range p {
		if pathSafe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}

var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()
