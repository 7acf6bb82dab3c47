// Package balancer selects a channel's node for each try of a request.
//
// Smooth weighted round robin (the algorithm of nginx's upstream module) is
// deterministic: for a fixed set of weights it produces one cyclic sequence of
// length sum(weights) in which every node appears exactly weight times,
// interleaved. WRR computes that cycle once, when a snapshot is built, and a
// pick is then one atomic increment and an index: no lock on the hot path and
// no per-request state, while the picks of concurrent requests still follow
// the cycle exactly.
package balancer

import (
	"fmt"
	"sync/atomic"
)

// MaxNodes is the largest node count a WRR can hold; Tried sets are sized
// for it.
const MaxNodes = 256

// MaxCycle is the longest cycle (the sum of the weights) a WRR computes. It
// bounds the memory and the build time of one balancer (building is
// O(cycle × nodes)); the admin API's limits (200 nodes of weight at most
// 100) stay well below it.
const MaxCycle = 1 << 16

// WRR is a smooth weighted round robin over a fixed list of node weights. It
// is safe for concurrent use.
type WRR struct {
	seq  []uint16 // the smooth cycle: node indexes
	next atomic.Uint64
	n    int
}

// New builds the cycle for weights (0 or less drains a node). It refuses
// more than MaxNodes weights, and weights whose sum is more than MaxCycle:
// weights come from stored channels, which a past version or a hand edit may
// have left outside the admin API's limits, and such a channel must be
// reported, not crash the node or exhaust its memory.
func New(weights []int) (*WRR, error) {
	if len(weights) > MaxNodes {
		return nil, fmt.Errorf("%d nodes: a channel can have at most %d", len(weights), MaxNodes)
	}
	total := 0
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		// Checked on each weight, so that the sum cannot overflow.
		if w > MaxCycle || total+w > MaxCycle {
			return nil, fmt.Errorf("nodes[%d].weight %d: the weights of a channel can add up to at most %d", i, w, MaxCycle)
		}
		total += w
	}
	b := &WRR{n: len(weights), seq: make([]uint16, 0, total)}
	current := make([]int, len(weights))
	for range total {
		best := -1
		for i, w := range weights {
			if w <= 0 {
				continue
			}
			current[i] += w
			if best < 0 || current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		b.seq = append(b.seq, uint16(best))
	}
	return b, nil
}

// NewWRR is New for a caller that has no way to report its error: for
// weights that New refuses it returns a balancer with no active node, so the
// channel answers 502 rather than the node crashing. Prefer New, whose error
// says what is wrong.
func NewWRR(weights []int) *WRR {
	b, err := New(weights)
	if err != nil {
		return &WRR{n: len(weights)}
	}
	return b
}

// Len is the number of nodes, drained ones included.
func (b *WRR) Len() int { return b.n }

// Active reports whether any node has a weight above 0.
func (b *WRR) Active() bool { return len(b.seq) > 0 }

// Next picks the next node of the cycle, skipping nodes in tried while the
// cycle still has untried ones. Every pick advances the cycle, also the
// skipped ones, so retries of one request do not shift the share of others
// beyond the picks they really made. It returns -1 when no node has weight.
func (b *WRR) Next(tried *Tried) int {
	n := uint64(len(b.seq))
	if n == 0 {
		return -1
	}
	first := -1
	// One full cycle visits every weighted node, so it is enough to find an
	// untried one if any is left.
	for range n {
		i := int(b.seq[(b.next.Add(1)-1)%n])
		if tried == nil || !tried.Has(i) {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	return first
}

// Tried is the set of nodes already tried for one request. The zero value is
// empty; it lives on the request's stack.
type Tried [MaxNodes / 64]uint64

// Add marks node i as tried.
func (t *Tried) Add(i int) { t[i>>6] |= 1 << (uint(i) & 63) }

// Has reports whether node i was tried.
func (t *Tried) Has(i int) bool { return t[i>>6]&(1<<(uint(i)&63)) != 0 }
