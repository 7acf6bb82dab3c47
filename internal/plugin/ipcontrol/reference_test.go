package ipcontrol

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// The naive reference: every block parsed with netip and checked with a
// linear scan of netip.Prefix.Contains, after the same normalizations the
// List documents (host bits masked, mapped blocks and addresses unmapped,
// zones of addresses ignored).

func refBlock(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, true
}

func refContains(ps []netip.Prefix, a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// probes are the addresses worth asking about a block: its first and last
// addresses and their outside neighbours, each also in IPv4-mapped form.
func probes(p netip.Prefix) []netip.Addr {
	first := p.Masked().Addr()
	last := first
	for b := p.Bits(); b < first.BitLen(); b++ { // set the host bits one by one
		last = setBit(last, b)
	}
	out := []netip.Addr{first, last, first.Prev(), last.Next()}
	for _, a := range out[:4] {
		if a.Is4() {
			out = append(out, netip.AddrFrom16(a.As16()))
		}
	}
	return out
}

func setBit(a netip.Addr, bit int) netip.Addr {
	if a.Is4() {
		b := a.As4()
		b[bit/8] |= 0x80 >> (bit % 8)
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	b[bit/8] |= 0x80 >> (bit % 8)
	return netip.AddrFrom16(b)
}

// randomBlock draws a block near a few clusters, so that blocks overlap,
// nest and touch, in every written form.
func randomBlock(rng *rand.Rand) string {
	var a netip.Addr
	var bits int
	if rng.IntN(2) == 0 {
		a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(4)), byte(rng.IntN(256))})
		bits = 14 + rng.IntN(19)
		if rng.IntN(20) == 0 {
			bits = rng.IntN(33)
		}
	} else {
		a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(rng.IntN(3)), 8: byte(rng.IntN(2) * 0xff), 14: byte(rng.IntN(4)), 15: byte(rng.IntN(256))})
		bits = 50 + rng.IntN(79)
		if rng.IntN(20) == 0 {
			bits = rng.IntN(129)
		}
	}
	switch rng.IntN(5) {
	case 0:
		return a.String() // a single address
	case 1:
		if a.Is4() {
			return fmt.Sprintf("%s/%d", netip.AddrFrom16(a.As16()), bits+96) // mapped
		}
	case 2:
		return netip.PrefixFrom(a, bits).Masked().String()
	}
	return fmt.Sprintf("%s/%d", a, bits) // host bits usually set
}

func randomProbe(rng *rand.Rand) netip.Addr {
	if rng.IntN(2) == 0 {
		a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(4)), byte(rng.IntN(256))})
		if rng.IntN(4) == 0 {
			return netip.AddrFrom16(a.As16())
		}
		return a
	}
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(rng.IntN(3)), 8: byte(rng.IntN(2) * 0xff), 14: byte(rng.IntN(4)), 15: byte(rng.IntN(256))})
}

// TestContainsMatchesReference compares Contains with the naive scan over
// random block lists, on random addresses and on every block's edges.
func TestContainsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		blocks := make([]string, 1+rng.IntN(40))
		ps := make([]netip.Prefix, len(blocks))
		for j := range blocks {
			blocks[j] = randomBlock(rng)
			var ok bool
			if ps[j], ok = refBlock(blocks[j]); !ok {
				t.Fatalf("the reference cannot parse %q", blocks[j])
			}
		}
		l := mustCompile(t, blocks...)
		var addrs []netip.Addr
		for range 50 {
			addrs = append(addrs, randomProbe(rng))
		}
		for _, p := range ps {
			addrs = append(addrs, probes(p)...)
		}
		for _, a := range addrs {
			if got, want := l.Contains(a), refContains(ps, a); got != want {
				t.Fatalf("case %d: blocks %q: Contains(%s) = %v, reference %v", i, blocks, a, got, want)
			}
		}
	}
}

// FuzzCompile compiles fuzz-chosen blocks (one per line) and checks that
// Compile never panics, refuses exactly the lists the reference refuses,
// naming the first bad entry, and that an accepted List agrees with the
// reference on every block's edges and on addresses made from probe.
func FuzzCompile(f *testing.F) {
	f.Add("10.0.0.0/8\n1.2.3.4\n2001:db8::/32", []byte{10, 0, 0, 1})
	f.Add("10.0.0.1/8\n::ffff:10.0.0.0/104\n::/0", []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("0.0.0.0/0\n255.255.255.255\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", []byte{255, 255, 255, 255})
	f.Add("10.0.0.300", []byte{})
	f.Add("fe80::1%eth0\n1.2.3.4", []byte{})
	f.Add("10.0.1.0/24\n10.0.0.0/24\n::/1\n8000::/1", []byte{10, 0, 1, 255, 10, 0, 2, 0})
	f.Fuzz(func(t *testing.T, input string, probe []byte) {
		blocks := strings.Split(input, "\n")
		if len(blocks) > 16 {
			blocks = blocks[:16] // enough to overlap; more only slows the fuzzer
		}
		l, err := Compile(blocks)
		var ps []netip.Prefix
		for i, s := range blocks {
			p, ok := refBlock(s)
			if !ok {
				want := fmt.Sprintf("blocks[%d]: %q is neither an IP address nor a CIDR", i, s)
				if err == nil || err.Error() != want {
					t.Fatalf("Compile(%q) = %v; want error %s", blocks, err, want)
				}
				return
			}
			ps = append(ps, p)
		}
		if err != nil {
			t.Fatalf("Compile(%q): %v, but the reference accepts every block", blocks, err)
		}
		var addrs []netip.Addr
		for _, p := range ps {
			addrs = append(addrs, probes(p)...)
		}
		for ; len(probe) >= 4; probe = probe[4:] {
			addrs = append(addrs, netip.AddrFrom4([4]byte(probe[:4])))
			if len(probe) >= 16 {
				addrs = append(addrs, netip.AddrFrom16([16]byte(probe[:16])))
			}
		}
		for _, a := range addrs {
			if got, want := l.Contains(a), refContains(ps, a); got != want {
				t.Fatalf("blocks %q: Contains(%s) = %v, reference %v", blocks, a, got, want)
			}
		}
	})
}
