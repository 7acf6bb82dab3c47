package router

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

// r builds a route from a frontend path such as "=/user GET"; the ID is the
// route's index in the list given to table.
func r(spec string) Route {
	path, method, _ := strings.Cut(spec, " ")
	p, err := config.ParsePath(path)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", spec, err))
	}
	return Route{Pattern: p, Method: method}
}

func table(specs ...string) ([]Route, *Table) {
	routes := make([]Route, len(specs))
	for i, s := range specs {
		routes[i] = r(s)
		routes[i].ID = i
	}
	return routes, New(routes)
}

func params(path string, m *Match) []string {
	var vals []string
	for i := 0; i < m.NParams; i++ {
		vals = append(vals, m.Param(path, i))
	}
	return vals
}

func TestLookup(t *testing.T) {
	type want struct {
		res    Result
		id     int // -1 for none
		rest   string
		params []string
		allow  string
	}
	found := func(id int) want { return want{res: Found, id: id} }
	tests := []struct {
		name   string
		routes []string
		method string
		path   string
		want   want
	}{
		// Priority between kinds.
		{"exact beats prefix", []string{"^~/user GET", "=/user GET"}, "GET", "/user", found(1)},
		{"prefix beats param", []string{"/{x} GET", "^~/us GET"}, "GET", "/user", want{res: Found, id: 1, rest: "er"}},
		{"param beats plain", []string{"/user GET", "/{x} GET"}, "GET", "/user", want{res: Found, id: 1, params: []string{"user"}}},
		{"longer plain loses to shorter prefix", []string{"/user/7 GET", "^~/u GET"}, "GET", "/user/7", want{res: Found, id: 1, rest: "ser/7"}},
		{"exact needs the whole path", []string{"=/user GET", "/ GET"}, "GET", "/user/7", want{res: Found, id: 1, rest: "/user/7"}},
		{"exact trailing slash is another path", []string{"=/user/ GET"}, "GET", "/user", want{res: NotFound, id: -1}},

		// Longest wins within a kind.
		{"longest prefix", []string{"^~/a GET", "^~/a/b/ GET", "^~/a/b GET"}, "GET", "/a/b/c", want{res: Found, id: 1, rest: "c"}},
		{"longest plain", []string{"/a GET", "/a/b/c GET", "/a/b GET"}, "GET", "/a/b/c/d", want{res: Found, id: 1, rest: "/d"}},
		{"plain below longest", []string{"/a GET", "/a/b GET"}, "GET", "/a/bc", want{res: Found, id: 0, rest: "/bc"}},

		// Prefix is a plain string prefix.
		{"prefix inside a segment", []string{"^~/user GET"}, "GET", "/username", want{res: Found, id: 0, rest: "name"}},
		{"prefix equal to path", []string{"^~/user GET"}, "GET", "/user", found(0)},
		{"prefix longer than path", []string{"^~/user/ GET"}, "GET", "/user", want{res: NotFound, id: -1}},
		{"prefix root", []string{"^~/ GET"}, "GET", "/x/y", want{res: Found, id: 0, rest: "x/y"}},

		// Plain: segment boundary.
		{"plain self", []string{"/user GET"}, "GET", "/user", found(0)},
		{"plain below", []string{"/user GET"}, "GET", "/user/7/x", want{res: Found, id: 0, rest: "/7/x"}},
		{"plain trailing slash in path", []string{"/user GET"}, "GET", "/user/", want{res: Found, id: 0, rest: "/"}},
		{"plain not a segment prefix", []string{"/user GET"}, "GET", "/username", want{res: NotFound, id: -1}},
		{"plain with trailing slash", []string{"/user/ GET"}, "GET", "/user/7", want{res: Found, id: 0, rest: "/7"}},
		{"plain with trailing slash itself", []string{"/user/ GET"}, "GET", "/user/", found(0)},
		{"plain with trailing slash needs it", []string{"/user/ GET"}, "GET", "/user", want{res: NotFound, id: -1}},
		{"plain root matches root", []string{"/ GET"}, "GET", "/", found(0)},
		{"plain root matches everything", []string{"/ GET"}, "GET", "/a/b", want{res: Found, id: 0, rest: "/a/b"}},
		{"plain root is weakest", []string{"/ GET", "/a GET"}, "GET", "/a/b", want{res: Found, id: 1, rest: "/b"}},

		// Param patterns.
		{"param spans", []string{"/user/{id}/order/{oid} GET"}, "GET", "/user/42/order/abc", want{res: Found, id: 0, params: []string{"42", "abc"}}},
		{"param whole path", []string{"/user/{id} GET"}, "GET", "/user/42/x", want{res: NotFound, id: -1}},
		{"param not empty", []string{"/user/{id} GET"}, "GET", "/user/", want{res: NotFound, id: -1}},
		{"param trailing slash pattern", []string{"/user/{id}/ GET"}, "GET", "/user/42/", want{res: Found, id: 0, params: []string{"42"}}},
		{"param trailing slash pattern needs it", []string{"/user/{id}/ GET"}, "GET", "/user/42", want{res: NotFound, id: -1}},
		{"param trailing slash path", []string{"/user/{id} GET"}, "GET", "/user/42/", want{res: NotFound, id: -1}},
		{"param at root", []string{"/{id} GET"}, "GET", "/7", want{res: Found, id: 0, params: []string{"7"}}},
		{"param root path", []string{"/{id} GET"}, "GET", "/", want{res: NotFound, id: -1}},
		{"literal beats param", []string{"/user/{id}/x GET", "/user/me/{y} GET"}, "GET", "/user/me/x", want{res: Found, id: 1, params: []string{"x"}}},
		{"param kind beats a plain literal", []string{"/user/me GET", "/user/{id} GET"}, "GET", "/user/me", want{res: Found, id: 1, params: []string{"me"}}},
		{"literal first at first difference", []string{"/{a}/b GET", "/a/{b} GET"}, "GET", "/a/b", want{res: Found, id: 1, params: []string{"b"}}},
		{"backtrack to param", []string{"/a/b/c GET", "/{x}/b/d GET"}, "GET", "/a/b/d", want{res: Found, id: 1, params: []string{"a"}}},
		{"deep backtrack", []string{"/a/{x}/c GET", "/a/b/{y}/d GET", "/{z}/b/c GET"}, "GET", "/a/b/c", want{res: Found, id: 0, params: []string{"b"}}},
		{"param dots and escapes", []string{"/f/{name} GET"}, "GET", "/f/a.b%2Fc", want{res: Found, id: 0, params: []string{"a.b%2Fc"}}},

		// Methods.
		{"method picks among same shape", []string{"/a GET", "/a POST"}, "POST", "/a", found(1)},
		{"weaker candidate allows the method", []string{"=/a GET", "/a POST"}, "POST", "/a", found(1)},
		{"ANY allows all", []string{"/a ANY"}, "DELETE", "/a", found(0)},
		{"ANY allows unknown methods", []string{"/a ANY"}, "PROPFIND", "/a", found(0)},
		{"unknown method 405", []string{"/a GET"}, "PROPFIND", "/a", want{res: MethodNotAllowed, id: -1, allow: "GET, HEAD"}},
		{"methods are case-sensitive", []string{"/a GET"}, "get", "/a", want{res: MethodNotAllowed, id: -1, allow: "GET, HEAD"}},
		{"HEAD served by GET", []string{"/a GET"}, "HEAD", "/a/b", want{res: Found, id: 0, rest: "/b"}},
		{"HEAD route beats stronger GET", []string{"=/a GET", "/a HEAD"}, "HEAD", "/a", found(1)},
		{"HEAD by ANY before GET", []string{"=/a GET", "/ ANY"}, "HEAD", "/a", want{res: Found, id: 1, rest: "/a"}},
		{"HEAD fallback strongest GET", []string{"/ GET", "=/a GET", "/a POST"}, "HEAD", "/a", found(1)},
		{"GET not served by HEAD", []string{"/a HEAD"}, "GET", "/a", want{res: MethodNotAllowed, id: -1, allow: "HEAD"}},
		{"405 union", []string{"=/a POST", "/{x} PUT", "/ GET", "^~/b DELETE"}, "PATCH", "/a", want{res: MethodNotAllowed, id: -1, allow: "GET, HEAD, POST, PUT"}},
		{"ANY does not widen the path", []string{"/a ANY"}, "TRACE", "/b", want{res: NotFound, id: -1}},
		{"first of same shape wins", []string{"/a/{x} GET", "/a/{y} GET"}, "GET", "/a/1", want{res: Found, id: 0, params: []string{"1"}}},
		{"first of same shape wins over ANY", []string{"/a ANY", "/a GET"}, "GET", "/a", found(0)},
		{"GET before ANY of same shape", []string{"/a GET", "/a ANY"}, "GET", "/a", found(0)},
		{"ANY after GET serves the rest", []string{"/a GET", "/a ANY"}, "PUT", "/a", found(1)},

		// Nothing.
		{"empty table", nil, "GET", "/", want{res: NotFound, id: -1}},
		{"empty path", []string{"^~/ GET", "/{x} GET", "=/ GET"}, "GET", "", want{res: NotFound, id: -1}},
		{"no match", []string{"/a GET", "=/b GET", "^~/c GET", "/d/{x} GET"}, "GET", "/e", want{res: NotFound, id: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, tab := table(tt.routes...)
			m := Match{Rest: "stale", Allow: "stale", NParams: 3, ID: 99}
			res := tab.Lookup(tt.method, tt.path, &m)
			got := want{res: res, id: m.ID, rest: m.Rest, params: params(tt.path, &m), allow: m.Allow}
			if got.res != tt.want.res || got.id != tt.want.id || got.rest != tt.want.rest ||
				!slices.Equal(got.params, tt.want.params) || got.allow != tt.want.allow {
				t.Errorf("Lookup(%q, %q) = %+v, want %+v", tt.method, tt.path, got, tt.want)
			}
			checkAgainstRef(t, tab, routes, tt.method, tt.path)
		})
	}
}

func TestJoinRest(t *testing.T) {
	tests := []struct{ base, rest, want string }{
		{"/", "", "/"},
		{"/api", "", "/api"},
		{"/", "/a/b", "/a/b"},
		{"/api", "/7", "/api/7"},
		{"/api/", "/7", "/api/7"},
		{"/api", "7", "/api/7"},
		{"/api/", "7", "/api/7"},
		{"/api", "/", "/api/"},
		{"/api", "//x", "/api//x"}, // the request's own empty segment stays
	}
	for _, tt := range tests {
		t.Run(tt.base+"+"+tt.rest, func(t *testing.T) {
			if got := JoinRest(tt.base, tt.rest); got != tt.want {
				t.Errorf("JoinRest(%q, %q) = %q, want %q", tt.base, tt.rest, got, tt.want)
			}
		})
	}
}

func TestLen(t *testing.T) {
	_, tab := table("/a GET", "/a GET", "=/b ANY")
	if tab.Len() != 3 {
		t.Errorf("Len() = %d, want 3", tab.Len())
	}
}

func TestNewPanics(t *testing.T) {
	tests := []struct {
		name  string
		route Route
	}{
		{"unknown method", Route{Pattern: config.PathPattern{Kind: config.PathPlain, Path: "/"}, Method: "TRACE"}},
		{"unknown kind", Route{Pattern: config.PathPattern{Kind: 9, Path: "/"}, Method: "GET"}},
		{"too many params", Route{Pattern: config.PathPattern{Kind: config.PathParam, Path: "/...",
			Segments: slices.Repeat([]config.Segment{{Param: "p"}}, config.MaxPathParams+1)}, Method: "GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New([]Route{tt.route})
		})
	}
}

// TestManyLiterals crosses the point where a trie node switches from a slice
// of literal children to a map.
func TestManyLiterals(t *testing.T) {
	var specs []string
	for i := range 3 * smallLits {
		specs = append(specs, fmt.Sprintf("/s%d/{id} GET", i), fmt.Sprintf("/s%d/x/{id} POST", i))
	}
	routes, tab := table(specs...)
	for i := range 3 * smallLits {
		for _, path := range []string{fmt.Sprintf("/s%d/7", i), fmt.Sprintf("/s%d/x/7", i), fmt.Sprintf("/s%d/y/7", i)} {
			for _, method := range []string{"GET", "POST", "HEAD"} {
				checkAgainstRef(t, tab, routes, method, path)
			}
		}
	}
}

func TestMaxParams(t *testing.T) {
	var pat, path strings.Builder
	for i := range config.MaxPathParams {
		fmt.Fprintf(&pat, "/{p%d}", i)
		fmt.Fprintf(&path, "/v%d", i)
	}
	routes, tab := table(pat.String() + " GET")
	var m Match
	if res := tab.Lookup("GET", path.String(), &m); res != Found || m.NParams != config.MaxPathParams {
		t.Fatalf("Lookup = %v with %d params, want Found with %d", res, m.NParams, config.MaxPathParams)
	}
	if got := m.Param(path.String(), config.MaxPathParams-1); got != fmt.Sprintf("v%d", config.MaxPathParams-1) {
		t.Errorf("last param = %q", got)
	}
	checkAgainstRef(t, tab, routes, "GET", path.String()+"/more")
}

func TestAllowText(t *testing.T) {
	if got, want := allowText[allKnown], "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"; got != want {
		t.Errorf("allowText[all] = %q, want %q", got, want)
	}
	if allowText[0] != "" {
		t.Errorf("allowText[0] = %q, want empty", allowText[0])
	}
}

// TestLookupNoAlloc holds the hot path to its promise: no allocation, for
// every result, including 405 (whose Allow is precomputed).
func TestLookupNoAlloc(t *testing.T) {
	tab := benchTable(1000)
	k := 1000 / 4 / 2
	for _, c := range benchCases(k) {
		t.Run(c.name, func(t *testing.T) {
			var m Match
			if got := tab.Lookup(c.method, c.path, &m); got != c.want {
				t.Fatalf("Lookup(%q, %q) = %v, want %v", c.method, c.path, got, c.want)
			}
			allocs := testing.AllocsPerRun(100, func() { tab.Lookup(c.method, c.path, &m) })
			if allocs != 0 {
				t.Errorf("Lookup(%q, %q) allocates %v times", c.method, c.path, allocs)
			}
		})
	}
}

// TestConcurrentLookup lets the race detector see many readers of one table.
func TestConcurrentLookup(t *testing.T) {
	tab := benchTable(100)
	cases := benchCases(12)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			var m Match
			for i := 0; i < 200; i++ {
				c := cases[i%len(cases)]
				if got := tab.Lookup(c.method, c.path, &m); got != c.want {
					t.Errorf("Lookup(%q, %q) = %v, want %v", c.method, c.path, got, c.want)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
