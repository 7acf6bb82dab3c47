package router

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/portico-gw/portico/internal/config"
)

// refLookup is the matching rules of SPEC 2.3 written the slow, obvious way:
// test every route, sort the candidates, take the first that allows the
// method. Table.Lookup must agree with it on every input.
func refLookup(routes []Route, method, path string) (Result, Match) {
	type cand struct {
		r      Route
		rest   string
		params []Span
	}
	var cands []cand
	for _, r := range routes {
		if rest, params, ok := refMatch(r.Pattern, path); ok {
			cands = append(cands, cand{r, rest, params})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		pa, pb := a.r.Pattern, b.r.Pattern
		if pa.Kind != pb.Kind {
			return int(pa.Kind) - int(pb.Kind)
		}
		if pa.Kind == config.PathParam {
			// Both match the same path, so they have as many segments, and
			// where both are literals they are equal: the first position
			// where one is a parameter and the other is not decides.
			for i := range pa.Segments {
				ap, bp := pa.Segments[i].Param != "", pb.Segments[i].Param != ""
				if ap != bp {
					if ap {
						return 1
					}
					return -1
				}
			}
			return 0
		}
		return len(pb.Path) - len(pa.Path)
	})
	allows := func(r Route, m string) bool { return r.Method == m || r.Method == config.MethodAny }
	found := func(c cand) (Result, Match) {
		m := Match{ID: c.r.ID, Rest: c.rest, NParams: len(c.params)}
		copy(m.Params[:], c.params)
		return Found, m
	}
	for _, c := range cands {
		if allows(c.r, method) {
			return found(c)
		}
	}
	if method == "HEAD" {
		for _, c := range cands {
			if allows(c.r, "GET") {
				return found(c)
			}
		}
	}
	if len(cands) == 0 {
		return NotFound, Match{ID: -1}
	}
	set := map[string]bool{}
	for _, c := range cands {
		switch c.r.Method {
		case config.MethodAny:
			for _, m := range config.Methods {
				set[m] = true
			}
		case "GET":
			set["GET"], set["HEAD"] = true, true
		default:
			set[c.r.Method] = true
		}
	}
	var names []string
	for m := range set {
		names = append(names, m)
	}
	slices.Sort(names)
	return MethodNotAllowed, Match{ID: -1, Allow: strings.Join(names, ", ")}
}

func refMatch(p config.PathPattern, path string) (rest string, params []Span, ok bool) {
	switch p.Kind {
	case config.PathExact:
		return "", nil, path == p.Path
	case config.PathPrefix:
		if strings.HasPrefix(path, p.Path) {
			return path[len(p.Path):], nil, true
		}
	case config.PathPlain:
		switch {
		case path == p.Path:
			return "", nil, true
		case !strings.HasPrefix(path, p.Path):
		case strings.HasSuffix(p.Path, "/"):
			return path[len(p.Path)-1:], nil, true
		case path[len(p.Path)] == '/':
			return path[len(p.Path):], nil, true
		}
	case config.PathParam:
		if !strings.HasPrefix(path, "/") {
			return "", nil, false
		}
		segs := strings.Split(path[1:], "/")
		if len(segs) != len(p.Segments) {
			return "", nil, false
		}
		start := 1
		for i, s := range p.Segments {
			seg := segs[i]
			switch {
			case s.Param == "" && seg != s.Literal, s.Param != "" && seg == "":
				return "", nil, false
			case s.Param != "":
				params = append(params, Span{start, start + len(seg)})
			}
			start += len(seg) + 1
		}
		return "", params, true
	}
	return "", nil, false
}

// checkAgainstRef looks path up in both the table and the reference and
// reports any difference, and any Span or Rest that is not inside path.
func checkAgainstRef(t *testing.T, tab *Table, routes []Route, method, path string) {
	t.Helper()
	var got Match
	res := tab.Lookup(method, path, &got)
	wantRes, want := refLookup(routes, method, path)
	if res != wantRes || got.ID != want.ID || got.Rest != want.Rest || got.Allow != want.Allow || got.NParams != want.NParams ||
		!slices.Equal(got.Params[:got.NParams], want.Params[:want.NParams]) {
		t.Fatalf("Lookup(%q, %q) with routes\n%s\n= %v %+v\nwant %v %+v", method, path, dumpRoutes(routes), res, got, wantRes, want)
	}
	checkInside(t, path, &got)
}

// checkInside fails unless every span and Rest of m lies within path.
func checkInside(t *testing.T, path string, m *Match) {
	t.Helper()
	if m.NParams < 0 || m.NParams > config.MaxPathParams {
		t.Fatalf("NParams = %d", m.NParams)
	}
	for _, s := range m.Params[:m.NParams] {
		if s.Start < 0 || s.Start > s.End || s.End > len(path) {
			t.Fatalf("span %+v outside path %q", s, path)
		}
	}
	if m.Rest != "" {
		base := uintptr(unsafe.Pointer(unsafe.StringData(path)))
		p := uintptr(unsafe.Pointer(unsafe.StringData(m.Rest)))
		if p < base || p+uintptr(len(m.Rest)) != base+uintptr(len(path)) {
			t.Fatalf("Rest %q is not a suffix of path %q in memory", m.Rest, path)
		}
	}
}

func dumpRoutes(routes []Route) string {
	var b strings.Builder
	for _, r := range routes {
		b.WriteString("  ")
		b.WriteString(patternString(r.Pattern))
		b.WriteString(" ")
		b.WriteString(r.Method)
		b.WriteString("\n")
	}
	return b.String()
}

// patternString gives back the frontend path a pattern was parsed from.
func patternString(p config.PathPattern) string {
	switch p.Kind {
	case config.PathExact:
		return "=" + p.Path
	case config.PathPrefix:
		return "^~" + p.Path
	}
	return p.Path
}

// TestAgainstReference checks Lookup against refLookup on many random tables
// built from a small alphabet, so that patterns overlap in every way the
// rules care about: same shape, nested prefixes, literals against parameters.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "ab", "ba", "a.b"}
	methods := append([]string{config.MethodAny, config.MethodAny}, config.Methods...)
	reqMethods := append([]string{"TRACE", "get"}, config.Methods...)
	randPath := func(maxSegs int, params bool) string {
		n := rng.IntN(maxSegs) + 1
		var b strings.Builder
		pi := 0
		for i := 0; i < n; i++ {
			b.WriteByte('/')
			if params && rng.IntN(3) == 0 {
				b.WriteString("{p" + string(rune('a'+pi)) + "}")
				pi++
				continue
			}
			if i == n-1 && rng.IntN(5) == 0 {
				continue // trailing slash
			}
			b.WriteString(segs[rng.IntN(len(segs))])
		}
		return b.String()
	}
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	for it := 0; it < iters; it++ {
		var routes []Route
		for i, n := 0, rng.IntN(12)+1; i < n; i++ {
			var s string
			switch rng.IntN(5) {
			case 0:
				s = "=" + randPath(3, false)
			case 1:
				s = "^~" + randPath(3, false)
				if rng.IntN(3) == 0 {
					s = s[:len(s)-1] // a prefix that ends inside a segment
				}
			case 2, 3:
				s = randPath(4, true)
			default:
				s = randPath(3, false)
			}
			if rng.IntN(20) == 0 {
				s = "/"
			}
			p, err := config.ParsePath(s)
			if err != nil {
				continue
			}
			routes = append(routes, Route{Pattern: p, Method: methods[rng.IntN(len(methods))], ID: i})
		}
		tab := New(routes)
		for j := 0; j < 30; j++ {
			path := randPath(4, false)
			if rng.IntN(10) == 0 {
				path += "/" // empty segments
			}
			checkAgainstRef(t, tab, routes, reqMethods[rng.IntN(len(reqMethods))], path)
		}
	}
}
