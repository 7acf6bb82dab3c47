package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var ctx = context.Background()

// A fresh key gets exactly limit requests in one window, wherever in the
// window they come and however they are spread, with Remaining counting
// down to zero; the next is refused.
func TestExactLimitWithinWindow(t *testing.T) {
	cases := []struct {
		limit  int64
		window time.Duration
		offset time.Duration // where in the window the first request comes
		gap    time.Duration // between requests
	}{
		{1, time.Minute, 0, 0},
		{10, time.Minute, 0, 0},
		{10, time.Minute, 30 * time.Second, time.Second},
		{10, time.Minute, 59*time.Second + 990*time.Millisecond, time.Millisecond},
		{100, time.Second, 0, 5 * time.Millisecond},
		{1000, time.Hour, 0, 0},
		{5, 24 * time.Hour, 12 * time.Hour, time.Hour},
		{3, time.Second, 999 * time.Millisecond, 0},
	}
	forEachImpl(t, func(t *testing.T, clock *fakeClock, lim Limiter) {
		for i, c := range cases {
			key := fmt.Appendf(nil, "exact-%d", i)
			clock.Set(t0.Add(c.offset))
			for j := int64(1); j <= c.limit; j++ {
				d := lim.Allow(ctx, key, c.limit, c.window)
				if !d.Allowed || d.Remaining != c.limit-j || d.Limit != c.limit || d.RetryAfter != 0 {
					t.Fatalf("case %d (%+v), request %d: %+v, want allowed with remaining %d", i, c, j, d, c.limit-j)
				}
				clock.Add(c.gap)
			}
			d := lim.Allow(ctx, key, c.limit, c.window)
			if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.Reset != d.RetryAfter {
				t.Fatalf("case %d (%+v), request %d: %+v, want refused with a retry time", i, c, c.limit+1, d)
			}
		}
	})
}

// Reset and RetryAfter have their documented values, and are exact: a
// request at now+RetryAfter passes, one a microsecond earlier does not
// (refused requests are not counted, so the probe does not disturb the
// state).
func TestResetAndRetryAfter(t *testing.T) {
	W := time.Minute
	step := time.Duration(windowParams(W).u) * time.Microsecond
	cases := []struct {
		name    string
		limit   int64
		history []time.Duration // request times from t0 (all allowed)
		at      time.Duration   // the request looked at
		allowed bool
		reset   time.Duration // expected, within [reset, reset+2 steps]
	}{
		// The whole limit at the start of a window: the next request
		// passes as soon as the next window starts, where the burst weighs
		// a little less than the limit.
		{"burst at start", 10, repeat(0, 9), 0, true, W},
		{"burst at start, refused", 10, repeat(0, 10), time.Second, false, W - time.Second},
		// One request: Remaining is 9; the tenth place frees when the
		// request weighs less than one, right after the window.
		{"one request", 10, nil, 0, true, W},
		// A quarter into the next window the previous window's 10 weigh
		// 7.5: three more pass (7.5, 8.5, 9.5), and the next when the 10
		// weigh less than 7, at 0.3 of the window.
		{"carried over", 10, repeat(0, 10), W + W/4, true, W / 20},
		{"carried over, spent", 10, append(repeat(0, 10), repeat(W+W/4, 3)...), W + W/4, false, W / 20},
		// Limit 1 is one request per calendar window.
		{"limit 1", 1, nil, 0, true, W},
		{"limit 1, refused", 1, []time.Duration{W / 3}, W / 2, false, W / 2},
		{"limit 1, next window", 1, []time.Duration{W / 3, W + time.Millisecond}, W + W/2, false, W / 2},
	}
	forEachImpl(t, func(t *testing.T, clock *fakeClock, lim Limiter) {
		for i, c := range cases {
			key := fmt.Appendf(nil, "reset-%d", i)
			for _, h := range c.history {
				clock.Set(t0.Add(h))
				if d := lim.Allow(ctx, key, c.limit, W); !d.Allowed {
					t.Fatalf("%s: history request at %v refused: %+v", c.name, h, d)
				}
			}
			clock.Set(t0.Add(c.at))
			d := lim.Allow(ctx, key, c.limit, W)
			if d.Allowed != c.allowed {
				t.Fatalf("%s: %+v, want allowed=%v", c.name, d, c.allowed)
			}
			if d.Reset < c.reset || d.Reset > c.reset+2*step {
				t.Errorf("%s: Reset %v, want %v (+ up to two steps of %v)", c.name, d.Reset, c.reset, step)
			}
			if !c.allowed && d.RetryAfter != d.Reset {
				t.Errorf("%s: RetryAfter %v, want Reset %v", c.name, d.RetryAfter, d.Reset)
			}
			if c.allowed && d.RetryAfter != 0 {
				t.Errorf("%s: RetryAfter %v for an allowed request", c.name, d.RetryAfter)
			}
		}
	})
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

// RetryAfter and Reset are exact, on many random states: the request at
// now+RetryAfter−1µs is refused and the one at now+RetryAfter passes; the
// room grows by one exactly at now+Reset. Two keys get the same history, so
// that one can be looked at just before a time and the other at it.
func TestRetryAfterAndResetExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			clock := newClock(t0)
			lim := im.new(t, clock)
			rounds := 150
			if im.name == "redis" {
				rounds = 40
			}
			for round := range rounds {
				limit := 1 + rng.Int64N(20)
				W := []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour}[rng.IntN(4)]
				a, b := fmt.Appendf(nil, "a%d", round), fmt.Appendf(nil, "b%d", round)
				both := func() Decision {
					da, db := lim.Allow(ctx, a, limit, W), lim.Allow(ctx, b, limit, W)
					if da != db {
						t.Fatalf("round %d: same history, different answers: %+v, %+v", round, da, db)
					}
					return da
				}
				// Random history: bursts at random times over a few windows.
				now := t0.Add(time.Duration(rng.Int64N(int64(W))))
				for range 1 + rng.IntN(6) {
					now = now.Add(time.Duration(rng.Int64N(int64(W / 2))))
					clock.Set(now)
					for range rng.IntN(int(limit) + 1) {
						both()
					}
				}
				// Spend what is left, so the last answer is a refusal.
				var d Decision
				for d = both(); d.Allowed; d = both() {
				}
				if d.RetryAfter <= 0 || d.Reset != d.RetryAfter || d.Remaining != 0 {
					t.Fatalf("round %d: refusal %+v", round, d)
				}
				clock.Set(now.Add(d.RetryAfter - time.Microsecond))
				if e := lim.Allow(ctx, a, limit, W); e.Allowed {
					t.Fatalf("round %d (limit %d, window %v): allowed 1µs before RetryAfter %v: %+v", round, limit, W, d.RetryAfter, e)
				}
				now = now.Add(d.RetryAfter)
				clock.Set(now)
				ok := both()
				if !ok.Allowed {
					t.Fatalf("round %d (limit %d, window %v): refused at RetryAfter %v: %+v", round, limit, W, d.RetryAfter, ok)
				}
				// Just before Reset the room is still Remaining; at Reset it
				// is one more.
				room := func(key []byte) int64 {
					n := int64(0)
					for lim.Allow(ctx, key, limit, W).Allowed {
						n++
					}
					return n
				}
				clock.Set(now.Add(ok.Reset - time.Microsecond))
				if got := room(a); got != ok.Remaining {
					t.Fatalf("round %d (limit %d, window %v): %d passed 1µs before Reset %v, want Remaining = %d", round, limit, W, got, ok.Reset, ok.Remaining)
				}
				clock.Set(now.Add(ok.Reset))
				if got := room(b); got != ok.Remaining+1 {
					t.Fatalf("round %d (limit %d, window %v): %d passed at Reset %v, want Remaining+1 = %d", round, limit, W, got, ok.Reset, ok.Remaining+1)
				}
			}
		})
	}
}

// Refused requests are not counted: hammering a spent key does not push
// its next free request back.
func TestRefusedNotCounted(t *testing.T) {
	forEachImpl(t, func(t *testing.T, clock *fakeClock, lim Limiter) {
		const limit, W = 5, time.Minute
		quiet, hammered := []byte("quiet"), []byte("hammered")
		for range limit {
			lim.Allow(ctx, quiet, limit, W)
			lim.Allow(ctx, hammered, limit, W)
		}
		var dq, dh Decision
		for i := range 200 {
			clock.Set(t0.Add(time.Duration(i) * W / 100)) // through two windows
			dh = lim.Allow(ctx, hammered, limit, W)
			if dh.Allowed {
				break
			}
		}
		// The quiet key, asked once at the same moment, gets the same answer.
		dq = lim.Allow(ctx, quiet, limit, W)
		if !dh.Allowed || dq != dh {
			t.Fatalf("hammered key %+v, quiet key %+v: want the same, allowed", dh, dq)
		}
	})
}

// The error bound at a window edge, as documented: with the whole limit
// spent in the last instant of a window, a burst right across the edge gets
// at most one more, and then one request frees per limit-th of a window. So
// a stretch of one window gets at most limit + ⌈limit × b/window⌉, where b
// is its part after the edge: at most 2×limit, and the bound is reached.
func TestEdgeErrorBound(t *testing.T) {
	forEachImpl(t, func(t *testing.T, clock *fakeClock, lim Limiter) {
		const limit = 100
		W := time.Minute
		key := []byte("edge")
		edge := t0.Add(W)
		clock.Set(edge.Add(-time.Microsecond))
		for range limit {
			if d := lim.Allow(ctx, key, limit, W); !d.Allowed {
				t.Fatalf("burst before the edge refused: %+v", d)
			}
		}
		// A burst across the edge: nothing at the edge, one just after it.
		clock.Set(edge)
		if d := lim.Allow(ctx, key, limit, W); d.Allowed {
			t.Fatalf("request at the edge allowed: %+v", d)
		}
		clock.Set(edge.Add(2 * time.Millisecond))
		burst := 0
		for range limit {
			if lim.Allow(ctx, key, limit, W).Allowed {
				burst++
			}
		}
		if burst != 1 {
			t.Fatalf("burst 2 ms after the edge got %d, want 1", burst)
		}
		// A client asking every 10 ms gets one request per limit-th of the
		// window, never more than the bound.
		cur := int64(burst)
		for b := 10 * time.Millisecond; b < W; b += 10 * time.Millisecond {
			clock.Set(edge.Add(b))
			for lim.Allow(ctx, key, limit, W).Allowed {
				cur++
			}
			bound := ceilDiv(limit*int64(b), int64(W)) // ⌈limit × b/W⌉
			if cur > bound || cur < bound-1 {
				t.Fatalf("%v after the edge: %d passed, want ⌈limit×b/W⌉ = %d (or one less)", b, cur, bound)
			}
		}
		// Over the stretch (edge−1µs, edge+W−10ms], shorter than a window:
		// the bound, twice the limit.
		if total := limit + cur; total != 2*limit {
			t.Errorf("one window straddling the edge got %d, want the bound 2×limit = %d", total, 2*limit)
		}
	})
}

// A client that asks without pause gets exactly limit per calendar window,
// every window: the estimate does not hold back the last request of a
// window (limit 1 is one request per window, not one per two).
func TestSteadyClientGetsExactlyLimit(t *testing.T) {
	forEachImpl(t, func(t *testing.T, clock *fakeClock, lim Limiter) {
		for _, limit := range []int64{1, 2, 10, 100} {
			W := time.Second
			key := fmt.Appendf(nil, "steady-%d", limit)
			start := t0.Add(W * time.Duration(10*limit)) // a fresh stretch per limit
			perWindow := map[int64]int64{}
			for at := time.Duration(0); at < 5*W; at += 5 * time.Millisecond {
				clock.Set(start.Add(at))
				for lim.Allow(ctx, key, limit, W).Allowed {
					perWindow[int64(at/W)]++
				}
			}
			for w := range int64(5) {
				if perWindow[w] != limit {
					t.Fatalf("limit %d: %v per window, want %d in each", limit, perWindow, limit)
				}
			}
		}
	})
}

// On random traffic, every sliding stretch of one window ending at an
// allowed request holds at most limit + ⌈limit × b/window⌉ requests,
// where b is how far the stretch reaches past the last edge, and every
// calendar window at most limit.
func TestRandomTrafficBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	clock := newClock(t0)
	lim := newLocal(clock.Now, MaxKeys, false)
	const limit = 20
	W := time.Second
	key := []byte("random")
	var allowed []time.Time
	now := t0
	for range 20000 {
		// Bursts and pauses: mostly short gaps, sometimes long ones.
		gap := time.Duration(rng.ExpFloat64() * float64(W) / 50)
		if rng.IntN(20) == 0 {
			gap = time.Duration(rng.Int64N(int64(2 * W)))
		}
		now = now.Add(gap)
		clock.Set(now)
		if !lim.Allow(ctx, key, limit, W).Allowed {
			continue
		}
		allowed = append(allowed, now)
		n, inWindow := 0, 0
		start := now.Truncate(W)
		for i := len(allowed) - 1; i >= 0 && allowed[i].After(now.Add(-W)); i-- {
			n++
			if !allowed[i].Before(start) {
				inWindow++
			}
		}
		b := now.Sub(start)
		if bound := limit + int(ceilDiv(limit*int64(b), int64(W))); n > bound {
			t.Fatalf("at %v: %d requests in the last window, bound %d", now.Sub(t0), n, bound)
		}
		if inWindow > limit {
			t.Fatalf("at %v: %d requests in the calendar window, limit %d", now.Sub(t0), inWindow, limit)
		}
	}
	if len(allowed) < 1000 {
		t.Fatalf("only %d allowed: the traffic did not test much", len(allowed))
	}
}

// The same requests at the same times get the same answers from the local
// limiter and from Redis, field by field: one algorithm.
func TestRedisMatchesLocal(t *testing.T) {
	c := needRedis(t)
	clock := newClock(t0)
	local := newLocal(clock.Now, MaxKeys, false)
	r := newTestRedis(t, c, testRedisURL, clock, nil)
	rng := rand.New(rand.NewPCG(5, 6))
	now := t0
	for i := range 3000 {
		W := []time.Duration{time.Second, time.Minute}[i%2]
		key := fmt.Appendf(nil, "k%d", rng.IntN(4))
		limit := int64(1 + rng.IntN(8))
		now = now.Add(time.Duration(rng.ExpFloat64() * float64(W) / 10))
		clock.Set(now)
		dl := local.Allow(ctx, key, limit, W)
		dr := r.Allow(ctx, key, limit, W)
		if dl != dr {
			t.Fatalf("request %d (key %s, limit %d, window %v, at %v): local %+v, redis %+v", i, key, limit, W, now.Sub(t0), dl, dr)
		}
	}
	if r.Fallbacks() != 0 {
		t.Fatalf("%d decisions fell back", r.Fallbacks())
	}
}

// A key used with another window length starts afresh, and a limit below
// one refuses without counting.
func TestWindowChangeAndZeroLimit(t *testing.T) {
	forEachImpl(t, func(t *testing.T, clock *fakeClock, lim Limiter) {
		key := []byte("change")
		for range 3 {
			lim.Allow(ctx, key, 3, time.Minute)
		}
		if d := lim.Allow(ctx, key, 3, time.Minute); d.Allowed {
			t.Fatalf("4th of 3 allowed: %+v", d)
		}
		if d := lim.Allow(ctx, key, 3, time.Hour); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("same key, new window: %+v, want a fresh counter", d)
		}
		if d := lim.Allow(ctx, []byte("zero"), 0, time.Minute); d.Allowed || d.RetryAfter != time.Minute {
			t.Fatalf("limit 0: %+v", d)
		}
	})
}

func TestDecisionSeconds(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {time.Microsecond, 1}, {300 * time.Millisecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {66 * time.Second, 66}}
	for _, c := range cases {
		d := Decision{Reset: c.d, RetryAfter: c.d}
		if d.ResetSeconds() != c.want || d.RetryAfterSeconds() != c.want {
			t.Errorf("%v: %d, %d, want %d", c.d, d.ResetSeconds(), d.RetryAfterSeconds(), c.want)
		}
	}
}

// The quota counts exactly limit, keeps its count, and resets.
func TestQuota(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			q := im.new(t, newClock(t0)).(Quota)
			key := []byte("plan")
			for i := int64(1); i <= 3; i++ {
				if d := q.AllowTotal(ctx, key, 3); !d.Allowed || d.Remaining != 3-i || d.Limit != 3 {
					t.Fatalf("request %d: %+v", i, d)
				}
			}
			for range 5 {
				if d := q.AllowTotal(ctx, key, 3); d.Allowed || d.Remaining != 0 || d.RetryAfter != 0 {
					t.Fatalf("over quota: %+v", d)
				}
			}
			if n, err := q.Used(ctx, key); err != nil || n != 3 {
				t.Fatalf("Used = %d, %v; want 3 (refusals not counted)", n, err)
			}
			if d := q.AllowTotal(ctx, key, 5); !d.Allowed || d.Remaining != 1 {
				t.Fatalf("raised quota: %+v", d)
			}
			if err := q.ResetTotal(ctx, key); err != nil {
				t.Fatal(err)
			}
			if n, err := q.Used(ctx, key); err != nil || n != 0 {
				t.Fatalf("after reset Used = %d, %v", n, err)
			}
			if n, err := q.Used(ctx, []byte("never")); err != nil || n != 0 {
				t.Fatalf("unknown key Used = %d, %v", n, err)
			}
			if d := q.AllowTotal(ctx, key, 3); !d.Allowed || d.Remaining != 2 {
				t.Fatalf("after reset: %+v", d)
			}
		})
	}
}
