package proxy

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/h1"
)

func FuzzEscapedPath(f *testing.F) {
	for _, s := range []string{"/a b", "/%", "/中文", "/a/../b", "/?#", "/x;y=1@z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		esc := appendEscapedPath(nil, []byte(p))
		if bytes.ContainsAny(esc, " ?#\x00\r\n") {
			t.Fatalf("escaped %q still holds a byte that ends or breaks a request line: %q", p, esc)
		}
		back, err := url.PathUnescape(string(esc))
		if err != nil || back != p {
			t.Fatalf("round trip of %q: %q, %v", p, back, err)
		}
	})
}

func FuzzNormalizeHost(f *testing.F) {
	// The long one with an invalid UTF-8 byte once grew through bytes.ToLower.
	for _, s := range []string{"API.example.com:80", "[::1]:8080", "[::1", "a.", ":", "", strings.Repeat("0", 300) + "\xbc0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := normalizeHost([]byte(h), make([]byte, 0, 256))
		if bytes.ContainsAny(got, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("normalizeHost(%q) = %q keeps upper case", h, got)
		}
		if len(got) > len(h) {
			t.Fatalf("normalizeHost(%q) = %q grew", h, got)
		}
	})
}

func FuzzConnectionTokens(f *testing.F) {
	f.Add("close, X-A ,keep-alive,,x-b")
	f.Fuzz(func(t *testing.T, v string) {
		for _, tok := range connectionTokens(nil, []h1.Field{{Name: []byte("Connection"), Value: []byte(v)}}) {
			if len(tok) == 0 || !bytes.Equal(tok, bytes.TrimSpace(tok)) {
				t.Fatalf("token %q from %q", tok, v)
			}
		}
	})
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//a//b/", "/a/./b/.", "/%2e%2e/x", "/a%2Fb", "/%zz", "/%00", "/a/b/../../../c", "/..", "/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := cleanPath(nil, []byte(raw))
		if !ok {
			return
		}
		if len(got) == 0 || got[0] != '/' {
			t.Fatalf("cleanPath(%q) = %q: not absolute", raw, got)
		}
		for _, seg := range strings.Split(string(got), "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("cleanPath(%q) = %q keeps a dot segment", raw, got)
			}
		}
		if strings.Contains(string(got), "//") {
			t.Fatalf("cleanPath(%q) = %q keeps an empty segment", raw, got)
		}
		again, ok := cleanPath(nil, appendEscapedPath(nil, got))
		if !ok || string(again) != string(got) {
			t.Fatalf("cleanPath is not stable: %q -> %q -> %q", raw, got, again)
		}
	})
}
