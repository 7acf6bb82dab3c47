package clientip

import (
	"net/netip"
	"strings"
	"testing"
)

func mustParse(t testing.TB, list string) *Resolver {
	t.Helper()
	r, err := Parse(list)
	if err != nil {
		t.Fatalf("Parse(%q): %v", list, err)
	}
	return r
}

// lines turns "a, b | c" into the field lines ["a, b", "c"].
func lines(s string) [][]byte {
	if s == "" {
		return nil
	}
	var out [][]byte
	for _, l := range strings.Split(s, "|") {
		out = append(out, []byte(l))
	}
	return out
}

func TestParseTrusts(t *testing.T) {
	cases := []struct {
		list      string
		trusted   []string
		untouched []string
	}{
		{"", nil, []string{"10.0.0.1", "::1", "0.0.0.0"}},
		{"   ", nil, []string{"10.0.0.1"}},
		{"10.0.0.0/8", []string{"10.0.0.0", "10.255.255.255", "::ffff:10.1.2.3"}, []string{"9.255.255.255", "11.0.0.0", "::a00:1"}},
		{"192.168.1.7", []string{"192.168.1.7"}, []string{"192.168.1.6", "192.168.1.8"}},
		{" 10.0.0.0/8 ,\t192.168.0.0/16 ", []string{"10.9.9.9", "192.168.200.1"}, []string{"172.16.0.1"}},
		{"10.0.0.1/8", []string{"10.0.0.0", "10.200.0.0"}, []string{"11.0.0.0"}}, // host bits masked
		{"2001:db8::/32", []string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1%eth0"}, []string{"2001:db9::", "2001:db7:ffff::", "32.1.13.184"}},
		{"::1", []string{"::1"}, []string{"::2", "127.0.0.1"}},
		{"::ffff:10.0.0.0/104", []string{"10.1.1.1", "::ffff:10.1.1.1"}, []string{"11.0.0.0"}}, // mapped block = IPv4 block
		{"::ffff:10.0.0.1", []string{"10.0.0.1", "::ffff:10.0.0.1"}, []string{"10.0.0.2", "::a00:1"}},
		{"0.0.0.0/0", []string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"}, []string{"::", "2001:db8::1"}},
		{"::/0", []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1"}, []string{"1.2.3.4", "::ffff:1.2.3.4"}},
		{"10.0.0.0/24,10.0.1.0/24,10.0.0.128/25", []string{"10.0.0.0", "10.0.1.255"}, []string{"10.0.2.0", "9.255.255.255"}},
	}
	for _, c := range cases {
		r := mustParse(t, c.list)
		for _, s := range c.trusted {
			if !r.Trusted(netip.MustParseAddr(s)) {
				t.Errorf("Parse(%q).Trusted(%s) = false, want true", c.list, s)
			}
		}
		for _, s := range c.untouched {
			if r.Trusted(netip.MustParseAddr(s)) {
				t.Errorf("Parse(%q).Trusted(%s) = true, want false", c.list, s)
			}
		}
		if r.Trusted(netip.Addr{}) {
			t.Errorf("Parse(%q) trusts the zero Addr", c.list)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ list, err string }{
		{"10.0.0.0/33", `--trusted-proxies: "10.0.0.0/33": prefix length "33" must be 0-32 for IPv4`},
		{"2001:db8::/129", `--trusted-proxies: "2001:db8::/129": prefix length "129" must be 0-128 for IPv6`},
		{"10.0.0.0/", `--trusted-proxies: "10.0.0.0/": prefix length "" must be 0-32 for IPv4`},
		{"10.0.0.0/08", `--trusted-proxies: "10.0.0.0/08": prefix length "08" must be 0-32 for IPv4`},
		{"10.0.0.0/8, 10.0.0.300", `--trusted-proxies: "10.0.0.300": neither an IP address nor a CIDR`},
		{"lb.internal", `--trusted-proxies: "lb.internal": neither an IP address nor a CIDR`},
		{"10.0.0/8", `--trusted-proxies: "10.0.0/8": not an IP address before the /`},
		{"fe80::1%eth0", `--trusted-proxies: "fe80::1%eth0": zones (%…) are not allowed`},
		{"10.0.0.0/8,,10.1.0.0/16", `--trusted-proxies: entry 2 is empty`},
		{"10.0.0.0/8,", `--trusted-proxies: entry 2 is empty`},
	}
	for _, c := range cases {
		r, err := Parse(c.list)
		if err == nil || err.Error() != c.err {
			t.Errorf("Parse(%q) = %v, %v; want error %s", c.list, r, err, c.err)
		}
	}
}

func TestClient(t *testing.T) {
	r := mustParse(t, "10.0.0.0/8, 2001:db8::/32")
	cases := []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer ignores xff", "203.0.113.9", "1.1.1.1", "203.0.113.9"},
		{"untrusted peer, garbage xff", "203.0.113.9", "junk", "203.0.113.9"},
		{"trusted peer, no xff", "10.0.0.1", "", "10.0.0.1"},
		{"one hop", "10.0.0.1", "198.51.100.4", "198.51.100.4"},
		{"spoofed left part ignored", "10.0.0.1", "6.6.6.6, 198.51.100.4", "198.51.100.4"},
		{"three trusted hops", "10.0.0.1", "198.51.100.4, 10.0.0.3, 10.0.0.2", "198.51.100.4"},
		{"several lines", "10.0.0.1", "6.6.6.6|198.51.100.4, 10.0.0.3|10.0.0.2", "198.51.100.4"},
		{"all trusted: left-most", "10.0.0.1", "10.0.0.4, 10.0.0.3", "10.0.0.4"},
		{"ports", "10.0.0.1", "198.51.100.4:5678, 10.0.0.3:80", "198.51.100.4"},
		{"bracketed v6 with port", "10.0.0.1", "[2001:db8::7]:443, [2001:db9::1]:80", "2001:db9::1"},
		{"bracketed v6 without port", "10.0.0.1", "[2001:db9::1]", "2001:db9::1"},
		{"bare v6", "2001:db8::1", "2001:db9::1, 2001:db8::2", "2001:db9::1"},
		{"mapped peer", "::ffff:10.0.0.1", "198.51.100.4", "198.51.100.4"},
		{"mapped entry, trusted", "10.0.0.1", "198.51.100.4, ::ffff:10.0.0.9", "198.51.100.4"},
		{"mapped entry unmapped", "10.0.0.1", "[::ffff:198.51.100.4]:1", "198.51.100.4"},
		{"mapped untrusted peer unmapped", "::ffff:203.0.113.9", "", "203.0.113.9"},
		{"whitespace", "10.0.0.1", " \t198.51.100.4\t ,  10.0.0.3 ", "198.51.100.4"},

		// Malformed entries stop the walk at the last trusted hop.
		{"garbage right-most: the peer", "10.0.0.1", "6.6.6.6, unknown", "10.0.0.1"},
		{"garbage after a trusted hop", "10.0.0.1", "6.6.6.6, junk, 10.0.0.3", "10.0.0.3"},
		{"garbage between trusted hops", "10.0.0.1", "10.0.0.5, junk, 10.0.0.3", "10.0.0.3"},
		{"garbage left of the client", "10.0.0.1", "junk, 198.51.100.4, 10.0.0.3", "198.51.100.4"},
		{"empty element", "10.0.0.1", "6.6.6.6,, 10.0.0.3", "10.0.0.3"},
		{"trailing comma", "10.0.0.1", "6.6.6.6,", "10.0.0.1"},
		{"empty line", "10.0.0.1", "6.6.6.6|", "10.0.0.1"},
		{"blank line", "10.0.0.1", "6.6.6.6| \t ", "10.0.0.1"},
		{"empty left of client", "10.0.0.1", ", 198.51.100.4", "198.51.100.4"},
		{"empty left of trusted", "10.0.0.1", ", 10.0.0.3", "10.0.0.3"},
		{"zone", "10.0.0.1", "6.6.6.6, fe80::1%eth0", "10.0.0.1"},
		{"port too big", "10.0.0.1", "6.6.6.6, 198.51.100.4:65536", "10.0.0.1"},
		{"empty port", "10.0.0.1", "6.6.6.6, 198.51.100.4:", "10.0.0.1"},
		{"v6 with port, no brackets", "10.0.0.1", "6.6.6.6, 2001:db9::1:80:1:2:3:4:5", "10.0.0.1"},
		{"v4 in brackets", "10.0.0.1", "6.6.6.6, [198.51.100.4]:80", "10.0.0.1"},
		{"unclosed bracket", "10.0.0.1", "6.6.6.6, [2001:db9::1", "10.0.0.1"},
		{"obfuscated", "10.0.0.1", "6.6.6.6, _hidden", "10.0.0.1"},
		{"quoted", "10.0.0.1", `6.6.6.6, "198.51.100.4"`, "10.0.0.1"},
		{"octal-looking", "10.0.0.1", "6.6.6.6, 010.0.0.1", "10.0.0.1"},
		{"two addresses in one element", "10.0.0.1", "6.6.6.6, 198.51.100.4 10.0.0.3", "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := r.Client(netip.MustParseAddr(c.peer), lines(c.xff))
			if got != netip.MustParseAddr(c.want) {
				t.Errorf("Client(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
}

func TestNoTrustedProxies(t *testing.T) {
	for _, r := range []*Resolver{nil, mustParse(t, "")} {
		peer := netip.MustParseAddr("10.0.0.1")
		if got := r.Client(peer, lines("1.2.3.4")); got != peer {
			t.Errorf("%v.Client = %s, want the peer", r, got)
		}
		if r.Trusted(peer) {
			t.Errorf("%v trusts %s", r, peer)
		}
	}
	if got := mustParse(t, "0.0.0.0/0").Client(netip.Addr{}, lines("1.2.3.4")); got.IsValid() {
		t.Errorf("the zero peer gave %s, want the zero Addr", got)
	}
}

// TestClientNoAllocs checks the hot-path promise in the ordinary test run,
// not only in the benchmarks nobody reads.
func TestClientNoAllocs(t *testing.T) {
	r := mustParse(t, "10.0.0.0/8, 2001:db8::/32")
	peer := netip.MustParseAddr("10.0.0.1")
	xff := lines("6.6.6.6, [2001:db9::1]:80, 10.0.0.3:1|::ffff:10.0.0.2, junk, 10.0.0.9")
	if n := testing.AllocsPerRun(100, func() { r.Client(peer, xff) }); n != 0 {
		t.Errorf("Client allocates %v times per call", n)
	}
}
