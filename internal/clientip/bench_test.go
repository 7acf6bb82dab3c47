package clientip

import (
	"net/netip"
	"testing"
)

var sinkAddr netip.Addr

// BenchmarkClient resolves a request through 0, 1 and 3 trusted hops (the
// peer counts as the first), with a realistic list of trusted blocks.
func BenchmarkClient(b *testing.B) {
	r, err := Parse("10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 2001:db8::/32, 173.245.48.0/20, 103.21.244.0/22, 103.22.200.0/22, 141.101.64.0/18, 108.162.192.0/18, 2400:cb00::/32")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		peer string
		xff  string
	}{
		{"hops=0", "198.51.100.4", "6.6.6.6"}, // untrusted peer: xff not read
		{"hops=1", "10.0.0.1", "6.6.6.6, 198.51.100.4"},
		{"hops=3", "10.0.0.1", "6.6.6.6, 198.51.100.4, 173.245.48.7, 10.1.2.3"},
		{"hops=3/v6", "2001:db8::1", "6.6.6.6, [2001:db9::4]:443, 2400:cb00::7, 2001:db8::2"},
	}
	for _, c := range cases {
		peer := netip.MustParseAddr(c.peer)
		xff := [][]byte{[]byte(c.xff)}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkAddr = r.Client(peer, xff)
			}
		})
	}
}
