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
	src Source
	log *slog.Logger
	ids *idGen
	acc *AccessLog
}

// New returns a proxy serving what src holds. acc may be nil (no access log).
func New(src Source, log *slog.Logger, acc *AccessLog) *Proxy {
	return &Proxy{src: src, log: log, ids: newIDGen(), acc: acc}
}

// b2s views b as a string without copying; the string must not outlive the
// request that owns b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// exchange is the per-request state that the access log reads.
type exchange struct {
	start        time.Time
	api          *snapshot.API
	reqID        []byte
	host         []byte // lower case, without port; the Host header is rewritten for the node
	upstreamAddr string
	upStatus     int
	connectTime  time.Duration
	headerTime   time.Duration
	errMsg       string
}

// reqState is the scratch space of one request, pooled so that serving a
// request allocates nothing of the gateway's own.
type reqState struct {
	x       exchange
	m       router.Match
	idBuf   [64]byte
	hostBuf [256]byte
	pathBuf [512]byte
	escBuf  [768]byte
	ipBuf   [64]byte
	xffBuf  [512]byte
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// Handler serves one request.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	st := statePool.Get().(*reqState)
	x := &st.x
	*x = exchange{start: time.Now()}
	x.reqID = p.requestID(ctx, st.idBuf[:0])
	x.host = normalizeHost(ctx.Host(), st.hostBuf[:0])
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
	resp := &ctx.Response
	cleanResponse(&resp.Header)
	if clientClose {
		ctx.SetConnectionClose()
	}
}

// forward sends the request to the API's backend, retrying per SPEC 3, and
// leaves the answer (the node's or the gateway's error) in ctx.Response.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, x *exchange, api *snapshot.API) {
	req, resp := &ctx.Request, &ctx.Response
	deadline := x.start.Add(api.Timeout)
	// A small body is read whole so that a failed try can be replayed.
	replayable := true
	if n := req.Header.ContentLength(); n >= 0 && n <= ReplayableBody {
		req.Body()
	} else if req.IsBodyStream() {
		replayable = false
	}
	idempotent := isIdempotent(req.Header.Method())

	var (
		ch       = api.Channel
		tries    = 1
		tried    balancer.Tried
		lastErr  error
		timedOut bool
	)
	if ch != nil {
		tries += ch.Retries
		if !ch.Balancer.Active() {
			p.fail(ctx, x, fasthttp.StatusBadGateway, "the channel has no node with a weight above 0")
			return
		}
	}
	for try := 0; try < tries; try++ {
		node := api.URL
		if ch != nil {
			i := ch.Balancer.Next(&tried)
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
		tryStart := time.Now()
		err := node.Client.DoDeadline(req, resp, deadline)
		if err == nil {
			x.headerTime = time.Since(tryStart)
			x.upStatus = resp.StatusCode()
			resp.Header.ResetConnectionClose()
			return
		}
		lastErr = err
		if errors.Is(err, fasthttp.ErrTimeout) || !time.Now().Before(deadline) {
			timedOut = true
			break
		}
		reached := !upstream.IsDialError(err) && !errors.Is(err, fasthttp.ErrNoFreeConns)
		// A connect failure never reached the node: always try again. A
		// request that may have reached it goes again only when repeating
		// it is harmless and its body can be sent again.
		if reached && (!idempotent || !replayable) {
			break
		}
	}
	x.errMsg = lastErr.Error()
	resp.Reset()
	if timedOut {
		p.fail(ctx, x, fasthttp.StatusGatewayTimeout, "the backend did not answer within the API's timeout")
		return
	}
	p.fail(ctx, x, fasthttp.StatusBadGateway, "no backend node could be reached")
}

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
	if !upgrade {
		removeConnectionTokens(h.Peek("Connection"), h.Del)
		for _, k := range hopByHopRequests {
			h.Del(k)
		}
	}
	h.ResetConnectionClose()

	ip := appendClientIP(st.ipBuf[:0], ctx.RemoteAddr())
	if prior := h.PeekBytes(hdrXFF); len(prior) > 0 {
		v := append(append(append(st.xffBuf[:0], prior...), ", "...), ip...)
		h.SetBytesKV(hdrXFF, v)
	} else {
		h.SetBytesKV(hdrXFF, ip)
	}
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
// JSON error shape.
func ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
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
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	var buf [256]byte
	b := append(buf[:0], `{"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"request_id":""}`...)
	ctx.SetBody(b)
	ctx.SetConnectionClose()
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
