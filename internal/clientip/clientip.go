// Package clientip decides which address a request comes from when the
// gateway sits behind load balancers or proxies it trusts.
//
// The rule: the client is the peer (the address of the TCP connection),
// unless the peer is inside --trusted-proxies; then it is the right-most
// address of X-Forwarded-For that is not trusted.
//
// Why from the right: every proxy appends the address of its own peer to
// X-Forwarded-For, so the last entry was written by the peer, the one before
// it by the host that entry names, and so on. An entry is worth believing
// only if the host that wrote it is trusted, so the walk may step one entry
// further left only while the current hop is trusted. Everything left of the
// first untrusted hop was written by that hop, which may be the client
// itself, and says whatever the client wants; the left-most entry, which
// naive code reads, is exactly the one a client chooses.
//
// The result feeds access control (ip_control) and per-client limits, so it
// must never be an address a client picked. Client does not allocate: it
// runs on every request.
package clientip

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/portico-gw/portico/internal/netset"
)

// Resolver knows the trusted proxies. It is immutable once built, so one
// Resolver serves all connections concurrently. A nil *Resolver trusts no
// one: the client is always the peer.
type Resolver struct {
	trusted netset.Set
}

// Parse reads --trusted-proxies: comma-separated CIDRs or single addresses,
// IPv4 and IPv6, with optional spaces around each; "" (or only spaces) means
// none, so X-Forwarded-For is ignored. Errors name the bad entry, e.g.
// `--trusted-proxies: "10.0.0.0/33": prefix length "33" must be 0-32 for IPv4`.
//
// A CIDR with host bits set (10.0.0.1/8) is accepted and masked to
// 10.0.0.0/8, as nginx's set_real_ip_from does. An IPv4-mapped IPv6 block
// (::ffff:10.0.0.0/104) means the IPv4 block it maps (10.0.0.0/8), because
// addresses are unmapped before they are looked up; any other IPv6 block
// matches IPv6 addresses only (::/0 does not trust IPv4 peers). Zones
// (fe80::1%eth0) are refused: X-Forwarded-For never carries them, and a
// zoned entry would silently match less than it says.
func Parse(list string) (*Resolver, error) {
	r := &Resolver{}
	if strings.TrimSpace(list) == "" {
		return r, nil
	}
	var ps []netip.Prefix
	for i, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, fmt.Errorf("--trusted-proxies: entry %d is empty", i+1)
		}
		p, reason := parseBlock(e)
		if reason != "" {
			return nil, fmt.Errorf("--trusted-proxies: %q: %s", e, reason)
		}
		ps = append(ps, p)
	}
	r.trusted = netset.New(ps)
	return r, nil
}

// parseBlock parses one CIDR or single address into a masked prefix with
// IPv4-mapped blocks turned into IPv4 ones; on failure it says why.
func parseBlock(s string) (netip.Prefix, string) {
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Prefix{}, "zones (%…) are not allowed"
	}
	addr, bits, isCIDR := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if isCIDR {
			return netip.Prefix{}, "not an IP address before the /"
		}
		return netip.Prefix{}, "neither an IP address nor a CIDR"
	}
	if !isCIDR {
		return unmapPrefix(netip.PrefixFrom(a, a.BitLen())), ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a.Is4() {
			return netip.Prefix{}, fmt.Sprintf("prefix length %q must be 0-32 for IPv4", bits)
		}
		return netip.Prefix{}, fmt.Sprintf("prefix length %q must be 0-128 for IPv6", bits)
	}
	return unmapPrefix(p.Masked()), ""
}

// unmapPrefix turns a masked IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/96 or
// longer) into the IPv4 prefix it stands for. A masked prefix shorter than
// /96 never looks mapped (masking clears a bit of the ffff), so it stays an
// IPv6 block.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// Trusted reports whether a is inside the trusted proxies. An IPv4-mapped
// IPv6 address is looked up as the IPv4 address it carries (dual-stack
// listeners report IPv4 peers that way); a zone is ignored; the zero Addr is
// never trusted.
func (r *Resolver) Trusted(a netip.Addr) bool {
	return r != nil && r.trusted.Contains(a.Unmap())
}

// Client returns the client address for a request from peer whose
// X-Forwarded-For field lines are xff, in the order they came (each line may
// hold a comma-separated list; elements may have spaces or tabs around them
// and may carry a port, as in "1.2.3.4:5678" or "[::1]:80").
//
// When the peer is not trusted, the peer is the client and xff is not even
// read: only a trusted proxy's word counts. Otherwise the elements are walked
// from the right, and the current hop starts as the peer:
//
//   - a valid address that is trusted becomes the current hop and the walk
//     goes on to its left;
//   - a valid address that is not trusted is the client;
//   - when the walk runs out of elements (all of them trusted, or none at
//     all), the client is the current hop: the left-most entry, or the peer
//     when xff is empty;
//   - anything else stops the walk, and the client is the current hop, the
//     last trusted hop seen (the peer if the malformed element is the
//     right-most one).
//
// "Anything else" is an element that is not an address: garbage, "unknown",
// an RFC 7239 obfuscated identifier, a zone, a bad port, and also an empty
// element (",,", a trailing comma, an empty line). Stopping is the safe
// choice: the malformed element sits where the current hop, a trusted host,
// should have written its own peer's address, so that peer is unknown and
// every element further left was written by it, possibly the client. Skipping
// the element would believe those, and a client could then name any address
// it likes by sending "X-Forwarded-For: 6.6.6.6, junk" through a trusted host
// that passes junk on. Returning the last trusted hop is always an address a
// trusted hop vouched for. RFC 9110 asks list recipients to ignore empty
// elements; here that would be the same skip, and where empty elements arise
// in practice (", 10.0.0.7" from a proxy joining an empty header) the answer
// is the same either way.
//
// IPv4-mapped IPv6 addresses (the peer's and the elements') are unmapped, so
// the result is comparable with IPv4 blocks. Client does not allocate.
func (r *Resolver) Client(peer netip.Addr, xff [][]byte) netip.Addr {
	peer = peer.Unmap()
	if !r.Trusted(peer) {
		return peer
	}
	hop := peer
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		end := len(line)
		for end >= 0 {
			start := lastComma(line[:end]) + 1
			a, ok := parseEntry(trimOWS(line[start:end]))
			if !ok {
				return hop
			}
			if !r.trusted.Contains(a) {
				return a
			}
			hop = a
			end = start - 1
		}
	}
	return hop
}

// lastComma is the index of the last ',' in b, or -1.
func lastComma(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ',' {
			return i
		}
	}
	return -1
}

// trimOWS strips the optional whitespace (spaces and tabs, RFC 9110 §5.6.3)
// around a list element.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
