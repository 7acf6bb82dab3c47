package clientip

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// parseInputs are the textual forms the byte parsers must agree with netip
// on: valid ones of every shape and near misses.
var parseInputs = []string{
	"0.0.0.0", "1.2.3.4", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4",
	"1.2.3.04", "0.0.0.00", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "1.2.3.-4", "1.2.3.4a",
	"::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::",
	"::1:2:3:4:5:6:7", "1::2::3", ":::", ":1::", "1:::2", "12345::", "fffff::", "FFFF::ffff",
	"::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4",
	"1:2:3:4:5:6::1.2.3.4", "::ffff:1.2.3", "::ffff:01.2.3.4", "1.2.3.4::", "2001:db8::1%eth0",
	"2001:db8:85a3:0:0:8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334", "g::", "1:", ":1", "",
	"::ffff:256.1.1.1", "0:0:0:0:0:0:0:0", "::0:0:0:0:0:0:0", "0:0:0:0:0:0:0::", "1.2.3.4:80",
}

func TestParseAddrMatchesNetip(t *testing.T) {
	for _, s := range parseInputs {
		checkParseAddr(t, s)
	}
	// And a few thousand random addresses in every textual form netip writes.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		var b [16]byte
		for i := range b {
			if rng.IntN(3) != 0 { // zeros often, so "::" appears
				b[i] = byte(rng.Uint32())
			}
		}
		a := netip.AddrFrom16(b)
		checkParseAddr(t, a.String())
		checkParseAddr(t, a.StringExpanded())
		checkParseAddr(t, strings.ToUpper(a.String()))
		checkParseAddr(t, a.Unmap().String())
		checkParseAddr(t, netip.AddrFrom16([16]byte(append(make([]byte, 10), 0xff, 0xff, b[0], b[1], b[2], b[3]))).String())
	}
}

// checkParseAddr holds parseIPv4/parseIPv6 to netip.ParseAddr, zones aside.
func checkParseAddr(t *testing.T, s string) {
	t.Helper()
	want, err := netip.ParseAddr(s)
	wantOK := err == nil && want.Zone() == ""
	var got netip.Addr
	var ok bool
	if strings.Contains(s, ":") {
		got, ok = parseIPv6([]byte(s))
	} else {
		got, ok = parseIPv4([]byte(s))
	}
	if ok != wantOK || ok && got != want {
		t.Errorf("parse(%q) = %v, %v; netip.ParseAddr gives %v, %v", s, got, ok, want, err)
	}
}

// FuzzParseAddr holds the byte parsers to netip.ParseAddr on any input.
func FuzzParseAddr(f *testing.F) {
	for _, s := range parseInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParseAddr(t, s)
		got, ok := parseEntry(trimOWS([]byte(s)))
		want, wantOK := refEntry(s)
		if ok != wantOK || ok && got != want {
			t.Errorf("parseEntry(trimOWS(%q)) = %v, %v; reference gives %v, %v", s, got, ok, want, wantOK)
		}
	})
}

func TestParseEntry(t *testing.T) {
	cases := []struct{ in, want string }{ // want "" means not an address
		{"1.2.3.4", "1.2.3.4"},
		{"1.2.3.4:0", "1.2.3.4"},
		{"1.2.3.4:65535", "1.2.3.4"},
		{"1.2.3.4:0080", "1.2.3.4"},
		{"1.2.3.4:65536", ""},
		{"1.2.3.4:", ""},
		{"1.2.3.4:-1", ""},
		{"1.2.3.4:+80", ""},
		{"::1", "::1"},
		{"[::1]", "::1"},
		{"[::1]:80", "::1"},
		{"[::1]:", ""},
		{"[::1]80", ""},
		{"[::1]:80:90", ""},
		{"[::1", ""},
		{"::1]", ""},
		{"[]", ""},
		{"[]:80", ""},
		{"[1.2.3.4]", ""},
		{"[1.2.3.4]:80", ""},
		{"[::ffff:1.2.3.4]:80", "1.2.3.4"},
		{"::ffff:1.2.3.4", "1.2.3.4"},
		{"[fe80::1%eth0]:80", ""},
		{"fe80::1%eth0", ""},
		{"1.2.3.4%eth0", ""},
		{"unknown", ""},
		{"_hidden", ""},
		{"", ""},
		{"1.2.3.4 ", ""}, // trimmed by the caller, not here
	}
	for _, c := range cases {
		got, ok := parseEntry([]byte(c.in))
		if c.want == "" {
			if ok {
				t.Errorf("parseEntry(%q) = %s, want not an address", c.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(c.want) {
			t.Errorf("parseEntry(%q) = %s, %v; want %s", c.in, got, ok, c.want)
		}
		if ref, ok := refEntry(c.in); !ok || ref != got {
			t.Errorf("reference disagrees on %q: %s, %v", c.in, ref, ok)
		}
	}
}
