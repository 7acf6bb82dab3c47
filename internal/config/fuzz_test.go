package config

import (
	"strings"
	"testing"
)

// FuzzParsePath checks that ParsePath never panics and that what it accepts
// is consistent: within the limits, and written back (marker + Path) it parses
// to the same kind and shape, so that storing a pattern and parsing it again
// in a snapshot cannot change how it routes.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"=/user", "^~/static/", "/user/{id}", "/user", "/", "/a/{b}/", "=/{x}", "/{a}{b}", "/a//b", "^~", "/{1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		if len(p.Path) > MaxPathLen || !strings.HasPrefix(p.Path, "/") || len(p.Params()) > MaxPathParams {
			t.Fatalf("ParsePath(%q) = %+v, outside the limits", s, p)
		}
		marker := map[PathKind]string{PathExact: "=", PathPrefix: "^~"}[p.Kind]
		if marker+p.Path != s {
			t.Fatalf("ParsePath(%q): marker %q + Path %q is not the input", s, marker, p.Path)
		}
		if p.Kind == PathParam {
			var b strings.Builder
			for _, seg := range p.Segments {
				b.WriteByte('/')
				if seg.Param != "" {
					b.WriteString("{" + seg.Param + "}")
				} else {
					b.WriteString(seg.Literal)
				}
			}
			if b.String() != p.Path {
				t.Fatalf("ParsePath(%q): segments %+v do not spell Path", s, p.Segments)
			}
		}
		q, err := ParsePath(marker + p.Path)
		if err != nil {
			t.Fatalf("ParsePath(%q) re-parse: %v", marker+p.Path, err)
		}
		if q.Kind != p.Kind || q.Shape() != p.Shape() {
			t.Fatalf("re-parse of %q: %v %q, want %v %q", s, q.Kind, q.Shape(), p.Kind, p.Shape())
		}
	})
}

// FuzzBackendPathParams checks that BackendPathParams never panics and that
// every name it returns is a valid parameter name found in braces in the
// path, in order.
func FuzzBackendPathParams(f *testing.F) {
	for _, s := range []string{"/", "/users/{id}", "/{a}/{b}/{a}", "/x-{b}.{a}", "/{", "/}", "/{}", "/{{a}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := BackendPathParams(s)
		if err != nil {
			return
		}
		rest := s
		for _, n := range names {
			if !isIdent(n) {
				t.Fatalf("BackendPathParams(%q) returned the name %q", s, n)
			}
			i := strings.Index(rest, "{"+n+"}")
			if i < 0 {
				t.Fatalf("BackendPathParams(%q) = %q: {%s} not found in order", s, names, n)
			}
			rest = rest[i+len(n)+2:]
		}
		if strings.Count(s, "{") != len(names) || strings.Count(s, "}") != len(names) {
			t.Fatalf("BackendPathParams(%q) = %q, but the path has other braces", s, names)
		}
	})
}
