package ipcontrol

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var sinkBool bool

// BenchmarkContains looks up a mix of listed and unlisted IPv4, IPv6 and
// mapped addresses in lists of 10 and 200 disjoint blocks (the worst case:
// nothing merges, so the tables are as long as the lists).
func BenchmarkContains(b *testing.B) {
	for _, n := range []int{10, 200} {
		rng := rand.New(rand.NewPCG(7, uint64(n)))
		blocks := make([]string, n)
		for i := range blocks {
			if i%2 == 0 {
				blocks[i] = fmt.Sprintf("%d.%d.0.0/16", 1+i, rng.IntN(256))
			} else {
				blocks[i] = fmt.Sprintf("2001:db8:%x::/48", i)
			}
		}
		l, err := Compile(blocks)
		if err != nil {
			b.Fatal(err)
		}
		addrs := []netip.Addr{
			netip.MustParseAddr("1.0.0.1"), netip.MustParseAddr("250.1.2.3"),
			netip.MustParseAddr("::ffff:3.0.0.1"), netip.MustParseAddr("2001:db8:1::1"),
			netip.MustParseAddr("2001:db9::1"),
		}
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sinkBool = l.Contains(addrs[i%len(addrs)])
				i++
			}
		})
	}
}

// BenchmarkPermit is the per-request cost of a policy.
func BenchmarkPermit(b *testing.B) {
	p, err := New("white_list", []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32"})
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("192.168.7.9")
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = p.Permit(a)
	}
}
