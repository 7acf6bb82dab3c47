package proxy

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/plugin/ratelimit"
	"github.com/portico-gw/portico/internal/snapshot"
)

// applyPolicies runs the API's policies in their order — client address,
// IP access control, traffic control — and answers the request itself when
// one refuses it. It reports whether the request may go on.
func (p *Proxy) applyPolicies(hx *h1.Exchange, st *reqState, api *snapshot.API) bool {
	x := &st.x
	pol := &api.Policies
	if pol.IPControl != nil && !pol.IPControl.Permit(x.clientIP) {
		x.errMsg = "ip_control: client " + x.clientIP.String() + " denied"
		p.fail(hx, x, 403, "access denied for this client address")
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
