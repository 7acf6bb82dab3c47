package clientip

import "net/netip"

// The parsers below read addresses straight from the header bytes.
// netip.ParseAddr takes a string, and converting the bytes to one allocates
// (the compiler cannot prove the string does not escape), so the textual
// forms netip accepts are re-implemented here, without zones; a differential
// test and fuzz target hold them to netip's behaviour.

// parseEntry parses one X-Forwarded-For element, already trimmed: an IPv4
// address, optionally with ":port"; a bare IPv6 address; or an IPv6 address
// in brackets, optionally with ":port". IPv4-mapped addresses are unmapped.
// Anything else, the empty element included, is not an address.
func parseEntry(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	if b[0] == '[' {
		end := -1
		for i, c := range b {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := b[end+1:]; len(rest) > 0 && (rest[0] != ':' || !validPort(rest[1:])) {
			return netip.Addr{}, false
		}
		a, ok := parseIPv6(b[1:end])
		return a.Unmap(), ok
	}
	colon, colons := -1, 0
	for i, c := range b {
		if c == ':' {
			colon = i
			colons++
		}
	}
	switch colons {
	case 0:
		return parseIPv4(b)
	case 1: // a colon in an IPv6 address comes with at least one more
		if !validPort(b[colon+1:]) {
			return netip.Addr{}, false
		}
		return parseIPv4(b[:colon])
	default:
		a, ok := parseIPv6(b)
		return a.Unmap(), ok
	}
}

// validPort reports whether b is a port: decimal digits of value at most
// 65535 (leading zeros allowed, as strconv.ParseUint and so
// netip.ParseAddrPort allow them).
func validPort(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
		if v > 65535 {
			return false
		}
	}
	return true
}

// parseIPv4 parses dotted decimal: four fields of 1-3 digits, each at most
// 255 and without a leading zero (which some parsers read as octal).
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	if !parseIPv4Fields(b, ip[:]) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

// parseIPv4Fields parses dotted decimal into the four bytes of out.
func parseIPv4Fields(b []byte, out []byte) bool {
	field, val, digits := 0, 0, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if digits == 0 || i == len(b)-1 || field == 3 {
				return false
			}
			out[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return false
		}
	}
	if field != 3 || digits == 0 {
		return false
	}
	out[3] = byte(val)
	return true
}

// parseIPv6 parses RFC 4291 text: eight groups of 1-4 hex digits, one "::"
// standing for one or more zero groups, and optionally a dotted IPv4 address
// as the last 32 bits. Zones are not accepted.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // where "::" stands in ip
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		b = b[2:]
		if len(b) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, uint32(0)
	digits:
		for ; off < len(b); off++ {
			c := b[off]
			switch {
			case c >= '0' && c <= '9':
				acc = acc<<4 + uint32(c-'0')
			case c >= 'a' && c <= 'f':
				acc = acc<<4 + uint32(c-'a'+10)
			case c >= 'A' && c <= 'F':
				acc = acc<<4 + uint32(c-'A'+10)
			default:
				break digits
			}
			if off > 3 {
				return netip.Addr{}, false // more than 4 digits
			}
		}
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(b) && b[off] == '.' {
			// The embedded IPv4 address: only as the last 32 bits.
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return netip.Addr{}, false
			}
			if !parseIPv4Fields(b, ip[i:i+4]) {
				return netip.Addr{}, false
			}
			b = nil
			i += 4
			break
		}
		ip[i] = byte(acc >> 8)
		ip[i+1] = byte(acc)
		i += 2
		b = b[off:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false // a second "::"
			}
			ellipsis = i
			b = b[1:]
			if len(b) == 0 {
				break
			}
		}
	}
	if len(b) != 0 {
		return netip.Addr{}, false // more than 8 groups
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false // fewer than 8 groups
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false // "::" must stand for at least one group
	}
	return netip.AddrFrom16(ip), true
}
