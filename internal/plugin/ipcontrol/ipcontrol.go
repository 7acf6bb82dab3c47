// Package ipcontrol is the ip_control policy: a white list or a black list
// of client address blocks, checked on every request.
//
// The blocks are compiled once, when a snapshot is built, into sorted and
// merged address ranges searched by binary search, one table for IPv4 and
// one for IPv6, so a check costs O(log n) comparisons of integers and no
// allocation however many blocks a list holds; a linear scan of prefixes
// would cost up to 200 prefix tests per request.
//
// The address checked is the client address as internal/clientip resolves
// it (behind trusted proxies, the right-most untrusted X-Forwarded-For hop),
// never a raw header value a client could choose.
package ipcontrol

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/portico-gw/portico/internal/netset"
)

// maxBlocks bounds one policy, as the admin API does: a list is read by
// people, and longer sets belong in a dedicated firewall.
const maxBlocks = 200

// List is a set of address blocks compiled into a lookup structure
// (netset: sorted, merged ranges searched by binary search, separately for
// IPv4 and IPv6 — not a linear scan). A List is immutable, so one is shared
// by all requests. The zero List contains nothing.
type List struct {
	set netset.Set
}

// Compile parses blocks, each a CIDR ("10.0.0.0/8", "2001:db8::/32") or a
// single address ("1.2.3.4", "::1", meaning /32 or /128). An error names the
// entry by index and value: `blocks[3]: "10.0.0.300" is neither an IP
// address nor a CIDR`.
//
// Duplicate and overlapping blocks are fine: they are merged. A CIDR with
// host bits set (10.0.0.1/8) is accepted and masked to 10.0.0.0/8, as nginx
// does (its allow/deny and geo modules warn and mask): the prefix length
// says which addresses are meant. An IPv4-mapped IPv6 block
// (::ffff:10.0.0.0/104) is the IPv4 block it maps (10.0.0.0/8), because
// Contains unmaps addresses first; every other IPv6 block matches IPv6
// addresses only, so ::/0 is every IPv6 client and no IPv4 one (list
// 0.0.0.0/0 too to mean everyone). Zones ("fe80::1%eth0") are refused:
// they name an interface of this host, not a client.
func Compile(blocks []string) (*List, error) {
	ps := make([]netip.Prefix, 0, len(blocks))
	for i, s := range blocks {
		p, ok := parseBlock(s)
		if !ok {
			return nil, fmt.Errorf("blocks[%d]: %q is neither an IP address nor a CIDR", i, s)
		}
		ps = append(ps, p)
	}
	return &List{set: netset.New(ps)}, nil
}

// parseBlock parses one block into a masked prefix, IPv4-mapped blocks
// turned into IPv4 ones.
func parseBlock(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), true
	}
	p, err := netip.ParsePrefix(s) // refuses zones
	if err != nil {
		return netip.Prefix{}, false
	}
	p = p.Masked()
	if p.Addr().Is4In6() {
		// Masked and still mapped means /96 or longer: a shorter mask
		// clears a bit of the ffff.
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, true
}

// Contains reports whether a is in one of the blocks. An IPv4-mapped IPv6
// address is unmapped first (dual-stack listeners report IPv4 clients that
// way, and the blocks are IPv4); a zone is ignored, so it cannot carry an
// address out of a black list; the zero Addr is in no block. Contains does
// not allocate.
func (l *List) Contains(a netip.Addr) bool {
	return l.set.Contains(a.Unmap())
}

// Policy is one compiled ip_control plugin: a List and whether it is a white
// list or a black list. It is immutable and shared by all requests.
type Policy struct {
	white bool
	list  *List
}

// New validates typ ("white_list" or "black_list"; otherwise the error is
// `type: must be "white_list" or "black_list"`) and compiles blocks: at least
// 1 (an empty white list would deny everyone and an empty black list do
// nothing, both surely mistakes) and at most 200 (`blocks: at most 200
// entries`). Errors from Compile name the entry (`blocks[3]: …`).
func New(typ string, blocks []string) (*Policy, error) {
	p := &Policy{}
	switch typ {
	case "white_list":
		p.white = true
	case "black_list":
	default:
		return nil, errors.New(`type: must be "white_list" or "black_list"`)
	}
	switch {
	case len(blocks) == 0:
		return nil, errors.New("blocks: at least 1 entry")
	case len(blocks) > maxBlocks:
		return nil, fmt.Errorf("blocks: at most %d entries", maxBlocks)
	}
	l, err := Compile(blocks)
	if err != nil {
		return nil, err
	}
	p.list = l
	return p, nil
}

// Permit reports whether a request from a may pass: on a white list only
// listed addresses pass; on a black list listed ones are denied and all
// others pass. The zero Addr (no known client address) is listed nowhere,
// so a white list denies it and a black list lets it through.
func (p *Policy) Permit(a netip.Addr) bool {
	return p.list.Contains(a) == p.white
}
