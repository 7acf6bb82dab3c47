package clientip

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// The reference resolver: the rule of Client written the obvious way, with
// strings, netip's own parsers and a linear scan of netip.Prefix.Contains.

type refResolver struct{ blocks []netip.Prefix }

func refParse(t testing.TB, list string) refResolver {
	var r refResolver
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			a, err := netip.ParseAddr(e)
			if err != nil {
				t.Fatalf("reference cannot parse %q", e)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.blocks = append(r.blocks, p)
	}
	return r
}

func (r refResolver) trusted(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, p := range r.blocks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refEntry parses an X-Forwarded-For element with netip.
func refEntry(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	if s == "" || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	if strings.HasPrefix(s, "[") {
		if strings.HasSuffix(s, "]") {
			a, err := netip.ParseAddr(s[1 : len(s)-1])
			return a.Unmap(), err == nil && a.Is6()
		}
		ap, err := netip.ParseAddrPort(s)
		return ap.Addr().Unmap(), err == nil
	}
	switch strings.Count(s, ":") {
	case 0:
		a, err := netip.ParseAddr(s)
		return a, err == nil && a.Is4()
	case 1:
		ap, err := netip.ParseAddrPort(s)
		return ap.Addr(), err == nil && ap.Addr().Is4()
	default:
		a, err := netip.ParseAddr(s)
		return a.Unmap(), err == nil && a.Is6()
	}
}

// elements splits field lines into their list elements, in order.
func elements(xff [][]byte) []string {
	var out []string
	for _, l := range xff {
		out = append(out, strings.Split(string(l), ",")...)
	}
	return out
}

func (r refResolver) client(peer netip.Addr, xff [][]byte) netip.Addr {
	peer = peer.Unmap()
	if !r.trusted(peer) {
		return peer
	}
	hop := peer
	elems := elements(xff)
	for i := len(elems) - 1; i >= 0; i-- {
		a, ok := refEntry(elems[i])
		if !ok {
			return hop
		}
		if !r.trusted(a) {
			return a
		}
		hop = a
	}
	return hop
}

// checkVouched is the safety property, stated without the walk: the answer
// is the peer, or the peer is trusted and the answer is an element every
// element to whose right is a valid trusted address. Then each element
// between the peer and the answer was written by a trusted hop, so no
// client-written value was believed.
func checkVouched(t *testing.T, r *Resolver, peer netip.Addr, xff [][]byte, got netip.Addr) {
	t.Helper()
	peer = peer.Unmap()
	if got == peer {
		return
	}
	if !r.Trusted(peer) {
		t.Fatalf("peer %s is not trusted, yet the client is %s", peer, got)
	}
	elems := elements(xff)
	for i := len(elems) - 1; i >= 0; i-- {
		a, ok := refEntry(elems[i])
		if !ok {
			break
		}
		if a == got {
			return
		}
		if !r.Trusted(a) {
			break
		}
	}
	t.Fatalf("client %s from peer %s and %q is not vouched for by trusted hops", got, peer, elems)
}

// randomXFF draws field lines from a small universe, so that trusted and
// untrusted addresses, ports, mapped forms and garbage mix.
func randomXFF(rng *rand.Rand) [][]byte {
	var out [][]byte
	for range rng.IntN(4) {
		var elems []string
		for range rng.IntN(5) {
			e := randomElement(rng)
			switch rng.IntN(6) {
			case 0:
				e = " " + e
			case 1:
				e = e + "\t "
			}
			elems = append(elems, e)
		}
		sep := ","
		if rng.IntN(2) == 0 {
			sep = ", "
		}
		out = append(out, []byte(strings.Join(elems, sep)))
	}
	return out
}

func randomAddr(rng *rand.Rand) netip.Addr {
	switch rng.IntN(4) {
	case 0:
		return netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(8))})
	case 1:
		return netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(8))})
	case 2:
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(rng.IntN(8))})
	default:
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb9, 15: byte(rng.IntN(8))})
	}
}

var garbage = []string{"", "unknown", "_hidden", "1.2.3", "[::1", "fe80::1%eth0", "1.2.3.4:99999", "[1.2.3.4]:80", "x"}

func randomElement(rng *rand.Rand) string {
	a := randomAddr(rng)
	switch rng.IntN(7) {
	case 0:
		return garbage[rng.IntN(len(garbage))]
	case 1:
		return netip.AddrPortFrom(a, uint16(rng.Uint32())).String()
	case 2:
		if a.Is4() {
			return netip.AddrFrom16(a.As16()).String() // mapped
		}
		return "[" + a.String() + "]"
	default:
		return a.String()
	}
}

func randomTrusted(rng *rand.Rand) string {
	pool := []string{"10.0.0.0/29", "10.0.0.2", "10.0.0.4/30", "198.51.100.0/31", "2001:db8::/125", "2001:db8::3",
		"2001:db9::4/126", "::ffff:198.51.100.6/127", "::ffff:10.0.0.7", "0.0.0.0/0", "::/0"}
	var picked []string
	for range rng.IntN(4) {
		picked = append(picked, pool[rng.IntN(len(pool))])
	}
	return strings.Join(picked, ",")
}

// TestClientMatchesReference compares Client with the reference, and checks
// the safety property, over random trusted lists, peers and headers.
func TestClientMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		list := randomTrusted(rng)
		r, ref := mustParse(t, list), refParse(t, list)
		peer := randomAddr(rng)
		if rng.IntN(4) == 0 {
			peer = netip.AddrFrom16(peer.As16())
		}
		xff := randomXFF(rng)
		got, want := r.Client(peer, xff), ref.client(peer, xff)
		if got != want {
			t.Fatalf("case %d: trusted %q, peer %s, xff %q: Client = %s, reference = %s", i, list, peer, xff, got, want)
		}
		checkVouched(t, r, peer, xff, got)
		for _, a := range []netip.Addr{peer, randomAddr(rng)} {
			if r.Trusted(a) != ref.trusted(a) {
				t.Fatalf("trusted %q: Trusted(%s) = %v, reference says %v", list, a, r.Trusted(a), ref.trusted(a))
			}
		}
	}
}

func ExampleResolver_Client() {
	r, _ := Parse("10.0.0.0/8")
	lb := netip.MustParseAddr("10.0.0.1")
	// The client sent "X-Forwarded-For: 6.6.6.6"; two load balancers
	// appended the client's address and the first one's.
	xff := [][]byte{[]byte("6.6.6.6, 198.51.100.4, 10.0.0.2")}
	fmt.Println(r.Client(lb, xff))
	// A hop that wrote garbage: the walk stops at it.
	fmt.Println(r.Client(lb, [][]byte{[]byte("6.6.6.6, unknown, 10.0.0.2")}))
	// Output:
	// 198.51.100.4
	// 10.0.0.2
}
