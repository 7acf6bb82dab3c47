package netset

import (
	"net/netip"
	"testing"
)

func set(t *testing.T, blocks ...string) Set {
	t.Helper()
	ps := make([]netip.Prefix, len(blocks))
	for i, b := range blocks {
		p, err := netip.ParsePrefix(b)
		if err != nil {
			a := netip.MustParseAddr(b)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps[i] = p.Masked()
	}
	return New(ps)
}

func TestMergedTables(t *testing.T) {
	s := set(t, "10.0.1.0/24", "10.0.0.0/24", "10.0.0.5", "10.0.3.0/24", "0.0.0.0/32",
		"2001:db8::/33", "2001:db8:8000::/33", "::1", "::2")
	if len(s.v4) != 3 || len(s.v6) != 2 {
		t.Errorf("v4 ranges %v, v6 ranges %v: want 3 and 2 after merging", s.v4, s.v6)
	}
	halves := set(t, "::ffff:ffff:ffff:ffff", "0:0:0:1::/64", "::fffe:ffff:ffff:ffff/128")
	if len(halves.v6) != 2 {
		t.Errorf("v6 ranges %v: want 2 (the first two touch across the 64-bit halves)", halves.v6)
	}
	all := set(t, "0.0.0.0/1", "128.0.0.0/1", "255.255.255.255", "::/1", "8000::/1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	if len(all.v4) != 1 || len(all.v6) != 1 {
		t.Errorf("v4 ranges %v, v6 ranges %v: want 1 and 1 after merging", all.v4, all.v6)
	}
	for _, c := range []struct {
		s    Set
		addr string
		want bool
	}{
		{s, "10.0.1.255", true}, {s, "10.0.2.0", false}, {s, "10.0.3.0", true}, {s, "0.0.0.0", true},
		{s, "2001:db8:ffff::1", true}, {s, "2001:db9::", false}, {s, "::3", false},
		{all, "255.255.255.255", true}, {all, "ffff::", true}, {Set{}, "1.2.3.4", false},
	} {
		if got := c.s.Contains(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Contains(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}
