package proxy

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
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

func FuzzRemoveConnectionTokens(f *testing.F) {
	f.Add("close, X-A ,keep-alive,,x-b")
	f.Fuzz(func(t *testing.T, v string) {
		removeConnectionTokens([]byte(v), func(tok string) {
			if tok == "" || tok != string(bytes.TrimSpace([]byte(tok))) {
				t.Fatalf("token %q from %q", tok, v)
			}
		})
	})
}
