// Package proxy is the data plane: a request's way from accept to response.
//
// The order every request takes:
//
//	accept -> strict framing checks (internal/h1) -> route (host, environment, path)
//	       -> scheme -> body limit -> upstream exchange (pick, try, retry; internal/upstream)
//	       -> relay the answer -> access log line (when the body is done)
//
// The proxy port runs on Portico's own HTTP/1.1 engine (internal/h1), not
// on net/http or fasthttp; docs/design.md ("The engine") says why.
package proxy

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/trace"

	"github.com/portico-gw/portico/internal/balancer"
	"github.com/portico-gw/portico/internal/clientip"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/plugin/hmacauth"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
	"github.com/portico-gw/portico/internal/plugin/ratelimit"
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
	maxBody int64
	clients *clientip.Resolver
	limiter ratelimit.Limiter
	quota   ratelimit.Quota
	metrics *observe.Metrics
	tracer  *observe.Tracer
	// httpsPort is what follows the host in the redirects of force_https
	// domains: ":port", or ":" for 443 (trimmed); "" when there is no TLS
	// port, and force_https does nothing.
	httpsPort string
}

// Options configures a Proxy.
type Options struct {
	Source    Source
	Log       *slog.Logger
	AccessLog *AccessLog // nil: no access log
	// MaxBody is the largest request body accepted (413 past it).
	MaxBody int64
	// TrustedProxies decides the client address (nil: the peer's).
	TrustedProxies *clientip.Resolver
	// Limiter counts requests for traffic_control (nil: counted in memory).
	Limiter ratelimit.Limiter
	// Metrics counts requests and rejections (nil: off).
	Metrics *observe.Metrics
	// Tracer exports a span per request (nil: only traceparent is passed).
	Tracer *observe.Tracer
}

// New returns a proxy serving what o.Source holds.
func New(o Options) *Proxy {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.TrustedProxies == nil {
		o.TrustedProxies, _ = clientip.Parse("")
	}
	if o.Limiter == nil {
		o.Limiter = ratelimit.NewLocal()
	}
	q, _ := o.Limiter.(ratelimit.Quota)
	px := &Proxy{src: o.Source, log: o.Log, ids: newIDGen(), acc: o.AccessLog, maxBody: o.MaxBody,
		clients: o.TrustedProxies, limiter: o.Limiter, quota: q, metrics: o.Metrics, tracer: o.Tracer}
	return px
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
	host         []byte // lower case, without port
	upstreamAddr string
	clientIP     netip.Addr
	appID        string // the application that signed the request
	// rl is the rate-limit state reported on the answer (RateLimit-*).
	rl           rateState
	upStatus     int
	connectTime  time.Duration
	headerTime   time.Duration
	responseTime time.Duration
	errMsg       string
	retries      int
	// reject is why the gateway refused the request (observe.Reject*).
	reject string
	// peerTrusted: the peer is a trusted proxy (--trusted-proxies).
	peerTrusted bool
	// tls: the client reached the gateway over TLS, directly or through a
	// trusted proxy that says so in X-Forwarded-Proto.
	tls bool
}

// reqState is the scratch space of one request, pooled so that serving a
// request allocates nothing of the gateway's own.
type reqState struct {
	x       exchange
	hx      *h1.Exchange
	m       router.Match
	resp    upstream.Response
	ureq    upstream.Request
	body    bytes.Reader
	idBuf   [64]byte
	hostBuf [256]byte
	pathBuf []byte // the decoded, cleaned path
	bpBuf   []byte // the backend path
	escBuf  []byte // the backend path, escaped
	head    []byte // the request head for the node
	replay  []byte // a small request body, read whole
	tokens  [][]byte
	interim []h1.Field
	copyBuf []byte
	xff     [][]byte
	keyBuf  []byte
	hmacHdr hmacauth.Header
	hreq    hmacRequest
	// claims are the headers a verified token sends on; dropHeaders the
	// client's copies of them that must not reach the node.
	claims      []jwtauth.Claim
	dropHeaders []string
	// bodyRead: the request body is already in replay (read to check a
	// signature).
	bodyRead bool
	trace    traceState
	span     observe.Span

	trailersFn func() []h1.Field
	interimFn  func(int, []byte, []h1.Field)
	aliveFn    func() bool
	// interimSent: a 1xx answer reached the client, so the exchange can no
	// longer be tried again.
	interimSent bool
}

var statePool = sync.Pool{New: func() any {
	st := &reqState{copyBuf: make([]byte, 32<<10)}
	st.trailersFn = func() []h1.Field { return st.hx.Body.Trailers }
	st.interimFn = st.relayInterim
	st.aliveFn = func() bool { return !st.hx.ClientGone() }
	return st
}}

// ServeH1 serves one request of the HTTP/1.1 front end.
func (p *Proxy) ServeH1(hx *h1.Exchange) {
	st := statePool.Get().(*reqState)
	st.hx = hx
	st.hreq.hx = hx
	st.interimSent = false
	st.claims, st.dropHeaders = nil, nil
	st.bodyRead = false
	st.hreq.env, st.hreq.form = "", nil
	x := &st.x
	*x = exchange{start: time.Now()}
	x.reqID = p.requestID(hx.Req.Fields, st.idBuf[:0])
	x.host = normalizeHost(hx.Req.Host, st.hostBuf[:0])
	x.clientIP = p.clientIP(hx, st)
	x.tls = hx.IsTLS() || x.peerTrusted && forwardedHTTPS(hx.Req.Fields)
	st.trace.on = false
	if p.tracer != nil {
		tid, sid, sampled, ok := parentTrace(hx.Req.Fields)
		var sc trace.SpanContext
		st.span, sc = p.tracer.Start(tid, sid, sampled, ok, x.start)
		st.trace = traceState{on: true, traceID: sc.TraceID(), spanID: sc.SpanID(), sampled: sc.IsSampled()}
	}
	p.serve(hx, st)
	if st.trace.on {
		var svc, env, id, name string
		if x.api != nil {
			svc, env, id, name = x.api.ServiceID, x.api.Environment, x.api.ID, x.api.Name
		}
		st.span.End(b2s(hx.Req.Method), name, svc, env, id, x.upstreamAddr, hx.Status, x.retries)
	}
	p.account(hx, x)
	*x = exchange{}
	st.hx, st.hreq.hx = nil, nil
	statePool.Put(st)
}

// account counts a finished request in the metrics and the statistics and
// logs it. One clock read serves all three.
func (p *Proxy) account(hx *h1.Exchange, x *exchange) {
	stats := x.api != nil && x.api.Stats != nil
	if p.metrics == nil && !stats && p.acc == nil {
		return
	}
	end := time.Now()
	if p.metrics != nil {
		p.observe(hx, x, end)
	}
	if stats {
		x.api.Stats.RecordAt(end, hx.Status, end.Sub(x.start), hx.Body.N(), hx.Written)
	}
	if p.acc != nil {
		p.acc.Log(hx, x, end)
	}
}

// observe counts a request that finished at end in the metrics.
func (p *Proxy) observe(hx *h1.Exchange, x *exchange, end time.Time) {
	m := p.metrics.Unrouted()
	if x.api != nil && x.api.Metrics != nil {
		m = x.api.Metrics
	}
	m.Observe(hx.Status, end.Sub(x.start), x.headerTime, hx.Body.N(), hx.Written, x.retries)
	if x.reject != "" {
		p.metrics.Reject(x.reject)
	}
}

// SetHTTPSPort tells the proxy the TLS port, for the redirects of
// force_https domains; call it before serving.
func (p *Proxy) SetHTTPSPort(port int) {
	if port == 443 {
		p.httpsPort = ":"
		return
	}
	p.httpsPort = ":" + strconv.Itoa(port)
}

// forwardedHTTPS reports whether X-Forwarded-Proto says https (the last
// value, the one the nearest proxy set).
func forwardedHTTPS(fields []h1.Field) bool {
	https := false
	for i := range fields {
		if f := &fields[i]; f.Is("x-forwarded-proto") {
			v := f.Value
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				v = v[j+1:]
			}
			https = h1.EqualLower(bytes.TrimSpace(v), "https")
		}
	}
	return https
}

var hdrLocation = []byte("Location")

// redirectHTTPS answers a plain-HTTP request for a force_https domain with
// 308 to the same target on the TLS port: 308 keeps the method and body.
func (p *Proxy) redirectHTTPS(hx *h1.Exchange, x *exchange) {
	loc := make([]byte, 0, 16+len(x.host)+len(p.httpsPort)+len(hx.Req.Path)+len(hx.Req.Query))
	loc = append(loc, "https://"...)
	loc = append(loc, x.host...)
	if p.httpsPort != ":" {
		loc = append(loc, p.httpsPort...)
	}
	loc = append(loc, hx.Req.Path...)
	if hx.Req.HasQuery {
		loc = append(loc, '?')
		loc = append(loc, hx.Req.Query...)
	}
	x.errMsg = "redirected to https (force_https)"
	hx.StartResponse(308, nil)
	w := hx.W()
	h1.WriteField(w, hdrLocation, loc)
	h1.WriteField(w, hdrRequestID, x.reqID)
	hx.EndHead(0, false)
	_ = hx.Finish(nil)
}

// RejectH1 answers a request that could not be read.
func (p *Proxy) RejectH1(hx *h1.Exchange, err *h1.Error) {
	x := exchange{start: time.Now(), reqID: p.ids.append(nil), errMsg: err.Msg}
	p.fail(hx, &x, err.Status, err.Msg)
	end := time.Now()
	if p.metrics != nil {
		x.reject = observe.RejectRequest
		p.observe(hx, &x, end)
	}
	if p.acc != nil {
		p.acc.Log(hx, &x, end)
	}
}

func (p *Proxy) serve(hx *h1.Exchange, st *reqState) {
	x := &st.x
	req := &hx.Req
	s := p.src.Current()
	if s == nil {
		p.fail(hx, x, 503, "the gateway is starting")
		return
	}
	if len(req.Path) == 1 && req.Path[0] == '*' {
		// OPTIONS * asks about the server itself, not an API: answered
		// here, as net/http does.
		hx.StartResponse(200, nil)
		h1.WriteField(hx.W(), hdrRequestID, x.reqID)
		hx.EndHead(0, false)
		return
	}
	path, ok := cleanPath(st.pathBuf[:0], req.Path)
	st.pathBuf = path
	if !ok {
		hx.SetClose() // a malformed request: nothing after it is trusted
		p.fail(hx, x, 400, "malformed request path")
		return
	}
	if !x.tls && p.httpsPort != "" && s.ForceHTTPS(b2s(x.host)) {
		p.redirectHTTPS(hx, x)
		return
	}
	m := &st.m
	api, rest, res := s.Lookup(b2s(x.host), b2s(req.Method), b2s(path), m)
	switch res {
	case router.NotFound:
		x.reject = observe.RejectNoRoute
		if env, served := s.EnvironmentOf(b2s(x.host), b2s(path)); !served {
			p.fail(hx, x, 404, "no API is published in the "+env+" environment for this host")
			return
		}
		p.fail(hx, x, 404, "no API matches this host, environment and path")
		return
	case router.MethodNotAllowed:
		x.reject = observe.RejectNoRoute
		p.fail(hx, x, 405, "the path does not allow this method; allowed: "+m.Allow, "Allow", m.Allow)
		return
	}
	x.api = api
	if len(rest) != len(path) {
		st.hreq.env = api.EnvPrefix // the route was chosen by a /<env> prefix
	}
	scheme := snapshot.ProtoHTTP
	if x.tls {
		scheme = snapshot.ProtoHTTPS
	}
	if api.Protocols&scheme == 0 {
		x.reject = observe.RejectScheme
		p.fail(hx, x, 426, "this API is not served over this scheme", "Upgrade", "TLS/1.2, HTTP/1.1")
		return
	}
	if req.ContentLength > p.maxBody {
		// Refused before a byte of the body is read (and without 100
		// Continue): the connection closes after a lingering read.
		hx.SetClose()
		x.reject = observe.RejectBody
		p.fail(hx, x, 413, "the request body is over the limit")
		return
	}
	if !p.applyPolicies(hx, st, s, api) {
		return
	}
	if api.Mock != nil {
		p.serveMock(hx, st, api.Mock)
		return
	}
	// The route matched the decoded, cleaned path; the node gets the same
	// path percent-encoded again.
	st.bpBuf = api.AppendBackendPath(st.bpBuf[:0], rest, m)
	st.escBuf = appendEscapedPath(st.escBuf[:0], st.bpBuf)
	p.forward(hx, st, api)
}

// forward sends the request to the API's backend, retrying per the channel's
// rules, and relays the answer or the gateway's error.
func (p *Proxy) forward(hx *h1.Exchange, st *reqState, api *snapshot.API) {
	if api.Channel != nil && api.Channel.H2 {
		p.forwardH2(hx, st, api)
		return
	}
	x := &st.x
	req := &hx.Req
	upgrade := len(req.Upgrade) > 0 && api.WebSocket
	hx.Body.SetLimit(p.maxBody)
	replayable := true
	ureq := &st.ureq
	*ureq = upstream.Request{
		HEAD:    string(req.Method) == "HEAD",
		Upgrade: upgrade,
		Timeout: api.Timeout,
		Buf:     st.copyBuf,
		Interim: st.interimFn,

		ClientAlive: st.aliveFn,
	}
	switch {
	case hx.Body.Empty():
	case st.bodyRead || !req.Chunked && req.ContentLength <= ReplayableBody:
		// Read whole so that a failed try can be sent again.
		if !p.readBody(hx, st) {
			return
		}
		ureq.Length = req.ContentLength
	default:
		replayable = false
		ureq.Body, ureq.Length = &hx.Body, req.ContentLength
		if req.Chunked {
			ureq.Length = -1
			ureq.Trailers = st.trailersFn
		}
	}
	idempotent := isIdempotent(req.Method)
	ureq.Idempotent = idempotent
	var (
		ch      = api.Channel
		tries   = 1
		tried   balancer.Tried
		lastErr *upstream.Error
	)
	if ch != nil {
		tries += ch.Retries
		if !ch.Balancer.Active() {
			p.fail(hx, x, 502, "the channel has no node with a weight above 0")
			return
		}
	}
	ureq.Deadline = x.start.Add(api.Timeout)
	now := x.start
	if hx.Body.Empty() {
		// Nothing was read since the start: its clock read is recent
		// enough to arm the node connection's deadlines with.
		ureq.Now = now
	}
	for try := 0; try < tries; try++ {
		node := api.URL
		if ch != nil {
			i := ch.Pick(&tried, now.UnixNano())
			if i < 0 {
				if lastErr != nil {
					break // the nodes left are out of the rotation
				}
				x.errMsg = "every node of channel " + ch.ID + " is unhealthy"
				p.fail(hx, x, 502, "no healthy backend node: every node of the channel is unhealthy")
				return
			}
			tried.Add(i)
			node = &ch.Nodes[i]
		}
		x.upstreamAddr = node.Addr
		st.head = p.appendHead(st.head[:0], hx, st, node, upgrade, ureq.Length)
		ureq.Head = st.head
		if replayable && ureq.Length > 0 {
			st.body.Reset(st.replay)
			ureq.Body = &st.body
		}
		x.retries = try
		err := node.Client.Do(ureq, &st.resp)
		if err == nil {
			if ch != nil {
				if ch.Health.PassiveFailure(st.resp.Status) {
					node.Health.Failure(health.HTTP, "answered "+strconv.Itoa(st.resp.Status), ch.Health)
				} else {
					node.Health.Success(ch.Health)
				}
			}
			x.connectTime = st.resp.ConnectTime
			if p.acc != nil || p.metrics != nil {
				x.headerTime = time.Since(now)
			}
			p.relay(hx, st, upgrade)
			return
		}
		var ue *upstream.Error
		if !errors.As(err, &ue) {
			ue = &upstream.Error{Op: "exchange", Status: 502, Reached: true, Err: err}
		}
		lastErr = ue
		if errors.Is(ue.Err, upstream.ErrClientGone) {
			// Nobody is left to answer; 499 is for the access log.
			hx.SetClose()
			x.errMsg = ue.Error()
			p.fail(hx, x, 499, "the client closed the connection")
			return
		}
		if ue.Client {
			p.clientBodyFailed(hx, x, ue.Err)
			return
		}
		now = time.Now()
		ureq.Now = now
		if ch != nil {
			kind := health.TCP
			if ue.Timeout() {
				kind = health.Timeout
			}
			node.Health.Failure(kind, ue.Error(), ch.Health)
		}
		if ue.Timeout() || !now.Before(ureq.Deadline) {
			break
		}
		// A connect failure never reached the node: always try again. A
		// request that may have reached it goes again only when repeating
		// it is harmless and its body can be sent again.
		if ue.Reached && (!idempotent || !replayable || st.interimSent) {
			break
		}
	}
	x.errMsg = lastErr.Error()
	switch {
	case lastErr.Timeout():
		p.fail(hx, x, 504, "the backend did not answer within the API's timeout")
	case lastErr.Reached:
		p.fail(hx, x, 502, "the backend closed the connection or answered with an invalid response")
	default:
		p.fail(hx, x, 502, "no backend node could be reached")
	}
}

// readBody reads a Content-Length body of at most ReplayableBody bytes
// into st.replay, once; on failure it answers the client.
func (p *Proxy) readBody(hx *h1.Exchange, st *reqState) bool {
	if st.bodyRead {
		return true
	}
	n := int(hx.Req.ContentLength)
	if cap(st.replay) < n {
		st.replay = make([]byte, n)
	}
	st.replay = st.replay[:n]
	if _, err := io.ReadFull(&hx.Body, st.replay); err != nil {
		p.clientBodyFailed(hx, &st.x, err)
		return false
	}
	st.bodyRead = true
	return true
}

// clientBodyFailed answers a request whose body could not be read: too
// large (413), too slow (408) or malformed (400). The connection closes.
func (p *Proxy) clientBodyFailed(hx *h1.Exchange, x *exchange, err error) {
	hx.SetClose()
	x.errMsg = "request body: " + err.Error()
	status, msg := 400, "the request body could not be read: "+err.Error()
	var he *h1.Error
	switch {
	case errors.As(err, &he) && he.Status == 413:
		status, msg = 413, "the request body is over the limit"
	case errors.As(err, &he):
		status = he.Status
	case isTimeout(err):
		status, msg = 408, "the request body was not received in time"
	}
	if hx.Started() {
		return
	}
	p.fail(hx, x, status, msg)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// skipResponseField: hop-by-hop fields (RFC 9110 7.6.1) and the framing
// fields the gateway writes itself, and the request id it sets.
func skipResponseField(name []byte) bool {
	switch len(name) {
	case 2:
		return h1.EqualLower(name, "te")
	case 7:
		return h1.EqualLower(name, "trailer") || h1.EqualLower(name, "upgrade")
	case 10:
		return h1.EqualLower(name, "connection") || h1.EqualLower(name, "keep-alive")
	case 12:
		return h1.EqualLower(name, "x-request-id")
	case 14:
		return h1.EqualLower(name, "content-length")
	case 16:
		return h1.EqualLower(name, "proxy-connection")
	case 17:
		return h1.EqualLower(name, "transfer-encoding")
	case 18:
		return h1.EqualLower(name, "proxy-authenticate")
	case 19:
		return h1.EqualLower(name, "proxy-authorization")
	}
	return false
}

// skipRequestField: the same, plus Host, the forwarding fields and
// traceparent, which the gateway rebuilds.
func skipRequestField(name []byte) bool {
	switch len(name) {
	case 4:
		return h1.EqualLower(name, "host")
	case 11:
		return h1.EqualLower(name, "traceparent")
	case 15:
		return h1.EqualLower(name, "x-forwarded-for")
	case 16:
		if h1.EqualLower(name, "x-forwarded-host") {
			return true
		}
	case 17:
		if h1.EqualLower(name, "x-forwarded-proto") {
			return true
		}
	case 18:
		// The HTTP/2 bridge's field (h1.PeerField): meaningful only on
		// the bridge's own connections, never passed to a node.
		if h1.EqualLower(name, "portico-relay-peer") {
			return true
		}
	}
	return skipResponseField(name)
}

// connectionTokens collects the field names listed in Connection: they are
// hop-by-hop too.
func connectionTokens(dst [][]byte, fields []h1.Field) [][]byte {
	for i := range fields {
		if !fields[i].Is("connection") {
			continue
		}
		v := fields[i].Value
		for len(v) > 0 {
			var tok []byte
			if j := bytes.IndexByte(v, ','); j >= 0 {
				tok, v = v[:j], v[j+1:]
			} else {
				tok, v = v, nil
			}
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				dst = append(dst, tok)
			}
		}
	}
	return dst
}

func dropped(names []string, name []byte) bool {
	for _, n := range names {
		if len(n) == len(name) && strings.EqualFold(n, b2s(name)) {
			return true
		}
	}
	return false
}

func listed(tokens [][]byte, name []byte) bool {
	for _, t := range tokens {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// appendHead builds the request head for node: the request line with the
// backend path, the client's end-to-end fields in their order, the
// forwarding fields and the framing.
func (p *Proxy) appendHead(b []byte, hx *h1.Exchange, st *reqState, node *snapshot.Node, upgrade bool, length int64) []byte {
	req := &hx.Req
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, st.escBuf...)
	if req.HasQuery {
		b = append(b, '?')
		b = append(b, req.Query...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, node.Host...)
	b = append(b, "\r\n"...)
	st.tokens = connectionTokens(st.tokens[:0], req.Fields)
	for i := range req.Fields {
		f := &req.Fields[i]
		if skipRequestField(f.Name) || (len(st.tokens) > 0 && listed(st.tokens, f.Name)) || dropped(st.dropHeaders, f.Name) {
			continue
		}
		b = appendHeadField(b, f.Name, f.Value)
	}
	if st.trace.on {
		b = appendOwnTraceparent(b, &st.trace)
	} else {
		b = appendTraceparent(b, req.Fields)
	}
	for _, c := range st.claims {
		b = append(b, c.Header...)
		b = append(b, ": "...)
		b = append(b, c.Value...)
		b = append(b, "\r\n"...)
	}
	// Every X-Forwarded-For line, in order, then the peer: the client is
	// the right-most entry whatever the caller sent.
	b = append(b, "X-Forwarded-For: "...)
	for i := range req.Fields {
		if f := &req.Fields[i]; f.Is("x-forwarded-for") && len(f.Value) > 0 {
			b = append(b, f.Value...)
			b = append(b, ", "...)
		}
	}
	b = appendClientIP(b, hx.RemoteAddr())
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	if st.x.tls {
		b = append(b, "https"...)
	} else {
		b = append(b, "http"...)
	}
	b = append(b, "\r\nX-Forwarded-Host: "...)
	b = append(b, req.Host...)
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, st.x.reqID...)
	b = append(b, "\r\n"...)
	if req.TrailersOK {
		b = append(b, "TE: trailers\r\n"...)
	}
	if upgrade {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, req.Upgrade...)
		b = append(b, "\r\n"...)
	}
	switch {
	case length < 0:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case length > 0 || hasField(req.Fields, "content-length"):
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

func appendHeadField(b, name, value []byte) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

func hasField(fields []h1.Field, name string) bool {
	for i := range fields {
		if fields[i].Is(name) {
			return true
		}
	}
	return false
}

// relayInterim passes a node's 1xx answer (103 Early Hints and the like) to
// the client, without hop-by-hop fields.
func (st *reqState) relayInterim(status int, reason []byte, fields []h1.Field) {
	st.interim = st.interim[:0]
	st.tokens = connectionTokens(st.tokens[:0], fields)
	for _, f := range fields {
		if !skipResponseField(f.Name) && !listed(st.tokens, f.Name) {
			st.interim = append(st.interim, f)
		}
	}
	st.hx.WriteInterim(status, reason, st.interim)
	st.interimSent = true
}

// relay writes the node's answer to the client: its head without hop-by-hop
// fields, then its body as it arrives, then its trailers. A body the node
// breaks off is never passed off as complete: the client's connection is
// closed before the end of the body.
func (p *Proxy) relay(hx *h1.Exchange, st *reqState, upgrade bool) {
	x := &st.x
	resp := &st.resp
	defer resp.Release()
	x.upStatus = resp.Status
	hx.StartResponse(resp.Status, resp.Reason)
	w := hx.W()
	st.tokens = connectionTokens(st.tokens[:0], resp.Fields)
	for i := range resp.Fields {
		f := &resp.Fields[i]
		if resp.NoBody && f.Is("content-length") && resp.Status >= 200 {
			h1.WriteField(w, f.Name, f.Value) // HEAD and 304 keep the length of the full answer
			continue
		}
		if skipResponseField(f.Name) || (len(st.tokens) > 0 && listed(st.tokens, f.Name)) {
			continue
		}
		h1.WriteField(w, f.Name, f.Value)
	}
	h1.WriteField(w, hdrRequestID, x.reqID)
	x.rl.write(w)
	if resp.Status == 101 {
		if !upgrade {
			// Cannot happen: the exchange refuses an unasked 101.
			hx.SetClose()
			return
		}
		_, _ = w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		_, _ = w.Write(resp.Upgrade)
		_, _ = w.WriteString("\r\n")
		hx.EndHead(0, true)
		p.pipeUpgrade(hx, st)
		return
	}
	hx.EndHead(resp.ContentLength, resp.NoBody)
	if resp.NoBody {
		return
	}
	_, rerr, werr := h1.CopyBuffer(hx, &resp.Body, st.copyBuf, hx.W(), resp)
	if p.acc != nil || p.metrics != nil {
		x.responseTime = time.Since(x.start)
	}
	switch {
	case errors.Is(rerr, h1.ErrWatchFailed):
		x.errMsg = "the client closed the connection during the response"
		hx.SetClose()
	case rerr != nil:
		x.errMsg = "response body: " + rerr.Error()
		hx.SetClose()
		_ = hx.Flush()
	case werr != nil:
		x.errMsg = "writing to the client: " + werr.Error()
		hx.SetClose()
	default:
		_ = hx.Finish(resp.Body.Trailers)
	}
}

var hdrRequestID = []byte("X-Request-Id")

func (p *Proxy) serveMock(hx *h1.Exchange, st *reqState, m *snapshot.Mock) {
	x := &st.x
	hx.StartResponse(m.Status, nil)
	w := hx.W()
	for _, h := range m.Headers {
		h1.WriteFieldString(w, h[0], h[1])
	}
	h1.WriteField(w, hdrRequestID, x.reqID)
	x.rl.write(w)
	hx.EndHead(int64(len(m.Body)), false)
	_, _ = hx.Write(m.Body)
	_ = hx.Finish(nil)
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

// normalizeHost lower-cases the host and drops its port.
func normalizeHost(h []byte, dst []byte) []byte {
	if len(h) > 0 && h[0] == '[' { // [v6]:port
		if i := bytes.IndexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = bytes.TrimSuffix(h, []byte(".")) // "api.example.com." is the same host
	for _, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// fail answers with the gateway's own JSON error; extra holds header
// name/value pairs to add.
func (p *Proxy) fail(hx *h1.Exchange, x *exchange, status int, msg string, extra ...string) {
	if x.errMsg == "" {
		x.errMsg = msg
	}
	if hx.Started() {
		hx.SetClose()
		return
	}
	if isGRPC(hx.Req.Fields) {
		p.failGRPC(hx, x, status, msg, extra...)
		return
	}
	var buf [512]byte
	b := append(buf[:0], `{"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"request_id":"`...)
	b = append(b, x.reqID...) // validated: no characters that need escaping
	b = append(b, `"}`...)
	hx.StartResponse(status, nil)
	w := hx.W()
	_, _ = w.WriteString("Content-Type: application/json\r\n")
	for i := 0; i+1 < len(extra); i += 2 {
		h1.WriteFieldString(w, extra[i], extra[i+1])
	}
	h1.WriteField(w, hdrRequestID, x.reqID)
	x.rl.write(w)
	hx.EndHead(int64(len(b)), false)
	_, _ = hx.Write(b)
	_ = hx.Finish(nil)
}

// appendJSONString appends s quoted, escaping '"', '\\' and control bytes;
// the runs between them are copied whole (most values have none).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	from := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[from:i]...)
		from = i + 1
		if c < 0x20 {
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		} else {
			dst = append(dst, '\\', c)
		}
	}
	dst = append(dst, s[from:]...)
	return append(dst, '"')
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

var pathSafe = h1.AlnumAnd("-._~!$&'()*+,;=:@/")

// cleanPath percent-decodes a request path and removes dot segments and
// empty segments, so that routing sees one spelling of each path. It fails
// on a path that is not origin-form, a malformed escape, an escaped NUL,
// or a raw control byte.
func cleanPath(dst, raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst, false
	}
	start := len(dst)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return dst, false
			}
			hi, lo := h1.Unhex(raw[i+1]), h1.Unhex(raw[i+2])
			if hi < 0 || lo < 0 {
				return dst, false
			}
			c = byte(hi<<4 | lo)
			if c == 0 {
				return dst, false
			}
			i += 2
		} else if c < 0x20 || c == 0x7f {
			// The HTTP/1.1 parser refuses these in a target already; a
			// path from any other front end is held to the same rule.
			return dst, false
		}
		dst = append(dst, c)
	}
	// clean in place: segments between slashes
	p := dst[start:]
	// A trailing slash or dot segment keeps the path a directory.
	dir := p[len(p)-1] == '/' || bytes.HasSuffix(p, []byte("/.")) || bytes.HasSuffix(p, []byte("/.."))
	out := p[:0]
	for i := 0; i < len(p); {
		for i < len(p) && p[i] == '/' {
			i++
		}
		j := i
		for j < len(p) && p[j] != '/' {
			j++
		}
		seg := p[i:j]
		switch {
		case len(seg) == 0:
		case len(seg) == 1 && seg[0] == '.':
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			if k := bytes.LastIndexByte(out, '/'); k >= 0 {
				out = out[:k]
			}
		default:
			out = append(out, '/')
			out = append(out, seg...) // never ahead of the read position
		}
		i = j
	}
	if dir || len(out) == 0 {
		if len(out) == 0 || out[len(out)-1] != '/' {
			out = append(out, '/')
		}
	}
	return dst[:start+len(out)], true
}
