package certs

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"
)

func TestIndexSelection(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	def := &hostCert(t, "default", year, "portico.invalid").Certificate
	certs := map[string]*Parsed{
		"exact":    hostCert(t, "exact", year, "api.example.com", "Both.Example.com"),
		"wild":     hostCert(t, "wild", year, "*.example.com", "*.b.example.com"),
		"custom":   hostCert(t, "custom", year, "shop.example.net"),
		"apex":     hostCert(t, "apex", year, "example.com"),
		"nohost":   hostCert(t, "nohost", year),
		"oddwild":  hostCert(t, "oddwild", year, "*", "a*.example.org", "*.*.example.org"),
		"trailing": hostCert(t, "trailing", year, "dot.example.org."),
		"gone":     nil,
	}
	domains := map[string]string{
		"Shop.Customer.TEST.":  "custom",  // domain host normalised
		"www.example.com":      "custom",  // beats the wildcard
		"both.example.com":     "custom",  // beats the exact host
		"bare.customer.test":   "nohost",  // a certificate without hosts, by domain only
		"dangling.example.com": "missing", // unknown id: falls through to host matching
		"nil.example.com":      "gone",
	}
	ix := NewIndex(certs, domains, def)

	tests := []struct{ sni, want string }{
		{"api.example.com", "exact"},
		{"API.EXAMPLE.COM", "exact"},
		{"api.example.com.", "exact"},
		{"Api.Example.Com.", "exact"},
		{"both.example.com", "custom"},
		{"shop.customer.test", "custom"},
		{"SHOP.customer.test.", "custom"},
		{"www.example.com", "custom"},
		{"WWW.example.com.", "custom"},
		{"bare.customer.test", "nohost"},
		{"other.example.com", "wild"},
		{"OTHER.Example.Com.", "wild"},
		{"x.b.example.com", "wild"}, // its own wildcard *.b.example.com
		{"dangling.example.com", "wild"},
		{"nil.example.com", "wild"},
		{"example.com", "apex"},         // the wildcard does not match the apex
		{"a.x.example.com", ""},         // nor two labels
		{"a.b.c.example.com", ""},       // nor three
		{"shop.example.net", "custom"},  // by its host
		{"www.shop.example.net", ""},    // no wildcard there
		{"dot.example.org", "trailing"}, // the SAN's trailing dot is dropped
		{"dot.example.org.", "trailing"},
		{"ab.example.org", ""}, // partial-label wildcards are never wildcards
		{"a.b.example.org", ""},
		{"com", ""},
		{".example.com", ""}, // empty first label
		{"example.com..", ""},
		{".", ""},
		{"", ""}, // no SNI
		{"unknown.test", ""},
		{"portico.invalid", ""}, // the default is not indexed: "" all the same
	}
	for _, tt := range tests {
		id, c := ix.Match(tt.sni)
		want := def
		if tt.want != "" {
			want = &certs[tt.want].Certificate
		}
		if id != tt.want || c != want {
			t.Errorf("Match(%q) = %q, want %q", tt.sni, id, tt.want)
		}
		if g := ix.Get(tt.sni); g != want {
			t.Errorf("Get(%q) is not the certificate of %q", tt.sni, tt.want)
		}
	}
}

func TestIndexTieBreak(t *testing.T) {
	now := time.Now()
	old := hostCert(t, "old", now.Add(10*24*time.Hour), "a.example.com", "*.example.com")
	renewed := hostCert(t, "renewed", now.Add(90*24*time.Hour), "a.example.com", "*.example.com")
	same := hostCert(t, "same", now.Add(90*24*time.Hour), "a.example.com", "*.example.com")
	same.NotAfter = renewed.NotAfter

	ix := NewIndex(map[string]*Parsed{"1-old": old, "2-renewed": renewed}, nil, nil)
	for _, sni := range []string{"a.example.com", "b.example.com"} {
		if id, _ := ix.Match(sni); id != "2-renewed" {
			t.Errorf("Match(%q) = %q, want the certificate expiring last", sni, id)
		}
	}
	ix = NewIndex(map[string]*Parsed{"b": renewed, "a": same}, nil, nil)
	for _, sni := range []string{"a.example.com", "b.example.com"} {
		if id, _ := ix.Match(sni); id != "a" {
			t.Errorf("Match(%q) = %q, want the smallest id on equal expiry", sni, id)
		}
	}
}

func TestIndexNoDefault(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	a := hostCert(t, "a", year, "a.example.com")
	ix := NewIndex(map[string]*Parsed{"a": a}, nil, nil)
	if c := ix.Get("b.example.com"); c != nil {
		t.Error("Get of an unknown host without default is not nil")
	}
	var nilIx *Index
	if c := nilIx.Get("a.example.com"); c != nil {
		t.Error("nil index returned a certificate")
	}

	var sel Selector // the zero Selector holds no index
	if _, err := sel.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("zero Selector: err %v, want ErrNoCertificate", err)
	}
	sel.Store(ix)
	if c, err := sel.GetCertificate(&tls.ClientHelloInfo{ServerName: "A.example.com"}); err != nil || c != &a.Certificate {
		t.Errorf("GetCertificate = %v, %v; want a's certificate", c, err)
	}
	if _, err := sel.GetCertificate(&tls.ClientHelloInfo{}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no SNI, no default: err %v, want ErrNoCertificate", err)
	}
	if sel.Load() != ix {
		t.Error("Load does not return the stored index")
	}
}

func TestIndexGetAllocs(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	ix := NewIndex(map[string]*Parsed{
		"a": hostCert(t, "a", year, "a.example.com"),
		"w": hostCert(t, "w", year, "*.example.com"),
	}, map[string]string{"d.example.net": "a"}, &hostCert(t, "def", year).Certificate)
	for _, sni := range []string{"a.example.com", "x.example.com", "d.example.net", "none.test", "a.example.com.", ""} {
		if n := testing.AllocsPerRun(100, func() { ix.Get(sni) }); n != 0 {
			t.Errorf("Get(%q) allocates %v times", sni, n)
		}
	}
}

func BenchmarkIndexGet(b *testing.B) {
	year := time.Now().Add(365 * 24 * time.Hour)
	certs := map[string]*Parsed{"w": hostCert(b, "w", year, "*.example.com")}
	ix := NewIndex(certs, nil, nil)
	for b.Loop() {
		ix.Get("www.example.com")
	}
}
