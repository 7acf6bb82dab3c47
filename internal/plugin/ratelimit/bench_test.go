package ratelimit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// One existing key, one goroutine: the cost of a decision with the real
// clock. It should allocate nothing.
func BenchmarkLocalAllow(b *testing.B) {
	l := NewLocal()
	defer l.Close()
	key := []byte("api-0123456789abcdef:ip:203.0.113.7")
	l.Allow(ctx, key, 1<<30, time.Second)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(ctx, key, 1<<30, time.Second)
	}
}

// One key from every core: the worst case, all on one shard lock.
func BenchmarkLocalAllowParallelOneKey(b *testing.B) {
	l := NewLocal()
	defer l.Close()
	key := []byte("api-0123456789abcdef")
	l.Allow(ctx, key, 1<<30, time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(ctx, key, 1<<30, time.Second)
		}
	})
}

// Many keys from every core: the usual case (per-client limits).
func BenchmarkLocalAllowParallelKeys(b *testing.B) {
	l := NewLocal()
	defer l.Close()
	const keys = 10000
	all := make([][]byte, keys)
	for i := range all {
		all[i] = fmt.Appendf(nil, "api-0123456789abcdef:ip:10.0.%d.%d", i/256, i%256)
		l.Allow(ctx, all[i], 1<<30, time.Second)
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		for pb.Next() {
			i++
			l.Allow(ctx, all[i%keys], 1<<30, time.Second)
		}
	})
}

// One decision in Redis: one round trip (EVALSHA) to the local Redis.
func BenchmarkRedisAllow(b *testing.B) {
	c := needRedis(b)
	r := newTestRedis(b, c, testRedisURL, nil, nil)
	key := []byte("api-0123456789abcdef:ip:203.0.113.7")
	r.Allow(ctx, key, 1<<30, time.Second)
	b.ReportAllocs()
	for b.Loop() {
		r.Allow(ctx, key, 1<<30, time.Second)
	}
	if r.Fallbacks() != 0 {
		b.Fatalf("%d fallbacks", r.Fallbacks())
	}
}

// Decisions from every core in Redis: round trips in flight at once over
// the pool.
func BenchmarkRedisAllowParallel(b *testing.B) {
	c := needRedis(b)
	r := newTestRedis(b, c, testRedisURL, nil, nil)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Appendf(nil, "k%d", seq.Add(1))
		for pb.Next() {
			r.Allow(ctx, key, 1<<30, time.Second)
		}
	})
	if r.Fallbacks() != 0 {
		b.Fatalf("%d fallbacks", r.Fallbacks())
	}
}
