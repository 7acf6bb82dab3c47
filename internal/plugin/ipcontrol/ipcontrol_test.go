package ipcontrol

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, blocks ...string) *List {
	t.Helper()
	l, err := Compile(blocks)
	if err != nil {
		t.Fatalf("Compile(%q): %v", blocks, err)
	}
	return l
}

func TestContains(t *testing.T) {
	cases := []struct {
		name   string
		blocks []string
		in     []string
		out    []string
	}{
		{"v4 single", []string{"1.2.3.4"}, []string{"1.2.3.4", "::ffff:1.2.3.4"}, []string{"1.2.3.3", "1.2.3.5", "::102:304"}},
		{"v4 /32", []string{"1.2.3.4/32"}, []string{"1.2.3.4"}, []string{"1.2.3.5"}},
		{"v4 /8 boundaries", []string{"10.0.0.0/8"}, []string{"10.0.0.0", "10.255.255.255", "10.1.2.3"}, []string{"9.255.255.255", "11.0.0.0"}},
		{"v4 /31", []string{"192.0.2.6/31"}, []string{"192.0.2.6", "192.0.2.7"}, []string{"192.0.2.5", "192.0.2.8"}},
		{"v4 /0", []string{"0.0.0.0/0"}, []string{"0.0.0.0", "255.255.255.255", "::ffff:8.8.8.8"}, []string{"::", "::1", "2001:db8::1"}},
		{"v4 top", []string{"255.255.255.0/24", "255.255.255.255"}, []string{"255.255.255.255", "255.255.255.0"}, []string{"255.255.254.255"}},
		{"v4 bottom", []string{"0.0.0.0/32"}, []string{"0.0.0.0"}, []string{"0.0.0.1", "::"}},
		{"host bits masked", []string{"10.0.0.1/8"}, []string{"10.0.0.0", "10.255.255.255"}, []string{"11.0.0.0"}},
		{"v6 /32", []string{"2001:db8::/32"}, []string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1%eth0"}, []string{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "32.1.13.184"}},
		{"v6 /128", []string{"2001:db8::1/128"}, []string{"2001:db8::1"}, []string{"2001:db8::", "2001:db8::2"}},
		{"v6 single", []string{"::1"}, []string{"::1"}, []string{"::", "::2", "127.0.0.1", "0.0.0.1"}},
		{"v6 /64 boundary", []string{"2001:db8:0:1::/64"}, []string{"2001:db8:0:1::", "2001:db8:0:1:ffff:ffff:ffff:ffff"}, []string{"2001:db8:0:0:ffff:ffff:ffff:ffff", "2001:db8:0:2::"}},
		{"v6 /65 boundary", []string{"2001:db8::8000:0:0:0/65"}, []string{"2001:db8::8000:0:0:0", "2001:db8::ffff:ffff:ffff:ffff"}, []string{"2001:db8::7fff:ffff:ffff:ffff", "2001:db8:0:1::"}},
		{"v6 /0", []string{"::/0"}, []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::102:304"}, []string{"1.2.3.4", "::ffff:1.2.3.4", "0.0.0.0"}},
		{"v6 top", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff"}},
		{"mapped block is v4", []string{"::ffff:10.0.0.0/104"}, []string{"10.0.0.0", "10.255.255.255", "::ffff:10.1.1.1"}, []string{"11.0.0.0", "::a00:1"}},
		{"mapped single is v4", []string{"::ffff:1.2.3.4"}, []string{"1.2.3.4"}, []string{"1.2.3.5"}},
		{"v4 and v6 apart", []string{"1.0.0.0/8", "100::/8"}, []string{"1.2.3.4", "100::1"}, []string{"::1.2.3.4", "2.0.0.0", "200::"}},
		{"overlapping merged", []string{"10.0.0.0/24", "10.0.0.128/25", "10.0.0.0/16", "10.0.0.7"}, []string{"10.0.255.255", "10.0.0.7"}, []string{"10.1.0.0"}},
		{"adjacent merged", []string{"10.0.1.0/24", "10.0.0.0/24", "10.0.2.0/23"}, []string{"10.0.0.0", "10.0.1.128", "10.0.3.255"}, []string{"10.0.4.0", "9.255.255.255"}},
		{"duplicates", []string{"1.2.3.4", "1.2.3.4", "1.2.3.4/32"}, []string{"1.2.3.4"}, []string{"1.2.3.5"}},
		{"gaps kept", []string{"10.0.0.0/24", "10.0.2.0/24", "2001:db8::/64", "2001:db8:0:2::/64"}, []string{"10.0.0.255", "10.0.2.0", "2001:db8:0:2::1"}, []string{"10.0.1.0", "10.0.1.255", "2001:db8:0:1::"}},
		{"v6 merge across 64-bit halves", []string{"::ffff:ffff:ffff:ffff/128", "0:0:0:1::/64"}, []string{"::ffff:ffff:ffff:ffff", "0:0:0:1::"}, []string{"0:0:0:2::"}},
		{"empty", nil, nil, []string{"0.0.0.0", "::"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustCompile(t, c.blocks...)
			for _, s := range c.in {
				if !l.Contains(netip.MustParseAddr(s)) {
					t.Errorf("Contains(%s) = false, want true", s)
				}
			}
			for _, s := range c.out {
				if l.Contains(netip.MustParseAddr(s)) {
					t.Errorf("Contains(%s) = true, want false", s)
				}
			}
			if l.Contains(netip.Addr{}) {
				t.Error("the zero Addr is contained")
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for i, bad := range []string{"10.0.0.300", "10.0.0.0/33", "::/129", "10.0.0.0/", "/8", "", " 1.2.3.4", "1.2.3.4 ",
		"10.0.0.0/08", "fe80::1%eth0", "fe80::1%eth0/64", "01.2.3.4", "1.2.3", "host.example", "1.2.3.4/-1", "[::1]", "1.2.3.4:80"} {
		blocks := []string{"10.0.0.0/8", "::1", "1.2.3.4", bad}
		_, err := Compile(blocks)
		want := fmt.Sprintf("blocks[3]: %q is neither an IP address nor a CIDR", bad)
		if err == nil || err.Error() != want {
			t.Errorf("%d: Compile(%q) = %v, want %s", i, blocks, err, want)
		}
	}
	if _, err := Compile([]string{"10.0.0.300"}); err == nil || err.Error() != `blocks[0]: "10.0.0.300" is neither an IP address nor a CIDR` {
		t.Errorf("got %v", err)
	}
}

func TestNew(t *testing.T) {
	many := make([]string, 201)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	cases := []struct {
		typ    string
		blocks []string
		err    string
	}{
		{"white_list", []string{"10.0.0.0/8"}, ""},
		{"black_list", many[:200], ""},
		{"black_list", many, "blocks: at most 200 entries"},
		{"white_list", nil, "blocks: at least 1 entry"},
		{"white_list", []string{}, "blocks: at least 1 entry"},
		{"whitelist", []string{"10.0.0.0/8"}, `type: must be "white_list" or "black_list"`},
		{"", []string{"10.0.0.0/8"}, `type: must be "white_list" or "black_list"`},
		{"White_List", []string{"10.0.0.0/8"}, `type: must be "white_list" or "black_list"`},
		{"black_list", []string{"1.2.3.4", "x"}, `blocks[1]: "x" is neither an IP address nor a CIDR`},
	}
	for _, c := range cases {
		p, err := New(c.typ, c.blocks)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("New(%q, %d blocks): %v", c.typ, len(c.blocks), err)
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("New(%q, %d blocks) = %v, %v; want error %s", c.typ, len(c.blocks), p, err, c.err)
		case c.err != "" && p != nil:
			t.Errorf("New(%q) returned a policy with its error", c.typ)
		}
	}
}

func TestPermit(t *testing.T) {
	blocks := []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.1"}
	white, err := New("white_list", blocks)
	if err != nil {
		t.Fatal(err)
	}
	black, err := New("black_list", blocks)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr   string
		listed bool
	}{
		{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"2001:db8::9", true}, {"192.0.2.1", true},
		{"192.0.2.2", false}, {"11.0.0.0", false}, {"2001:db9::", false}, {"::a01:203", false},
	} {
		a := netip.MustParseAddr(c.addr)
		if got := white.Permit(a); got != c.listed {
			t.Errorf("white list: Permit(%s) = %v, want %v", a, got, c.listed)
		}
		if got := black.Permit(a); got == c.listed {
			t.Errorf("black list: Permit(%s) = %v, want %v", a, got, !c.listed)
		}
	}
	if white.Permit(netip.Addr{}) || !black.Permit(netip.Addr{}) {
		t.Error("the zero Addr: a white list must deny it and a black list let it pass")
	}
}

func TestContainsNoAllocs(t *testing.T) {
	l := mustCompile(t, strings.Split("10.0.0.0/8,2001:db8::/32,1.2.3.4", ",")...)
	addrs := []netip.Addr{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("::ffff:1.2.3.4"),
		netip.MustParseAddr("2001:db8::1%eth0"), netip.MustParseAddr("2001:db9::1")}
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			l.Contains(a)
		}
	}); n != 0 {
		t.Errorf("Contains allocates %v times per call", n)
	}
}
