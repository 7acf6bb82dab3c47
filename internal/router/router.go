// Package router finds the API that serves a request among the APIs of one
// (host, environment). A Table is built once per snapshot, is immutable
// afterwards, and Lookup neither allocates nor locks, so any number of
// goroutines may share one Table.
//
// # Matching (SPEC 2.3)
//
// A frontend path is one of four kinds, strongest first:
//
//   - exact, "=/user": the path /user and nothing else;
//   - prefix, "^~/user": every path that starts with the string /user, as in
//     nginx, with no segment boundary needed (/user, /user/7, /username);
//   - param, "/user/{id}": the whole path, segment by segment, where a
//     parameter matches exactly one non-empty segment;
//   - plain, "/user": /user and anything below it at a segment boundary
//     (/user/7, not /username); plain "/" matches every path.
//
// All patterns that match the path are candidates, ordered by kind and then,
// within a kind:
//
//   - prefix and plain: the longest pattern first;
//   - param: all matching param patterns have as many segments as the path, so
//     length cannot tell them apart; instead the first segment where two
//     patterns differ decides, and a literal beats a parameter there. This is
//     the order of a depth-first walk of the segment trie that tries the
//     literal child before the parameter child, so /a/{x} beats /{y}/b for
//     /a/b, and /a/b/{z} beats /a/{x}/c for /a/b/c.
//
// The first candidate that allows the method serves; a route with method ANY
// allows every method, including ones outside the seven that an API may name.
// A HEAD request that no candidate allows is served by the first candidate that
// allows GET. If some candidate matched but none allows the method, Lookup
// answers MethodNotAllowed and Match.Allow lists the methods the candidates
// allow; otherwise NotFound.
//
// Two routes with the same shape (config.PathPattern.Shape) and an
// overlapping method are a configuration conflict that callers reject before
// building; should they get here anyway, the first in the input wins.
//
// # Paths
//
// Matching is byte for byte and case-sensitive: Lookup neither decodes nor
// cleans the path, so the caller decides whether it matches on the escaped or
// the decoded form, and removes the environment prefix (SPEC 2.5) before.
// Paths are expected to start with "/"; pass "/" for an empty path.
//
// # Rest
//
// Match.Rest is the part of the path below a prefix or plain match, to be
// appended to backend.path with exactly one "/" between (JoinRest does so).
// For a prefix match it is path[len(prefix):], which may or may not start
// with "/" (^~/img on /img42 gives "42"). For a plain match it is empty when
// the path equals the pattern and otherwise starts with the "/" at the segment
// boundary: pattern /user on /user/7/x gives "/7/x", pattern /user/ on
// /user/7 gives "/7", and pattern / on /a/b gives the whole path "/a/b".
// Exact and param matches have no Rest.
package router

import (
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// Route is one API as the router sees it.
type Route struct {
	Pattern config.PathPattern // already parsed and validated
	Method  string             // "GET" ... "OPTIONS", or "ANY"
	ID      int                // returned on match (the caller's index)
}

// Result says how a lookup ended; each value maps to one response: serve,
// 404, or 405 with Allow.
type Result uint8

// Lookup results. NotFound is the zero value so that a Match that was never
// looked up does not claim a route.
const (
	NotFound Result = iota
	Found
	MethodNotAllowed
)

// String names the result for logs and test failures.
func (r Result) String() string {
	switch r {
	case Found:
		return "Found"
	case MethodNotAllowed:
		return "MethodNotAllowed"
	default:
		return "NotFound"
	}
}

// Span is a part of the looked-up path as byte offsets, path[Start:End]:
// offsets rather than strings keep Match free of pointers the caller may not
// want to retain, and make copying a Match cheap.
type Span struct{ Start, End int }

// Match is filled by Lookup. Callers keep one per request (or in a pool) so
// that lookups do not allocate.
type Match struct {
	// ID is the Route.ID of the route that serves, or -1 when none does.
	ID int
	// Params are the parameter values in pattern order; only Params[:NParams]
	// are meaningful, the rest may hold stale spans from backtracking.
	Params  [config.MaxPathParams]Span
	NParams int
	// Rest is the part of the path below a prefix or plain match (see the
	// package doc); a substring of the path, not a copy.
	Rest string
	// Allow is set for MethodNotAllowed, e.g. "GET, HEAD, POST": sorted and
	// deduplicated, ready for the Allow header.
	Allow string
}

// Param returns the value of the i-th parameter in path, which must be the
// path given to Lookup.
func (m *Match) Param(path string, i int) string {
	s := m.Params[i]
	return path[s.Start:s.End]
}

// Table is the routing table of one (host, environment).
type Table struct {
	exact  map[string]*leaf
	prefix *rnode // nil when there are no prefix routes
	param  *pnode // nil when there are no param routes
	plain  *rnode // nil when there are no plain routes
	n      int
}

// Len returns the number of routes the table was built from.
func (t *Table) Len() int { return t.n }

// Lookup finds the route that serves method and path and fills m. It does not
// allocate and is safe for concurrent use.
func (t *Table) Lookup(method, path string, m *Match) Result {
	m.ID, m.NParams, m.Rest, m.Allow = -1, 0, "", ""
	w := walker{t: t, m: m, path: path}
	mi := methodIndex(method)
	if w.find(mi) {
		return Found
	}
	if !w.matched {
		return NotFound
	}
	union := w.union
	// A weaker candidate that allows HEAD has already had its chance; only
	// now may a GET route answer HEAD.
	if mi == mHEAD && union&(1<<mGET) != 0 && w.find(mGET) {
		return Found
	}
	if union&(1<<mGET) != 0 {
		union |= 1 << mHEAD
	}
	m.Allow = allowText[union&allKnown]
	return MethodNotAllowed
}

// JoinRest appends a Match.Rest to a backend path with exactly one "/"
// between, as SPEC 2.3 asks: JoinRest("/api/", "/7") and JoinRest("/api",
// "7") are both "/api/7". An empty rest leaves base as it is.
func JoinRest(base, rest string) string {
	if rest == "" {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(rest, "/")
}

// walker is the state of one lookup pass; it lives on the caller's stack.
type walker struct {
	t       *Table
	m       *Match
	path    string
	want    uint8 // bit of the method being looked for
	mi      int
	union   uint8 // methods allowed by any candidate seen, for Allow
	matched bool  // some candidate matched the path
}

// find walks the candidates strongest first and stops at the first one that
// allows method index mi.
func (w *walker) find(mi int) bool {
	w.mi, w.want = mi, 1<<mi
	t, path := w.t, w.path
	if l := t.exact[path]; l != nil && w.visit(l, "", 0) {
		return true
	}
	if t.prefix != nil && w.prefixWalk(t.prefix, 0) {
		return true
	}
	if t.param != nil && len(path) > 0 && path[0] == '/' && w.paramWalk(t.param, 1, 0) {
		return true
	}
	return t.plain != nil && w.plainWalk(t.plain, 0)
}

// visit offers one candidate; it records what the candidate allows (for a
// later 405) and serves it when it allows the method looked for.
func (w *walker) visit(l *leaf, rest string, nparams int) bool {
	w.matched = true
	w.union |= l.mask
	if l.mask&w.want == 0 {
		return false
	}
	w.m.ID, w.m.Rest, w.m.NParams = l.ids[w.mi], rest, nparams
	return true
}

// prefixWalk descends the radix tree along the path and offers the keys it
// passes on the way back up, so that the longest prefix comes first. n's key
// is path[:d].
func (w *walker) prefixWalk(n *rnode, d int) bool {
	if c := n.next(w.path, d); c != nil && w.prefixWalk(c, d+len(c.label)) {
		return true
	}
	return n.leaf != nil && w.visit(n.leaf, w.path[d:], 0)
}

// plainWalk is prefixWalk with the segment-boundary condition of plain
// patterns.
func (w *walker) plainWalk(n *rnode, d int) bool {
	path := w.path
	if c := n.next(path, d); c != nil && w.plainWalk(c, d+len(c.label)) {
		return true
	}
	if n.leaf == nil || d == 0 {
		return false
	}
	switch {
	case d == len(path):
		return w.visit(n.leaf, "", 0)
	case path[d-1] == '/': // the pattern ends with "/", e.g. "/" itself
		return w.visit(n.leaf, path[d-1:], 0)
	case path[d] == '/':
		return w.visit(n.leaf, path[d:], 0)
	}
	return false
}

// paramWalk matches the segment that starts at path[start] against n's
// children, literal first, and backtracks to the parameter child when the
// literal branch yields nothing. start == len(path)+1 means the whole path is
// consumed; depth is the number of parameters captured so far. The path fixes
// the segment at each depth, so every trie node is entered at most once per
// pass: backtracking costs at most the size of the trie, never more.
func (w *walker) paramWalk(n *pnode, start, depth int) bool {
	path := w.path
	if start > len(path) {
		return n.leaf != nil && w.visit(n.leaf, "", depth)
	}
	end := len(path)
	if i := strings.IndexByte(path[start:], '/'); i >= 0 {
		end = start + i
	}
	seg := path[start:end]
	if c := n.child(seg); c != nil && w.paramWalk(c, end+1, depth) {
		return true
	}
	if n.param != nil && end > start {
		w.m.Params[depth] = Span{start, end}
		return w.paramWalk(n.param, end+1, depth+1)
	}
	return false
}
