package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/plugin/hmacauth"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
	"github.com/portico-gw/portico/internal/plugin/ratelimit"
	"github.com/portico-gw/portico/internal/snapshot"
)

// applyPolicies runs the API's policies in their order — client address,
// IP access control, traffic control — and answers the request itself when
// one refuses it. It reports whether the request may go on.
func (p *Proxy) applyPolicies(hx *h1.Exchange, st *reqState, s *snapshot.Snapshot, api *snapshot.API) bool {
	x := &st.x
	pol := &api.Policies
	if pol.IPControl != nil && !pol.IPControl.Permit(x.clientIP) {
		x.errMsg = "ip_control: client " + x.clientIP.String() + " denied"
		x.reject = observe.RejectIPControl
		p.fail(hx, x, 403, "access denied for this client address")
		return false
	}
	if pol.AuthKey && !p.keyAuth(hx, st, s, pol) {
		return false
	}
	if pol.JWT != nil && !p.jwtAuth(hx, st, pol) {
		return false
	}
	if pol.AuthApp && !p.appAuth(hx, st, s, pol) {
		return false
	}
	if t := pol.Traffic; t != nil {
		return p.trafficControl(hx, st, t)
	}
	return true
}

// clientIP is the peer's address, or the right-most untrusted address of
// X-Forwarded-For when the peer is a trusted proxy.
func (p *Proxy) clientIP(hx *h1.Exchange, st *reqState) netip.Addr {
	var peer netip.Addr
	if ta, ok := hx.RemoteAddr().(*net.TCPAddr); ok {
		peer, _ = netip.AddrFromSlice(ta.IP)
		peer = peer.Unmap()
	}
	if !p.clients.Trusted(peer) {
		return peer
	}
	st.x.peerTrusted = true
	st.xff = st.xff[:0]
	for i := range hx.Req.Fields {
		if f := &hx.Req.Fields[i]; f.Is("x-forwarded-for") {
			st.xff = append(st.xff, f.Value)
		}
	}
	return p.clients.Client(peer, st.xff)
}

// trafficControl checks every limit that applies, the client's own first,
// so that a request refused for its client does not use up the API's
// allowance; the answer reports the lowest limit.
func (p *Proxy) trafficControl(hx *h1.Exchange, st *reqState, t *snapshot.Traffic) bool {
	x := &st.x
	ctx := context.Background()
	if limit := t.IPLimitFor(x.clientIP); limit > 0 {
		key := append(append(st.keyBuf[:0], t.KeyPrefix...), "ip:"...)
		key = x.clientIP.AppendTo(key)
		st.keyBuf = key
		d := p.limiter.Allow(ctx, key, limit, t.Window)
		x.rl.merge(d)
		if !d.Allowed {
			return p.rateLimited(hx, x, "traffic_control: ip_limit of "+strconv.FormatInt(limit, 10)+" per "+window(t.Window)+" reached for "+x.clientIP.String())
		}
	}
	if limit := t.AppLimitFor(x.appID); limit > 0 && x.appID != "" {
		key := append(append(append(st.keyBuf[:0], t.KeyPrefix...), "app:"...), x.appID...)
		st.keyBuf = key
		d := p.limiter.Allow(ctx, key, limit, t.Window)
		x.rl.merge(d)
		if !d.Allowed {
			return p.rateLimited(hx, x, "traffic_control: app_limit of "+strconv.FormatInt(limit, 10)+" per "+window(t.Window)+" reached for app "+x.appID)
		}
	}
	if t.APILimit > 0 {
		key := append(append(st.keyBuf[:0], t.KeyPrefix...), "api"...)
		st.keyBuf = key
		d := p.limiter.Allow(ctx, key, t.APILimit, t.Window)
		x.rl.merge(d)
		if !d.Allowed {
			return p.rateLimited(hx, x, "traffic_control: api_limit of "+strconv.FormatInt(t.APILimit, 10)+" per "+window(t.Window)+" reached")
		}
	}
	return true
}

func window(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return "day"
}

func (p *Proxy) rateLimited(hx *h1.Exchange, x *exchange, reason string) bool {
	x.errMsg = reason
	x.reject = observe.RejectRateLimit
	p.fail(hx, x, 429, "too many requests: the rate limit of this API is reached", "Retry-After", strconv.FormatInt(ceilSeconds(x.rl.retryAfter), 10))
	return false
}

// rateState is what the RateLimit-* fields of an answer report: the lowest
// limit that applied to the request.
type rateState struct {
	set        bool
	limit      int64
	remaining  int64
	reset      time.Duration
	retryAfter time.Duration
}

func (r *rateState) merge(d ratelimit.Decision) {
	if !r.set || d.Limit < r.limit || (!d.Allowed && d.RetryAfter > r.retryAfter) {
		r.set, r.limit, r.remaining, r.reset = true, d.Limit, d.Remaining, d.Reset
	}
	if !d.Allowed && d.RetryAfter > r.retryAfter {
		r.retryAfter = d.RetryAfter
	}
}

func (r *rateState) write(w *bufio.Writer) {
	if !r.set {
		return
	}
	writeIntField(w, "RateLimit-Limit: ", r.limit)
	writeIntField(w, "RateLimit-Remaining: ", r.remaining)
	writeIntField(w, "RateLimit-Reset: ", ceilSeconds(r.reset))
}

func writeIntField(w *bufio.Writer, prefix string, v int64) {
	_, _ = w.WriteString(prefix)
	_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), v, 10))
	_, _ = w.WriteString("\r\n")
}

// ceilSeconds rounds up, and at least 1 s for a positive wait: "0" would
// tell a client to retry at once.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// keyAuth checks a key-pair signature: the Authorization header, the key
// it names, the signature and its date, then that a usage plan bound to
// the API holds the key, and the plan's rate and quota for that key.
func (p *Proxy) keyAuth(hx *h1.Exchange, st *reqState, s *snapshot.Snapshot, pol *snapshot.Policies) bool {
	x := &st.x
	v, ok := st.hreq.Field("authorization")
	if !ok {
		return p.unauthorized(hx, x, "authorization: this API needs a signed request (Authorization: hmac id=..., algorithm=..., headers=..., signature=...)")
	}
	h := &st.hmacHdr
	if err := hmacauth.ParseAuthorization(v, h); err != nil {
		return p.unauthorized(hx, x, err.Error())
	}
	kp := s.Keys[b2s(h.ID)]
	if kp == nil {
		return p.unauthorized(hx, x, "authorization: unknown key id")
	}
	// The request's start is the time its date is checked against: a
	// clock read saved, microseconds apart.
	if err := hmacauth.CheckKey(h, &st.hreq, kp.Secret, x.start); err != nil {
		return p.unauthorized(hx, x, err.Error())
	}
	plan := pol.Plan
	if plan == nil || !plan.Holds(kp.ID) {
		return p.unauthorized(hx, x, "key: the key is not in a usage plan bound to this API")
	}
	ctx := context.Background()
	if plan.RPS > 0 {
		key := append(append(st.keyBuf[:0], "plan:"...), plan.ID...)
		key = append(append(append(key, ':'), kp.ID...), ":rps"...)
		st.keyBuf = key
		d := p.limiter.Allow(ctx, key, plan.RPS, time.Second)
		x.rl.merge(d)
		if !d.Allowed {
			return p.rateLimited(hx, x, "usage plan: max_requests_per_second of "+strconv.FormatInt(plan.RPS, 10)+" reached for key "+kp.ID)
		}
	}
	if plan.Quota > 0 && p.quota != nil {
		st.keyBuf = config.AppendQuotaCounterKey(st.keyBuf[:0], plan.ID, kp.ID)
		if d := p.quota.AllowTotal(ctx, st.keyBuf, plan.Quota); !d.Allowed {
			x.errMsg = "usage plan: quota of " + strconv.FormatInt(plan.Quota, 10) + " calls used up for key " + kp.ID
			x.reject = observe.RejectQuota
			p.fail(hx, x, 429, "too many requests: the quota of this key is used up")
			return false
		}
	}
	return true
}

func (p *Proxy) unauthorized(hx *h1.Exchange, x *exchange, reason string) bool {
	x.errMsg = "auth: " + reason
	x.reject = observe.RejectAuth
	p.fail(hx, x, 401, reason, "WWW-Authenticate", "hmac")
	return false
}

// appAuth checks an application signature: the Authorization header, the
// application it names, the signature over the method, content headers,
// path, query and form (the body is read first when it is a form or has a
// Content-MD5 to check), then that the application is bound to the API.
func (p *Proxy) appAuth(hx *h1.Exchange, st *reqState, s *snapshot.Snapshot, pol *snapshot.Policies) bool {
	x := &st.x
	v, ok := st.hreq.Field("authorization")
	if !ok {
		return p.unauthorized(hx, x, "authorization: this API needs a request signed by an application (Authorization: hmac id=..., algorithm=..., headers=..., signature=...)")
	}
	h := &st.hmacHdr
	if err := hmacauth.ParseAuthorization(v, h); err != nil {
		return p.unauthorized(hx, x, err.Error())
	}
	app := s.Apps[b2s(h.ID)]
	if app == nil {
		return p.unauthorized(hx, x, "authorization: unknown app key")
	}
	req := &hx.Req
	ct, _ := st.hreq.Field("content-type")
	md5, hasMD5 := st.hreq.Field("content-md5")
	form := isForm(ct)
	if !hx.Body.Empty() && (form || hasMD5) {
		if req.Chunked || req.ContentLength > ReplayableBody {
			return p.unauthorized(hx, x, "form: a signed form or Content-MD5 body must have a Content-Length of at most 64 KiB")
		}
		if !p.readBody(hx, st) {
			return false
		}
		if form {
			st.hreq.form = st.replay
		}
	}
	if err := hmacauth.CheckApp(h, &st.hreq, app.Secret, time.Now()); err != nil {
		return p.unauthorized(hx, x, err.Error())
	}
	if hasMD5 && st.bodyRead && !form {
		if err := hmacauth.CheckContentMD5(md5, st.replay); err != nil {
			return p.unauthorized(hx, x, err.Error())
		}
	}
	if !pol.Apps[app.ID] {
		return p.unauthorized(hx, x, "app: the application is not bound to this API in this environment")
	}
	x.appID = app.ID
	return true
}

// isForm reports whether a Content-Type is application/x-www-form-urlencoded
// (any case, parameters allowed).
func isForm(ct []byte) bool {
	const form = "application/x-www-form-urlencoded"
	if len(ct) < len(form) || !h1.EqualLower(ct[:len(form)], form) {
		return false
	}
	rest := ct[len(form):]
	return len(rest) == 0 || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// hmacRequest is the view of a request that hmacauth reads.
type hmacRequest struct {
	hx *h1.Exchange
	// env is the "/<environment>" prefix the route was chosen by, "" when
	// none; form is the body of a urlencoded request once read.
	env  string
	form []byte
}

func (r *hmacRequest) Field(lowerName string) ([]byte, bool) {
	for i := range r.hx.Req.Fields {
		if f := &r.hx.Req.Fields[i]; f.Is(lowerName) {
			return f.Value, true
		}
	}
	return nil, false
}

func (r *hmacRequest) Method() []byte { return r.hx.Req.Method }

// Path is the path as sent, without the environment prefix that chose the
// route (applications sign the path as the API sees it).
func (r *hmacRequest) Path() []byte {
	p := r.hx.Req.Path
	if r.env != "" && len(p) >= len(r.env) && string(p[:len(r.env)]) == r.env &&
		(len(p) == len(r.env) || p[len(r.env)] == '/') {
		if p = p[len(r.env):]; len(p) == 0 {
			return slashPath
		}
	}
	return p
}

var slashPath = []byte("/")

func (r *hmacRequest) Query() []byte { return r.hx.Req.Query }
func (r *hmacRequest) Form() []byte  { return r.form }
func (r *hmacRequest) HasBody() bool { return !r.hx.Body.Empty() }

// jwtAuth checks the bearer token and keeps the claims to pass on; the
// client's own copies of those headers are dropped (appendHead).
func (p *Proxy) jwtAuth(hx *h1.Exchange, st *reqState, pol *snapshot.Policies) bool {
	x := &st.x
	v := pol.JWT
	st.dropHeaders = pol.JWTHeaders
	auth, _ := st.hreq.Field("authorization")
	token, ok := jwtauth.BearerToken(auth)
	if !ok {
		x.errMsg = "auth: jwt: " + jwtauth.ReasonMissing
		x.reject = observe.RejectAuth
		p.fail(hx, x, 401, "jwt: "+jwtauth.ReasonMissing, "WWW-Authenticate", "Bearer")
		return false
	}
	claims, err := v.Verify(token, time.Now())
	if err != nil {
		reason := err.Error()
		var je *jwtauth.Error
		if errors.As(err, &je) {
			reason = je.Reason
		}
		x.errMsg = "auth: jwt: " + reason
		x.reject = observe.RejectAuth
		if reason == jwtauth.ReasonKeysUnavailable {
			// The identity provider's keys could not be fetched: the
			// gateway's failure, not the client's.
			p.fail(hx, x, 503, "jwt: "+reason)
			return false
		}
		p.fail(hx, x, 401, "jwt: "+reason, "WWW-Authenticate", `Bearer error="invalid_token"`)
		return false
	}
	st.claims = claims
	return true
}
