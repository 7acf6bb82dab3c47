package ratelimit

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many goroutines on one key: exactly limit pass per window, however the
// requests interleave.
func TestLocalConcurrentOneKey(t *testing.T) {
	clock := newClock(t0.Add(10 * time.Second))
	l := newLocal(clock.Now, MaxKeys, false)
	const limit, goroutines, each = 3000, 32, 250 // 8000 attempts
	key := []byte("hot")
	for window := range 3 {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				k := append([]byte(nil), key...) // each its own copy: the key is only read
				for range each {
					if l.Allow(ctx, k, limit, time.Minute).Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != limit {
			t.Fatalf("window %d: %d allowed, want exactly %d", window, n, limit)
		}
		// Two windows on, the counts have rolled off entirely.
		clock.Add(2 * time.Minute)
	}
}

// A counter stays while it can change a decision (its window and the next)
// and is dropped after; Len follows.
func TestLocalIdleEviction(t *testing.T) {
	clock := newClock(t0.Add(30 * time.Second))
	l := newLocal(clock.Now, MaxKeys, false)
	for i := range 100 {
		for range 10 {
			l.Allow(ctx, fmt.Appendf(nil, "m%d", i), 10, time.Minute)
		}
		l.Allow(ctx, fmt.Appendf(nil, "h%d", i), 10, time.Hour)
	}
	if n := l.Len(); n != 200 {
		t.Fatalf("Len = %d, want 200", n)
	}
	clock.Set(t0.Add(time.Minute + 59*time.Second)) // the minute counters still weigh
	l.sweep()
	if n := l.Len(); n != 200 {
		t.Fatalf("Len = %d after a sweep that should drop nothing, want 200", n)
	}
	clock.Set(t0.Add(time.Minute + 30*time.Second))
	if d := l.Allow(ctx, []byte("m0"), 10, time.Minute); d.Remaining != 4 { // 10 × 1/2 + 1 counted
		t.Fatalf("kept counter forgot its count: %+v", d)
	}
	clock.Set(t0.Add(2 * time.Minute)) // both minute windows over for all but m0
	l.sweep()
	if n := l.Len(); n != 101 {
		t.Fatalf("Len = %d, want the 100 hour counters and m0", n)
	}
	clock.Set(t0.Add(2 * time.Hour))
	l.sweep()
	if n := l.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}

// At most maxKeys counters; the least recently used go first, so a key in
// use survives a flood of new ones.
func TestLocalMaxKeys(t *testing.T) {
	clock := newClock(t0)
	const maxKeys = 64 * 8
	l := newLocal(clock.Now, maxKeys, false)
	hot := []byte("hot")
	for i := range 20 * maxKeys {
		l.Allow(ctx, fmt.Appendf(nil, "flood-%d", i), 100, time.Hour)
		if i%(numShards/2) == 0 { // used more often than any shard turns over
			l.Allow(ctx, hot, 1000, time.Hour)
		}
		if i%64 == 0 {
			if n := l.Len(); n > maxKeys {
				t.Fatalf("after %d keys Len = %d, over %d", i+1, n, maxKeys)
			}
		}
	}
	if d := l.Allow(ctx, hot, 1000, time.Hour); d.Remaining >= 999 {
		t.Fatalf("the key in use was dropped: %+v", d)
	}
	if d := l.Allow(ctx, []byte("flood-0"), 100, time.Hour); d.Remaining != 99 {
		t.Fatalf("the oldest key was kept: %+v", d)
	}
}

// Memory stays bounded under a flood of distinct keys, and an existing key
// costs no allocation.
func TestLocalMemoryBound(t *testing.T) {
	clock := newClock(t0)
	const maxKeys = 1 << 10
	l := newLocal(clock.Now, maxKeys, false)
	fill := func(from, to int) {
		key := make([]byte, 0, 32)
		for i := from; i < to; i++ {
			key = fmt.Appendf(key[:0], "203.0.113.%d:%d", i%256, i)
			l.Allow(ctx, key, 10, time.Minute)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	fill(0, maxKeys)
	before := heap()
	fill(maxKeys, 20*maxKeys)
	after := heap()
	if n := l.Len(); n > maxKeys {
		t.Fatalf("Len = %d, over %d", n, maxKeys)
	}
	// 19 × 1024 more keys would be a few MiB if kept; evicted, the heap
	// stays where the first 1024 left it.
	if after > before+1<<20 {
		t.Fatalf("heap grew from %d to %d bytes for a bounded number of keys", before, after)
	}
	runtime.KeepAlive(l)

	key := []byte("203.0.113.7:7")
	l.Allow(ctx, key, 10, time.Minute)
	if a := testing.AllocsPerRun(1000, func() { l.Allow(ctx, key, 10, time.Minute) }); a != 0 {
		t.Fatalf("Allow on an existing key allocates %.1f times", a)
	}
}

// Close stops the janitor, and may be called twice; the janitor sweeps on
// its own.
func TestLocalJanitor(t *testing.T) {
	l := NewLocal()
	l.Allow(ctx, []byte("k"), 1, time.Millisecond)
	deadline := time.Now().Add(3 * sweepEvery)
	for l.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the janitor did not drop an idle counter")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if d := l.Allow(ctx, []byte("k"), 1, time.Minute); !d.Allowed {
		t.Fatalf("Allow after Close: %+v", d)
	}
}
