// Package netset is a set of IP address blocks built for lookups: sorted,
// disjoint, non-adjacent inclusive ranges, one table per family, searched by
// binary search. A lookup is O(log n) and allocates nothing whatever the
// blocks, where a list of prefixes would be scanned whole; the trusted
// proxies of internal/clientip and the ip_control lists use it.
package netset

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
)

// Set is a set of addresses. It is immutable once built, so one is shared
// by all requests; the zero Set contains nothing.
type Set struct {
	v4 []range4
	v6 []range6
}

type range4 struct{ lo, hi uint32 }

type range6 struct{ lo, hi u128 }

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func u128Of(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// New builds the set of the masked prefixes ps (IPv4 ones as IPv4, not
// mapped).
func New(ps []netip.Prefix) Set {
	var r Set
	for _, p := range ps {
		bits := p.Bits()
		if p.Addr().Is4() {
			b := p.Addr().As4()
			lo := binary.BigEndian.Uint32(b[:])
			r.v4 = append(r.v4, range4{lo, lo | math.MaxUint32>>bits}) // a shift by 32 gives 0
			continue
		}
		lo := u128Of(p.Addr())
		host := u128{math.MaxUint64 >> bits, math.MaxUint64} // a shift by 64 or more gives 0
		if bits > 64 {
			host = u128{0, math.MaxUint64 >> (bits - 64)}
		}
		r.v6 = append(r.v6, range6{lo, u128{lo.hi | host.hi, lo.lo | host.lo}})
	}
	slices.SortFunc(r.v4, func(a, b range4) int { return cmp.Compare(a.lo, b.lo) })
	out4 := r.v4[:0]
	for _, x := range r.v4 {
		if n := len(out4); n > 0 && (out4[n-1].hi == math.MaxUint32 || x.lo <= out4[n-1].hi+1) {
			out4[n-1].hi = max(out4[n-1].hi, x.hi) // overlapping or adjacent: merge
			continue
		}
		out4 = append(out4, x)
	}
	r.v4 = slices.Clip(out4)
	slices.SortFunc(r.v6, func(a, b range6) int { return a.lo.cmp(b.lo) })
	out6 := r.v6[:0]
	for _, x := range r.v6 {
		if n := len(out6); n > 0 {
			last := &out6[n-1]
			next := u128{last.hi.hi, last.hi.lo + 1}
			if next.lo == 0 {
				next.hi++
			}
			if next == (u128{}) || x.lo.cmp(next) <= 0 { // last.hi is the top address, or they touch
				if x.hi.cmp(last.hi) > 0 {
					last.hi = x.hi
				}
				continue
			}
		}
		out6 = append(out6, x)
	}
	r.v6 = slices.Clip(out6)
	return r
}

// Contains reports whether a (already unmapped; a zone is ignored) is in
// the set. It does not allocate.
func (r *Set) Contains(a netip.Addr) bool {
	switch {
	case a.Is4():
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		// i: the first range starting above x; the one before is the only
		// candidate.
		i, j := 0, len(r.v4)
		for i < j {
			m := int(uint(i+j) >> 1)
			if r.v4[m].lo <= x {
				i = m + 1
			} else {
				j = m
			}
		}
		return i > 0 && x <= r.v4[i-1].hi
	case a.Is6():
		x := u128Of(a)
		i, j := 0, len(r.v6)
		for i < j {
			m := int(uint(i+j) >> 1)
			if r.v6[m].lo.cmp(x) <= 0 {
				i = m + 1
			} else {
				j = m
			}
		}
		return i > 0 && x.cmp(r.v6[i-1].hi) <= 0
	}
	return false
}
