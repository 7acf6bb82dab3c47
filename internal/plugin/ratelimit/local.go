package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
	"unsafe"
)

// MaxKeys is the most window counters a Local keeps. Past it, the least
// recently used counter of the shard is dropped to make room: a gateway
// facing a flood of client addresses must not grow without bound, and the
// counters dropped first are those of the clients that went quiet. At about
// 130 bytes a counter (key included), the bound is about 130 MiB.
const MaxKeys = 1 << 20

// numShards splits the counters so that concurrent requests for different
// keys rarely wait for the same lock.
const numShards = 64

// sweepEvery is how often the janitor drops idle counters. A counter is
// only dropped once it no longer changes any decision, so this affects
// memory, never limits.
const sweepEvery = time.Second

// Local counts in memory, for one gateway node: sharded maps of small
// counters, safe for concurrent use. Counting an existing key takes one
// shard lock and allocates nothing. Memory is bounded: a counter idle for
// long enough that it no longer affects any decision (its window and the
// next are over) is dropped by a janitor goroutine, and at most MaxKeys
// counters are kept. Close stops the janitor.
//
// Local also implements Quota, for a node without Redis. Totals are never
// dropped (forgetting one would hand a spent quota out again); there is one
// per application, so their number follows the configuration, not traffic.
type Local struct {
	shards      [numShards]shard
	seed        maphash.Seed
	now         func() time.Time
	maxPerShard int

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// counter is the state of one key: the count c of the window starting at b
// (µs), and pc, the count of the window before it. prev and next link the
// shard's counters from the most to the least recently used.
type counter struct {
	key        string
	w          int64 // window length, µs: a key counts for one window length
	b          int64
	pc, c      int64
	prev, next *counter
}

type shardState struct {
	mu         sync.Mutex
	m          map[string]*counter
	head, tail *counter // most and least recently used
	totals     map[string]*int64
}

// shard is padded to two cache lines, so that locking one shard does not
// slow down the cores working on its neighbours.
type shard struct {
	shardState
	_ [128 - unsafe.Sizeof(shardState{})%128]byte
}

// NewLocal returns an empty in-memory limiter and starts its janitor.
func NewLocal() *Local {
	return newLocal(time.Now, MaxKeys, true)
}

// newLocal lets tests set the clock and the key bound, and run without the
// janitor (calling sweep themselves).
func newLocal(now func() time.Time, maxKeys int, janitor bool) *Local {
	l := &Local{
		seed:        maphash.MakeSeed(),
		now:         now,
		maxPerShard: max(maxKeys/numShards, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*counter)
		l.shards[i].totals = make(map[string]*int64)
	}
	if janitor {
		go l.janitor()
	} else {
		close(l.done)
	}
	return l
}

// Close stops the janitor. The counters stay usable.
func (l *Local) Close() error {
	l.closeOnce.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

func (l *Local) shardOf(key []byte) *shard {
	return &l.shards[maphash.Bytes(l.seed, key)%numShards]
}

// Allow counts one request for key against limit per window.
func (l *Local) Allow(_ context.Context, key []byte, limit int64, window time.Duration) Decision {
	if limit < 1 {
		return refuseAll(limit, window)
	}
	limit = clampLimit(limit)
	p := windowParams(window)
	pos := positionAt(l.now().UnixMicro(), p)

	sh := l.shardOf(key)
	sh.mu.Lock()
	ct := sh.m[string(key)] // no allocation: the compiler does not copy key for a lookup
	if ct == nil {
		ct = sh.add(key, l.maxPerShard)
	} else {
		sh.touch(ct)
	}
	if ct.w != p.w {
		ct.w, ct.b, ct.pc, ct.c = p.w, pos.start, 0, 0
	}
	prev, cur := roll(ct.b, ct.pc, ct.c, pos.start, p.w)
	ok := admits(prev, cur, limit, pos, p)
	if ok {
		cur++
		ct.b, ct.pc, ct.c = max(ct.b, pos.start), prev, cur
	}
	sh.mu.Unlock()
	return decide(ok, prev, cur, limit, pos, p)
}

// add creates the counter of key, first dropping the least recently used
// one when the shard is full. Called with the lock held.
func (sh *shard) add(key []byte, maxKeys int) *counter {
	if len(sh.m) >= maxKeys && sh.tail != nil {
		sh.remove(sh.tail)
	}
	ct := &counter{key: string(key)}
	sh.m[ct.key] = ct
	sh.pushFront(ct)
	return ct
}

func (sh *shard) pushFront(ct *counter) {
	ct.prev, ct.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = ct
	}
	sh.head = ct
	if sh.tail == nil {
		sh.tail = ct
	}
}

func (sh *shard) unlink(ct *counter) {
	if ct.prev != nil {
		ct.prev.next = ct.next
	} else {
		sh.head = ct.next
	}
	if ct.next != nil {
		ct.next.prev = ct.prev
	} else {
		sh.tail = ct.prev
	}
	ct.prev, ct.next = nil, nil
}

// touch marks ct as the most recently used.
func (sh *shard) touch(ct *counter) {
	if sh.head == ct {
		return
	}
	sh.unlink(ct)
	sh.pushFront(ct)
}

func (sh *shard) remove(ct *counter) {
	sh.unlink(ct)
	delete(sh.m, ct.key)
}

func (l *Local) janitor() {
	defer close(l.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.sweep()
		}
	}
}

// sweep drops every counter that can no longer change a decision: the
// window it counted in and the next one are over, so both its counts would
// roll to zero. One shard is locked at a time.
func (l *Local) sweep() {
	now := l.now().UnixMicro()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, ct := range sh.m {
			if now >= ct.b+2*ct.w {
				sh.remove(ct)
			}
		}
		sh.mu.Unlock()
	}
}

// Len is the number of window counters in memory (for a metric).
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// AllowTotal counts one request for key against a total of limit. The
// count lives in this node's memory only: it is lost on restart and not
// shared with other nodes (Redis is the shared, durable counter).
func (l *Local) AllowTotal(_ context.Context, key []byte, limit int64) Decision {
	sh := l.shardOf(key)
	sh.mu.Lock()
	used := sh.totals[string(key)]
	if used == nil {
		if limit < 1 {
			sh.mu.Unlock()
			return totalDecision(false, 0, limit)
		}
		used = new(int64)
		sh.totals[string(key)] = used
	}
	ok := *used < limit
	if ok {
		*used++
	}
	u := *used
	sh.mu.Unlock()
	return totalDecision(ok, u, limit)
}

// Used is how many requests key has counted on this node.
func (l *Local) Used(_ context.Context, key []byte) (int64, error) {
	sh := l.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if u := sh.totals[string(key)]; u != nil {
		return *u, nil
	}
	return 0, nil
}

// ResetTotal forgets the count of key.
func (l *Local) ResetTotal(_ context.Context, key []byte) error {
	sh := l.shardOf(key)
	sh.mu.Lock()
	delete(sh.totals, string(key))
	sh.mu.Unlock()
	return nil
}
