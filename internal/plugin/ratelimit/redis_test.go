package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two gateway nodes sharing one Redis share the limit: together they get
// limit, not twice it. Time is the Redis server's.
func TestRedisTwoNodesShareTheLimit(t *testing.T) {
	c := needRedis(t)
	a := newTestRedis(t, c, testRedisURL, nil, nil)
	b := newTestRedis(t, c, testRedisURL, nil, nil)
	b.prefix = a.prefix // the same Redis keys, as two nodes of one gateway
	const limit = 50
	key := []byte("shared")
	allowed := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range []*Redis{a, b} {
		for range 4 {
			wg.Go(func() {
				for range limit {
					if node.Allow(ctx, key, limit, time.Hour).Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	if allowed != limit {
		t.Fatalf("two nodes allowed %d together, want %d", allowed, limit)
	}
	if a.Fallbacks()+b.Fallbacks() != 0 {
		t.Fatalf("fallbacks: %d, %d", a.Fallbacks(), b.Fallbacks())
	}
}

// The key layout: one hash under the prefix, expiring about two windows
// after the last request.
func TestRedisKeyLayout(t *testing.T) {
	c := needRedis(t)
	r := newTestRedis(t, c, testRedisURL, nil, nil)
	for range 3 {
		r.Allow(ctx, []byte("api-1:ip:192.0.2.1"), 10, time.Minute)
	}
	name := r.prefix + "w:api-1:ip:192.0.2.1"
	if !strings.HasPrefix(name, DefaultPrefix) {
		t.Fatalf("key %q outside %q", name, DefaultPrefix)
	}
	h, err := c.HGetAll(ctx, name).Result()
	if err != nil || h["c"] != "3" || h["w"] != "60000000" {
		t.Fatalf("HGETALL %s = %v, %v", name, h, err)
	}
	ttl, err := c.PTTL(ctx, name).Result()
	if err != nil || ttl <= time.Minute || ttl > 2*time.Minute {
		t.Fatalf("PTTL %s = %v, %v; want between one and two windows", name, ttl, err)
	}
}

// Redis's own clock decides, not the node's: a limiter without a test
// clock counts in the server's current window.
func TestRedisServerTime(t *testing.T) {
	c := needRedis(t)
	r := newTestRedis(t, c, testRedisURL, nil, nil)
	key := []byte("time")
	for i := range 3 {
		if d := r.Allow(ctx, key, 3, time.Hour); !d.Allowed {
			t.Fatalf("request %d refused: %+v", i+1, d)
		}
	}
	d := r.Allow(ctx, key, 3, time.Hour)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 2*time.Hour {
		t.Fatalf("4th of 3 per hour: %+v", d)
	}
	tm, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.HGet(ctx, r.prefix+"w:time", "b").Int64()
	if err != nil || b != tm.Truncate(time.Hour).UnixMicro() {
		t.Fatalf("window start %d, %v; want the server's hour %d", b, err, tm.Truncate(time.Hour).UnixMicro())
	}
}

// Redis forgetting its scripts (restart, SCRIPT FLUSH) costs one EVAL, not
// a fallback.
func TestRedisNoScript(t *testing.T) {
	c := needRedis(t)
	r := newTestRedis(t, c, testRedisURL, nil, nil)
	key := []byte("noscript")
	r.Allow(ctx, key, 10, time.Minute)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if d := r.Allow(ctx, key, 10, time.Minute); !d.Allowed || d.Remaining != 8 {
		t.Fatalf("after SCRIPT FLUSH: %+v", d)
	}
	if r.AllowTotal(ctx, key, 10).Remaining != 9 {
		t.Fatal("total after SCRIPT FLUSH")
	}
	if r.Fallbacks() != 0 {
		t.Fatalf("%d fallbacks", r.Fallbacks())
	}
}

func TestNewRedisURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:6379", "http://127.0.0.1:6379", "redis://127.0.0.1:6379/x", "redis://127.0.0.1:port"} {
		if r, err := NewRedis(u, nil, nil); err == nil {
			_ = r.Close()
			t.Errorf("NewRedis(%q) accepted", u)
		}
	}
	// Unreachable is not an error.
	r, err := NewRedis("redis://192.0.2.1:6379/3", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a local address where nothing listens.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// A Redis nobody listens for: every decision comes at once from local
// counting (exactly the limit passes), Fallbacks counts them, the outage is
// logged once however many probes fail, and no probe storm: at most one
// probe per back-off period.
func TestRedisUnreachableFallsBack(t *testing.T) {
	var logs logBuf
	clock := newClock(t0)
	r := newTestRedis(t, nil, "redis://"+freeAddr(t)+"/0", clock, slog.New(slog.NewTextHandler(&logs, nil)))
	r.minBackoff, r.maxBackoff = 20*time.Millisecond, 40*time.Millisecond
	const n, limit = 300, 5
	allowed := 0
	start := time.Now()
	for range n {
		t1 := time.Now()
		if r.Allow(ctx, []byte("k"), limit, time.Minute).Allowed {
			allowed++
		}
		if d := time.Since(t1); d > 100*time.Millisecond {
			t.Fatalf("a decision took %v", d)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	if allowed != limit {
		t.Fatalf("%d allowed, want %d (counted locally)", allowed, limit)
	}
	if got := r.Fallbacks(); got != n {
		t.Fatalf("Fallbacks = %d, want %d", got, n)
	}
	if got := logs.count("Redis unavailable"); got != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", got, logs.String())
	}
	if logs.count("Redis is back") != 0 {
		t.Fatalf("recovery logged:\n%s", logs.String())
	}
	// The quota falls back too.
	if d := r.AllowTotal(ctx, []byte("q"), 1); !d.Allowed || r.Fallbacks() != n+1 {
		t.Fatalf("quota during the outage: %+v, fallbacks %d", d, r.Fallbacks())
	}
	if _, err := r.Used(ctx, []byte("q")); err == nil {
		t.Fatal("Used during an outage returned no error")
	}
	t.Logf("%d decisions in %v", n, elapsed)
}

// A Redis that accepts connections and never answers: the first decision
// waits for the read timeout, the next ones not at all.
func TestRedisSlowFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	var logs logBuf
	r := newTestRedis(t, nil, "redis://"+ln.Addr().String()+"/0", nil, slog.New(slog.NewTextHandler(&logs, nil)))
	t1 := time.Now()
	r.Allow(ctx, []byte("k"), 5, time.Minute)
	first := time.Since(t1)
	if first > 500*time.Millisecond {
		t.Fatalf("the first decision took %v, want about the 50 ms timeout", first)
	}
	t1 = time.Now()
	for range 1000 {
		r.Allow(ctx, []byte("k"), 5, time.Minute)
	}
	if rest := time.Since(t1); rest > 200*time.Millisecond {
		t.Fatalf("1000 decisions during the back-off took %v", rest)
	}
	if r.Fallbacks() != 1001 || logs.count("Redis unavailable") != 1 {
		t.Fatalf("Fallbacks = %d, logs:\n%s", r.Fallbacks(), logs.String())
	}
	t.Logf("first decision %v", first)
}

// proxy is a TCP relay to Redis that the test stops (closing its listener
// and every connection: Redis is gone) and starts again on the same port.
type proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func (p *proxy) start(t *testing.T) {
	t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("proxy listen on %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	if p.conns == nil {
		p.conns = map[net.Conn]struct{}{}
	}
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Redis goes away and comes back: decisions fall back at once, the outage
// is logged once, and once Redis answers again the next probe (after the
// back-off) returns the counting to Redis, logged once.
func TestRedisRecovers(t *testing.T) {
	c := needRedis(t)
	p := &proxy{target: testRedisAddr}
	p.start(t)
	defer p.stop()
	var logs logBuf
	r := newTestRedis(t, c, "redis://"+p.addr+"/0", nil, slog.New(slog.NewTextHandler(&logs, nil)))
	r.minBackoff, r.maxBackoff = 50*time.Millisecond, 100*time.Millisecond
	key := []byte("recover")
	count := func() int64 {
		n, err := c.HGet(ctx, r.prefix+"w:recover", "c").Int64()
		if err != nil {
			t.Fatalf("reading the count in Redis: %v", err)
		}
		return n
	}
	allow := func() { r.Allow(ctx, key, 1000, time.Hour) }

	for range 5 {
		allow()
	}
	if r.Fallbacks() != 0 || count() != 5 {
		t.Fatalf("before the outage: Fallbacks = %d, count in Redis %d", r.Fallbacks(), count())
	}

	p.stop()
	var slowest time.Duration
	for range 50 {
		t1 := time.Now()
		allow()
		slowest = max(slowest, time.Since(t1))
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("slowest decision during the outage: %v", slowest)
	if slowest > 200*time.Millisecond {
		t.Errorf("a decision during the outage took %v", slowest)
	}
	if r.Fallbacks() != 50 || count() != 5 {
		t.Fatalf("during the outage: Fallbacks = %d (want 50), count in Redis %d (want 5)", r.Fallbacks(), count())
	}

	p.start(t)
	deadline := time.Now().Add(3 * time.Second)
	for {
		before := r.Fallbacks()
		allow()
		if r.Fallbacks() == before {
			break // this one was counted in Redis
		}
		if time.Now().After(deadline) {
			t.Fatalf("still falling back 3 s after Redis came back; logs:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	fb := r.Fallbacks()
	for range 10 {
		allow()
	}
	if r.Fallbacks() != fb || count() != 5+1+10 {
		t.Fatalf("after recovery: Fallbacks %d → %d, count in Redis %d (want 16)", fb, r.Fallbacks(), count())
	}
	if logs.count("Redis unavailable") != 1 || logs.count("Redis is back") != 1 {
		t.Fatalf("want one outage and one recovery line:\n%s", logs.String())
	}
}

// A caller that gives up (cancelled context) gets a local decision without
// starting an outage: nothing is known about Redis.
func TestRedisCancelledCallerIsNotAnOutage(t *testing.T) {
	c := needRedis(t)
	var logs logBuf
	r := newTestRedis(t, c, testRedisURL, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r.Allow(cctx, []byte("k"), 10, time.Minute)
	if r.Fallbacks() != 1 || r.down.Load() || logs.count("unavailable") != 0 {
		t.Fatalf("Fallbacks %d, down %v, logs:\n%s", r.Fallbacks(), r.down.Load(), logs.String())
	}
	if d := r.Allow(ctx, []byte("k"), 10, time.Minute); !d.Allowed || r.Fallbacks() != 1 {
		t.Fatalf("next decision %+v, Fallbacks %d", d, r.Fallbacks())
	}
}
