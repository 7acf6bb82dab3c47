package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in     string
		kind   PathKind
		path   string
		params []string
		shape  string
	}{
		{"=/user", PathExact, "/user", nil, "exact:/user"},
		{"=/", PathExact, "/", nil, "exact:/"},
		{"^~/static/", PathPrefix, "/static/", nil, "prefix:/static/"},
		{"^~/", PathPrefix, "/", nil, "prefix:/"},
		{"/user", PathPlain, "/user", nil, "plain:/user"},
		{"/", PathPlain, "/", nil, "plain:/"},
		{"/user/", PathPlain, "/user/", nil, "plain:/user/"},
		{"/a.b/~c-d_e/%20", PathPlain, "/a.b/~c-d_e/%20", nil, "plain:/a.b/~c-d_e/%20"},
		{"/user/{id}", PathParam, "/user/{id}", []string{"id"}, "param:/user/{}"},
		{"/{a}/x/{B_2}", PathParam, "/{a}/x/{B_2}", []string{"a", "B_2"}, "param:/{}/x/{}"},
		{"/user/{id}/", PathParam, "/user/{id}/", []string{"id"}, "param:/user/{}/"},
		{"/{_}", PathParam, "/{_}", []string{"_"}, "param:/{}"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if p.Kind != tt.kind || p.Path != tt.path || !slices.Equal(p.Params(), tt.params) || p.Shape() != tt.shape {
				t.Errorf("ParsePath(%q) = %v %q params %q shape %q, want %v %q %q %q",
					tt.in, p.Kind, p.Path, p.Params(), p.Shape(), tt.kind, tt.path, tt.params, tt.shape)
			}
			if (p.Kind == PathParam) != (p.Segments != nil) {
				t.Errorf("Segments = %v for kind %v", p.Segments, p.Kind)
			}
		})
	}
}

func TestParsePathSegments(t *testing.T) {
	p, err := ParsePath("/a/{x}/b/")
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{Literal: "a"}, {Param: "x"}, {Literal: "b"}, {Literal: ""}}
	if !slices.Equal(p.Segments, want) {
		t.Errorf("Segments = %+v, want %+v", p.Segments, want)
	}
}

func TestParsePathErrors(t *testing.T) {
	var many strings.Builder
	for i := range MaxPathParams + 1 {
		fmt.Fprintf(&many, "/{p%d}", i)
	}
	tests := []struct {
		name, in, msg string // msg: a part of the error message
	}{
		{"empty", "", "must start with /"},
		{"relative", "user", "must start with /"},
		{"exact alone", "=", "must start with /"},
		{"prefix alone", "^~", "must start with /"},
		{"exact relative", "=user", "must start with /"},
		{"both markers", "=^~/user", "must start with /"},
		{"space", "/a b", "spaces"},
		{"tab", "/a\tb", "control"},
		{"DEL", "/a\x7f", "control"},
		{"query", "/a?x=1", "'?'"},
		{"fragment", "/a#x", "'#'"},
		{"empty segment", "/a//b", "//"},
		{"root empty segment", "//", "//"},
		{"too long", "/" + strings.Repeat("a", MaxPathLen), "at most"},
		{"unclosed param", "/a/{id", "whole segment"},
		{"stray close", "/a/id}", "whole segment"},
		{"part of segment", "/a/x{id}", "whole segment"},
		{"two in a segment", "/{a}{b}", "must be letters"},
		{"empty param", "/a/{}", "whole segment"},
		{"digit first", "/a/{1x}", "must be letters"},
		{"dash in name", "/a/{a-b}", "must be letters"},
		{"name too long", "/{" + strings.Repeat("n", 65) + "}", "must be letters"},
		{"repeated name", "/{id}/x/{id}", "used twice"},
		{"too many params", many.String(), "at most 16"},
		{"exact with param", "=/a/{id}", "cannot be used"},
		{"prefix with param", "^~/a/{id}", "cannot be used"},
		{"exact with brace", "=/a}", "cannot be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if err == nil {
				t.Fatalf("ParsePath(%q) = %+v, want an error", tt.in, p)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParsePath(%q) error %q does not mention %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestParsePathLimits(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxPathLen-1)
	if _, err := ParsePath(long); err != nil {
		t.Errorf("a path of MaxPathLen: %v", err)
	}
	if _, err := ParsePath("=" + long); err != nil {
		t.Errorf("an exact path of MaxPathLen after the marker: %v", err)
	}
	var b strings.Builder
	for i := range MaxPathParams {
		fmt.Fprintf(&b, "/{p%d}", i)
	}
	p, err := ParsePath(b.String())
	if err != nil || len(p.Params()) != MaxPathParams {
		t.Errorf("MaxPathParams parameters: %v, %d params", err, len(p.Params()))
	}
	if _, err := ParsePath("/{" + strings.Repeat("n", 64) + "}"); err != nil {
		t.Errorf("a 64-character parameter name: %v", err)
	}
}

func TestShape(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"/user/{id}", "/user/{uid}", true},
		{"/{a}/{b}", "/{x}/{y}", true},
		{"/user/{id}", "/user/{id}/", false},
		{"/user/{id}", "/users/{id}", false},
		{"/{a}/x", "/x/{a}", false},
		{"=/user", "/user", false},
		{"^~/user", "/user", false},
		{"=/user", "^~/user", false},
		{"/user", "/user/", false},
		{"/user", "/user", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			pa, err1 := ParsePath(tt.a)
			pb, err2 := ParsePath(tt.b)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if same := pa.Shape() == pb.Shape(); same != tt.same {
				t.Errorf("Shape %q vs %q: same = %v, want %v", pa.Shape(), pb.Shape(), same, tt.same)
			}
		})
	}
}

func TestPathKindString(t *testing.T) {
	for k, want := range map[PathKind]string{PathExact: "exact", PathPrefix: "prefix", PathParam: "param", PathPlain: "plain"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestBackendPathParams(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"/", nil, false},
		{"/users", nil, false},
		{"/users/{id}", []string{"id"}, false},
		{"/{a}/{b}/{a}", []string{"a", "b", "a"}, false},
		{"/x-{b}.{a}", []string{"b", "a"}, false},
		{"/{id", nil, true},
		{"/id}", nil, true},
		{"/{}", nil, true},
		{"/{a-b}", nil, true},
		{"/{{a}}", nil, true},
		{"/{1}", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := BackendPathParams(tt.in)
			if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
				t.Errorf("BackendPathParams(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestIsHostPort(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"api.example.com", true},
		{"api.example.com.", true},
		{"localhost:8080", true},
		{"10.0.0.1", true},
		{"10.0.0.1:65535", true},
		{"[fd00::1]", true},
		{"[fd00::1]:443", true},
		{"[::ffff:10.0.0.1]:80", true},
		{"", false},
		{":80", false},
		{"[]", false},
		{"[]:80", false},
		{"[fd00::1", false},
		{"[fd00::1]x", false},
		{"[fd00::1]:", false},
		{"[10.0.0.1]:80", false},
		{"[api.example.com]", false},
		{"fd00::1", false},
		{"fd00::1:8080", false},
		{"a.com:80:90", false},
		{"a.com:0", false},
		{"a.com:-1", false},
		{"a.com:65536", false},
		{"a.com:080", true},
		{"a.com:000080", false},
		{"10.0.0.256", false},
		{"1.2.3", false},
		{"api.123", false},
		{"123", false},
		{"123.example.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := isHostPort(tt.in); got != tt.want {
				t.Errorf("isHostPort(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
