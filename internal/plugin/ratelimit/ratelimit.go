// Package ratelimit counts requests for the gateway's rate limits: at most
// limit requests per window per key (traffic_control: per API, per
// application, per client address; usage plans: requests per second), and
// totals without a window (usage-plan quotas).
//
// The algorithm is a sliding-window counter with two buckets. Time is cut
// into windows aligned on the Unix epoch (a minute window runs from hh:mm:00
// to hh:mm:59.999999 UTC); a key keeps the count of its current window and of
// the one before. The estimate of the last window's worth of requests is
//
//	previous × (share of the previous window still inside the sliding window) + current
//
// and a request passes while the estimate, before it, is below limit.
//
// It was chosen over GCRA (a token bucket) because it keeps the promise the
// configuration makes: within one calendar window a key never gets more than
// limit, a client that asks without pause gets exactly limit per window, and
// a client that spends its limit in a burst does not get a second limit's
// worth trickling in during the same window, as it would from a bucket that
// refills at limit/window. Its state is two small counters, so a key costs
// about 130 bytes in memory and one small hash in Redis. Its error is at
// window edges: requests sent together across an edge get at most limit+1,
// and a stretch of one window at most limit + ⌈limit × b/window⌉ (b: its part
// after the edge), at most 2×limit, reached only when the previous
// window's requests all came at its end. docs/rate-limiting.md explains it
// for users.
//
// Arithmetic is exact integer arithmetic on values below 2^53, so that the
// Lua script in Redis (whose numbers are doubles) and the Go code in memory
// take the same decision for the same state and time: time is in
// microseconds, and the share of the previous window is counted in at most
// 65,536 steps of a window.
package ratelimit

import (
	"context"
	"time"
)

// Decision is the answer for one request.
type Decision struct {
	// Allowed says whether the request may pass.
	Allowed bool
	// Limit is the limit the request was counted against (RateLimit-Limit).
	Limit int64
	// Remaining is how many more requests would pass now, after this one
	// (RateLimit-Remaining); never negative.
	Remaining int64
	// Reset is the time until the window frees one more request than
	// Remaining: for a refused request, when the next one may pass
	// (RateLimit-Reset). Zero for a quota, which does not free by itself.
	Reset time.Duration
	// RetryAfter is, for a refused request, the time until the next request
	// may pass (Retry-After); zero when allowed, and for a quota.
	RetryAfter time.Duration
}

// ResetSeconds is Reset in whole seconds, rounded up, for the
// RateLimit-Reset header: rounding down would tell a client to come back
// before there is room.
func (d Decision) ResetSeconds() int64 { return ceilSeconds(d.Reset) }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, for the
// Retry-After header: rounding down would turn a 300 ms wait into
// "Retry-After: 0", an invitation to retry at once.
func (d Decision) RetryAfterSeconds() int64 { return ceilSeconds(d.RetryAfter) }

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Limiter counts requests.
type Limiter interface {
	// Allow counts one request for key against limit per window and says
	// whether it may pass. A refused request is not counted. key is only
	// read during the call (the local limiter copies it when it creates a
	// counter).
	//
	// The counter of a key belongs to one window length: calling Allow for
	// the same key with another window starts it afresh, so a key should name
	// the rule it counts for (API, application or address, and the rule).
	Allow(ctx context.Context, key []byte, limit int64, window time.Duration) Decision
}

// Quota is a total counter without a window (usage-plan quota): it counts
// until an administrator resets it.
type Quota interface {
	// AllowTotal counts one request for key against a total of limit and
	// says whether it may pass; a refused request is not counted. Reset and
	// RetryAfter are zero: a spent quota does not free up by itself.
	AllowTotal(ctx context.Context, key []byte, limit int64) Decision
	// Used is how many requests key has counted (for the admin API).
	Used(ctx context.Context, key []byte) (int64, error)
	// ResetTotal sets the count of key back to zero.
	ResetTotal(ctx context.Context, key []byte) error
}

// Compile-time checks that both counters offer both contracts.
var (
	_ Limiter = (*Local)(nil)
	_ Limiter = (*Redis)(nil)
	_ Quota   = (*Local)(nil)
	_ Quota   = (*Redis)(nil)
)

const (
	// maxSteps is the number of steps the previous window's share is
	// counted in. With it, counts up to maxLimit and time in microseconds,
	// every product stays below 2^53, where doubles (Lua in Redis) are exact.
	maxSteps = 1 << 16
	// maxLimit caps a limit (the admin API allows up to 10^9) for the same
	// reason: maxLimit × maxSteps × 2 < 2^53.
	maxLimit = 1 << 35
)

// params are the integer parameters of one window length.
type params struct {
	w int64 // window, µs (at least 1)
	u int64 // step, µs: ceil(w / maxSteps)
	n int64 // steps in a window: ceil(w / u), at most maxSteps
}

func windowParams(window time.Duration) params {
	w := window.Microseconds()
	if w < 1 {
		w = 1
	}
	u := (w + maxSteps - 1) / maxSteps
	return params{w: w, u: u, n: (w + u - 1) / u}
}

// clampLimit keeps a limit inside the exact range.
func clampLimit(limit int64) int64 { return min(limit, maxLimit) }

// position is where a time falls in its window.
type position struct {
	now   int64 // µs since the epoch
	start int64 // start of now's window, µs
	s     int64 // step of now within its window, 0 ≤ s < n
}

func positionAt(now int64, p params) position {
	e := now % p.w
	if e < 0 { // before 1970: only a broken clock, but stay consistent
		e += p.w
	}
	return position{now: now, start: now - e, s: e / p.u}
}

// roll brings a stored state (b: start of the window counted in c; pc:
// count of the window before it) to the window starting at start, and
// returns the previous and current counts there. A stored window later than
// start (the clock went back) is kept as the current one: forgetting counts
// would hand out requests twice.
func roll(b, pc, c, start, w int64) (prev, cur int64) {
	switch {
	case b >= start:
		return pc, c
	case b == start-w:
		return c, 0
	}
	return 0, 0
}

// admits is the rule: prev weighted by its share still in the sliding
// window, plus cur (the requests counted before this one), below limit.
// Scaled by n so it is exact in integers: prev×(n−s) + cur×n < limit×n. The
// Lua script has the same line.
func admits(prev, cur, limit int64, pos position, p params) bool {
	return prev*(p.n-pos.s)+cur*p.n < limit*p.n
}

// decide builds the Decision from the counts after the request (cur
// includes it when allowed). Both limiters call it, the Redis one with the
// counts and time its script returns, so the answers agree.
func decide(allowed bool, prev, cur, limit int64, pos position, p params) Decision {
	n := p.n
	// Remaining: how many more would pass now, each adding one to the
	// estimate while it stays below limit: ceil(room).
	free := limit*n - prev*(n-pos.s) - cur*n // scaled room left
	rem := int64(0)
	if free > 0 {
		rem = ceilDiv(free, n)
	}
	// Reset: the first step at which one more would pass, i.e. the scaled
	// estimate falls below goal. It is at least goal now, and falls as the
	// previous window's share shrinks, then (in the next window) as this
	// window's count becomes the previous one and shrinks.
	goal := (limit - rem) * n
	var at int64
	switch {
	case prev > 0 && goal > cur*n:
		// Within this window: prev×(n−s) < goal − cur×n.
		s := n + 1 - ceilDiv(goal-cur*n, prev)
		at = pos.start + min(s*p.u, p.w)
	case cur > 0 && goal > 0:
		// In the next window, where cur is the previous count: cur×(n−s) < goal.
		s := max(n+1-ceilDiv(goal, cur), 0)
		at = pos.start + p.w + min(s*p.u, p.w)
	default:
		// Nothing counted and still no room: only a limit below one.
		at = pos.start + p.w
	}
	reset := time.Duration(at-pos.now) * time.Microsecond
	if reset < time.Microsecond {
		reset = time.Microsecond
	}
	d := Decision{Allowed: allowed, Limit: limit, Remaining: rem, Reset: reset}
	if !allowed {
		d.Remaining = 0
		d.RetryAfter = reset
	}
	return d
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// refuseAll answers a limit below one: nothing passes, and no counter is
// kept for it.
func refuseAll(limit int64, window time.Duration) Decision {
	if window < time.Microsecond {
		window = time.Microsecond
	}
	return Decision{Limit: max(limit, 0), Reset: window, RetryAfter: window}
}

// totalDecision is the answer of a quota after counting: used includes this
// request when allowed.
func totalDecision(allowed bool, used, limit int64) Decision {
	return Decision{Allowed: allowed, Limit: limit, Remaining: max(limit-used, 0)}
}
