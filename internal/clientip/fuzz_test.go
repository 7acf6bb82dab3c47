package clientip

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP resolves fuzz-chosen headers from a fuzz-chosen peer behind a
// fuzz-chosen trusted list (skipped when Parse refuses it, which must then be
// for a reason) and checks that Client does not panic, agrees with the
// reference, and never believes an address no trusted hop vouched for.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.0/8", "10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2")
	f.Add("10.0.0.0/8", "10.0.0.1", "6.6.6.6, junk, 10.0.0.2")
	f.Add("10.0.0.0/8,2001:db8::/32", "::ffff:10.0.0.1", "[2001:db8::1]:80,\t[2001:db9::1]:443\n1.2.3.4:5")
	f.Add("::/0, 0.0.0.0/0", "2001:db8::1", "1.2.3.4,, ::1\n\n")
	f.Add("", "198.51.100.4", "1.2.3.4")
	f.Add("10.0.0.1/8", "10.9.9.9", "fe80::1%eth0, 10.0.0.7")
	f.Fuzz(func(t *testing.T, list, peerText, header string) {
		r, err := Parse(list)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--trusted-proxies: ") {
				t.Fatalf("Parse(%q): error %q does not name the flag", list, err)
			}
			return
		}
		peer, err := netip.ParseAddr(peerText)
		if err != nil {
			return
		}
		var xff [][]byte
		if header != "" {
			for _, l := range strings.Split(header, "\n") {
				xff = append(xff, []byte(l))
			}
		}
		got := r.Client(peer, xff)
		if want := refParse(t, list).client(peer, xff); got != want {
			t.Fatalf("trusted %q, peer %s, xff %q: Client = %s, reference = %s", list, peer, xff, got, want)
		}
		checkVouched(t, r, peer, xff, got)
		if !r.Trusted(peer) && got != peer.Unmap() {
			t.Fatalf("untrusted peer %s, yet the client is %s", peer, got)
		}
	})
}
