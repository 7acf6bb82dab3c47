package balancer

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestWRRExactSharesPerCycle(t *testing.T) {
	cases := [][]int{{1}, {1, 2, 3}, {5, 1, 1}, {0, 1}, {100, 0, 3, 7}, {1, 1, 1, 1}}
	for _, weights := range cases {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			b := NewWRR(weights)
			total := 0
			for _, w := range weights {
				total += w
			}
			for cycle := 0; cycle < 3; cycle++ {
				got := make([]int, len(weights))
				for range total {
					got[b.Next(nil)]++
				}
				for i, w := range weights {
					if got[i] != w {
						t.Fatalf("cycle %d: node %d got %d picks, want %d (all: %v)", cycle, i, got[i], w, got)
					}
				}
			}
		})
	}
}

func TestWRRInterleaves(t *testing.T) {
	// nginx's smooth WRR on {5,1,1} yields a a b a c a a: never the five
	// picks of the heavy node in one burst.
	b := NewWRR([]int{5, 1, 1})
	want := []int{0, 0, 1, 0, 2, 0, 0}
	for i, w := range want {
		if got := b.Next(nil); got != w {
			t.Fatalf("pick %d = %d, want %d", i, got, w)
		}
	}
}

func TestWRRAllDrained(t *testing.T) {
	b := NewWRR([]int{0, 0})
	if b.Active() {
		t.Fatal("all-zero weights must not be active")
	}
	if got := b.Next(nil); got != -1 {
		t.Fatalf("Next = %d, want -1", got)
	}
}

func TestWRRSkipsTriedWhileUntriedRemain(t *testing.T) {
	b := NewWRR([]int{1, 1, 1})
	var tried Tried
	seen := map[int]bool{}
	for range 3 {
		i := b.Next(&tried)
		if seen[i] {
			t.Fatalf("node %d picked twice while untried nodes remain", i)
		}
		seen[i] = true
		tried.Add(i)
	}
	// All tried: a pick still answers a node rather than failing.
	if i := b.Next(&tried); i < 0 || i > 2 {
		t.Fatalf("Next with all tried = %d", i)
	}
}

func TestWRRConcurrentPicksKeepShares(t *testing.T) {
	b := NewWRR([]int{1, 2, 3})
	const workers, per = 6, 1000 // 6000 picks = 1000 full cycles
	var mu sync.Mutex
	got := make([]int, 3)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]int, 3)
			for range per {
				local[b.Next(nil)]++
			}
			mu.Lock()
			for i := range local {
				got[i] += local[i]
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got[0] != 1000 || got[1] != 2000 || got[2] != 3000 {
		t.Fatalf("shares = %v, want [1000 2000 3000]", got)
	}
}

// TestNewRefusesWhatItCannotHold: a stored channel can hold any node list
// (a past version, a hand edit); New answers an error for what it cannot
// hold instead of panicking or allocating without bound.
func TestNewRefusesWhatItCannotHold(t *testing.T) {
	ones := func(n int) []int {
		w := make([]int, n)
		for i := range w {
			w[i] = 1
		}
		return w
	}
	for _, tc := range []struct {
		name    string
		weights []int
		wantErr string
	}{
		{"too many nodes", ones(MaxNodes + 1), "257 nodes: a channel can have at most 256"},
		{"far too many nodes", ones(100_000), "100000 nodes"},
		{"one huge weight", []int{1, 1 << 40}, "nodes[1].weight 1099511627776"},
		{"weights that would overflow the sum", []int{math.MaxInt, math.MaxInt}, "nodes[0].weight"},
		{"a sum past MaxCycle", []int{MaxCycle / 2, 0, MaxCycle/2 + 1}, "nodes[2].weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.weights)
			if err == nil {
				t.Fatalf("New accepted it (cycle of %d)", len(b.seq))
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewAtTheLimits(t *testing.T) {
	// MaxNodes nodes: every one is picked once per cycle, and the last index
	// fits a Tried set.
	b, err := New(func() []int {
		w := make([]int, MaxNodes)
		for i := range w {
			w[i] = 1
		}
		return w
	}())
	if err != nil {
		t.Fatal(err)
	}
	var tried Tried
	for range MaxNodes {
		i := b.Next(&tried)
		if tried.Has(i) {
			t.Fatalf("node %d picked twice in one cycle", i)
		}
		tried.Add(i)
	}
	// The longest cycle, and negative weights counted as drained.
	b, err = New([]int{MaxCycle - 1, -7, 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.seq) != MaxCycle {
		t.Fatalf("cycle of %d, want %d", len(b.seq), MaxCycle)
	}
	for _, i := range b.seq {
		if i == 1 {
			t.Fatal("a node of negative weight was picked")
		}
	}
}

// TestNewWRRNeverPanics: for what New refuses, NewWRR answers a balancer
// with no active node (the channel answers 502) instead of crashing the
// node, as it did for more than 256 nodes.
func TestNewWRRNeverPanics(t *testing.T) {
	weights := make([]int, 300)
	for i := range weights {
		weights[i] = 1
	}
	for _, w := range [][]int{weights, {1 << 40}} {
		b := NewWRR(w)
		if b.Active() || b.Next(nil) != -1 || b.Len() != len(w) {
			t.Errorf("NewWRR of %d weights: active %v, next %d, len %d; want an inactive balancer",
				len(w), b.Active(), b.Next(nil), b.Len())
		}
	}
}

func BenchmarkWRRNext(b *testing.B) {
	for _, n := range []int{2, 20, 200} {
		weights := make([]int, n)
		for i := range weights {
			weights[i] = i%100 + 1
		}
		w := NewWRR(weights)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var tried Tried
				for pb.Next() {
					tried.Add(w.Next(&tried) % MaxNodes)
					tried = Tried{}
				}
			})
		})
	}
}
