package e2e

// The case generator of the differential fuzzer (difffuzz_test.go): a corpus
// of valid HTTP/1.1 requests kept as tokens, and structural mutations applied
// at token boundaries. Everything here is deterministic from a seed and does
// no I/O. docs/differential-fuzzing.md describes it.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// diffKind is what a token of a generated request is.
type diffKind uint8

const (
	diffKMethod  diffKind = iota // request method
	diffKSP                      // a separator of the request line
	diffKTarget                  // request-target
	diffKVersion                 // HTTP-version
	diffKEOL                     // end of a line of the head or of the trailer section
	diffKName                    // field name (head or trailer)
	diffKColon                   // ":" and the whitespace after it
	diffKValue                   // field value
	diffKEnd                     // the empty line that ends a head or a trailer section
	diffKBody                    // Content-Length framed body bytes
	diffKSize                    // chunk-size, extensions included
	diffKCEOL                    // CRLF after a chunk-size line or after chunk data
	diffKData                    // chunk data
	diffKJunk                    // bytes inserted by a mutation
)

// Sections of a request a token belongs to.
const (
	diffSecHead uint8 = iota
	diffSecBody
	diffSecTrailer
)

// diffTok is one token; req is the index of the request in a pipelined case.
type diffTok struct {
	k   diffKind
	s   string
	req int
	sec uint8
}

// diffCase is one generated input: the tokens, their bytes and how they were
// made.
type diffCase struct {
	name string   // corpus entry
	muts []string // mutations applied, in order
	toks []diffTok
}

func (c *diffCase) bytes() []byte {
	var b bytes.Buffer
	for _, t := range c.toks {
		b.WriteString(t.s)
	}
	return b.Bytes()
}

func (c *diffCase) String() string {
	if len(c.muts) == 0 {
		return c.name
	}
	return c.name + " + " + strings.Join(c.muts, " + ")
}

// diffSpec is a valid request of the corpus.
type diffSpec struct {
	method, target, version string
	fields                  [][2]string // without the framing field, which is added
	body                    string      // Content-Length body when not chunked
	chunked                 bool
	chunks                  []string
	exts                    []string // chunk extension per chunk ("" for none)
	trailers                [][2]string
	noLength                bool // no Content-Length even with an empty body
}

// toks renders the spec as tokens of request number req.
func (s diffSpec) toks(req int) []diffTok {
	var ts []diffTok
	add := func(k diffKind, v string, sec uint8) { ts = append(ts, diffTok{k: k, s: v, req: req, sec: sec}) }
	add(diffKMethod, s.method, diffSecHead)
	add(diffKSP, " ", diffSecHead)
	add(diffKTarget, s.target, diffSecHead)
	add(diffKSP, " ", diffSecHead)
	add(diffKVersion, s.version, diffSecHead)
	add(diffKEOL, "\r\n", diffSecHead)
	fields := append([][2]string(nil), s.fields...)
	switch {
	case s.chunked:
		fields = append(fields, [2]string{"Transfer-Encoding", "chunked"})
	case s.body != "" || !s.noLength && (s.method == "POST" || s.method == "PUT" || s.method == "PATCH"):
		fields = append(fields, [2]string{"Content-Length", strconv.Itoa(len(s.body))})
	}
	for _, f := range fields {
		add(diffKName, f[0], diffSecHead)
		add(diffKColon, ": ", diffSecHead)
		add(diffKValue, f[1], diffSecHead)
		add(diffKEOL, "\r\n", diffSecHead)
	}
	add(diffKEnd, "\r\n", diffSecHead)
	if !s.chunked {
		if s.body != "" {
			add(diffKBody, s.body, diffSecBody)
		}
		return ts
	}
	for i, c := range s.chunks {
		size := strconv.FormatInt(int64(len(c)), 16)
		if i < len(s.exts) && s.exts[i] != "" {
			size += ";" + s.exts[i]
		}
		add(diffKSize, size, diffSecBody)
		add(diffKCEOL, "\r\n", diffSecBody)
		add(diffKData, c, diffSecBody)
		add(diffKCEOL, "\r\n", diffSecBody)
	}
	add(diffKSize, "0", diffSecBody)
	add(diffKCEOL, "\r\n", diffSecBody)
	for _, f := range s.trailers {
		add(diffKName, f[0], diffSecTrailer)
		add(diffKColon, ": ", diffSecTrailer)
		add(diffKValue, f[1], diffSecTrailer)
		add(diffKEOL, "\r\n", diffSecTrailer)
	}
	add(diffKEnd, "\r\n", diffSecTrailer)
	return ts
}

const diffMultipartBody = "--XyZb0undary\r\n" +
	"Content-Disposition: form-data; name=\"field\"\r\n\r\n" +
	"value 1\r\n" +
	"--XyZb0undary\r\n" +
	"Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n" +
	"Content-Type: text/plain\r\n\r\n" +
	"line one\r\nline two\n\x00\x01binary\r\n" +
	"--XyZb0undary--\r\n"

// diffCorpusEntry is a named valid case: one request or a pipelined series.
type diffCorpusEntry struct {
	name string
	reqs []diffSpec
}

// diffCorpus is the list of valid requests every generated case starts from.
// Paths avoid /test, /prepub and /release, which Portico reads as
// environments.
func diffCorpus() []diffCorpusEntry {
	host := [2]string{"Host", "example.com"}
	get := diffSpec{method: "GET", target: "/api/items?id=7&q=a%20b", version: "HTTP/1.1",
		fields: [][2]string{host, {"User-Agent", "difffuzz/1"}, {"Accept", "*/*"}}}
	post := diffSpec{method: "POST", target: "/api/orders", version: "HTTP/1.1",
		fields: [][2]string{host, {"Content-Type", "application/json"}},
		body:   `{"item":42,"qty":3}`}
	return []diffCorpusEntry{
		{"get", []diffSpec{get}},
		{"post-cl", []diffSpec{post}},
		{"post-chunked-trailers", []diffSpec{{method: "POST", target: "/upload/part", version: "HTTP/1.1",
			fields:   [][2]string{host, {"Content-Type", "text/plain"}, {"Trailer", "X-Checksum"}},
			chunked:  true,
			chunks:   []string{"hello ", "chunked\r\nworld", "!"},
			trailers: [][2]string{{"X-Checksum", "abc123"}}}}},
		{"patch-chunked-ext", []diffSpec{{method: "PATCH", target: "/api/items/7", version: "HTTP/1.1",
			fields:  [][2]string{host, {"Content-Type", "application/merge-patch+json"}},
			chunked: true,
			chunks:  []string{`{"qty":`, `4}`},
			exts:    []string{"name=value", ""}}}},
		{"head", []diffSpec{{method: "HEAD", target: "/api/items", version: "HTTP/1.1",
			fields: [][2]string{host, {"Accept", "application/json"}}}}},
		{"pipelined-get-post", []diffSpec{get, post}},
		{"pipelined-post-get", []diffSpec{post, {method: "GET", target: "/second", version: "HTTP/1.1",
			fields: [][2]string{host}}}},
		{"http10", []diffSpec{{method: "GET", target: "/legacy/page", version: "HTTP/1.0",
			fields: [][2]string{host, {"Accept", "text/html"}}}}},
		{"http10-post-keepalive", []diffSpec{{method: "POST", target: "/legacy/form", version: "HTTP/1.0",
			fields: [][2]string{host, {"Connection", "keep-alive"}, {"Content-Type", "application/x-www-form-urlencoded"}},
			body:   "a=1&b=two"}}},
		{"absolute-form", []diffSpec{{method: "GET", target: "http://example.com/abs/path?x=1", version: "HTTP/1.1",
			fields: [][2]string{host}}}},
		{"expect-continue", []diffSpec{{method: "PUT", target: "/api/blob/9", version: "HTTP/1.1",
			fields: [][2]string{host, {"Expect", "100-continue"}, {"Content-Type", "application/octet-stream"}},
			body:   "0123456789abcdef"}}},
		{"multipart", []diffSpec{{method: "POST", target: "/form/upload", version: "HTTP/1.1",
			fields: [][2]string{host, {"Content-Type", "multipart/form-data; boundary=XyZb0undary"}},
			body:   diffMultipartBody}}},
		{"hop-by-hop", []diffSpec{{method: "DELETE", target: "/api/items/7", version: "HTTP/1.1",
			fields: [][2]string{host, {"Connection", "keep-alive, X-Hop"}, {"X-Hop", "drop me"},
				{"Keep-Alive", "timeout=5"}, {"TE", "trailers"}, {"X-Keep", "keep me"}}}}},
		{"repeated-fields", []diffSpec{{method: "GET", target: "/multi", version: "HTTP/1.1",
			fields: [][2]string{host, {"Accept", "text/html"}, {"Cookie", "a=1"}, {"Accept", "application/json"},
				{"X-Empty", ""}, {"X-Spaces", "a  b\tc"}}}}},
		{"options-close", []diffSpec{{method: "OPTIONS", target: "/api/items", version: "HTTP/1.1",
			fields: [][2]string{host, {"Connection", "close"}, {"Origin", "http://example.org"}}}}},
		{"post-empty", []diffSpec{{method: "POST", target: "/api/ping", version: "HTTP/1.1",
			fields: [][2]string{host}}}},
	}
}

// diffBase returns the unmutated case of corpus entry e.
func diffBase(e diffCorpusEntry) *diffCase {
	c := &diffCase{name: e.name}
	for i, s := range e.reqs {
		c.toks = append(c.toks, s.toks(i)...)
	}
	return c
}

// diffGenerate makes case number i of the run with the given seed: case i
// of a run is the same on every machine. The first len(corpus) cases are the
// corpus itself, unmutated.
func diffGenerate(seed uint64, i int) *diffCase {
	corpus := diffCorpus()
	if i < len(corpus) {
		return diffBase(corpus[i])
	}
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	c := diffBase(corpus[r.IntN(len(corpus))])
	n := 1
	switch x := r.IntN(10); {
	case x >= 9:
		n = 3
	case x >= 6:
		n = 2
	}
	for j := 0; j < n; j++ {
		diffMutate(r, c)
	}
	return c
}

// diffMutation changes c in place and returns a short description, or ""
// when it does not apply to c.
type diffMutation func(r *rand.Rand, c *diffCase) string

var diffMutations = []struct {
	name string
	fn   diffMutation
}{
	{"insert-byte", diffMutInsertByte},
	{"replace-separator", diffMutSeparator},
	{"obs-fold", diffMutObsFold},
	{"duplicate-field", diffMutDupField},
	{"drop-field", diffMutDropField},
	{"add-field", diffMutAddField},
	{"case", diffMutCase},
	{"content-length", diffMutContentLength},
	{"chunk", diffMutChunk},
	{"version", diffMutVersion},
	{"request-line", diffMutRequestLine},
	{"absolute-form", diffMutAbsolute},
	{"append-request", diffMutAppend},
	{"smuggle-body", diffMutSmuggleBody},
	{"method", diffMutMethod},
	{"target", diffMutTarget},
	{"host", diffMutHost},
	{"body-length", diffMutBodyLength},
}

// diffMutate applies one mutation that changes c, trying a few.
func diffMutate(r *rand.Rand, c *diffCase) {
	for try := 0; try < 8; try++ {
		m := diffMutations[r.IntN(len(diffMutations))]
		if d := m.fn(r, c); d != "" {
			c.muts = append(c.muts, m.name+"("+d+")")
			return
		}
	}
}

func diffPick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// diffFind returns the indexes of the tokens for which keep is true.
func diffFind(c *diffCase, keep func(t diffTok) bool) []int {
	var out []int
	for i, t := range c.toks {
		if keep(t) {
			out = append(out, i)
		}
	}
	return out
}

func (c *diffCase) insert(at int, ts ...diffTok) {
	c.toks = append(c.toks[:at], append(append([]diffTok(nil), ts...), c.toks[at:]...)...)
}

func (c *diffCase) remove(from, to int) {
	c.toks = append(c.toks[:from], c.toks[to:]...)
}

// fieldLines returns the start index of each field line (a name token
// followed by colon, value and EOL) in section sec ("any" when sec > 2),
// optionally only those named name (case-insensitive).
func (c *diffCase) fieldLines(sec uint8, name string) []int {
	var out []int
	for i := 0; i+3 < len(c.toks); i++ {
		t := c.toks[i]
		if t.k != diffKName || (sec <= diffSecTrailer && t.sec != sec) {
			continue
		}
		if c.toks[i+1].k != diffKColon || c.toks[i+2].k != diffKValue || c.toks[i+3].k != diffKEOL {
			continue
		}
		if name != "" && !strings.EqualFold(strings.TrimSpace(t.s), name) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// endOfHead is the index of the end-of-head token of request req.
func (c *diffCase) endOfHead(req int) int {
	for i, t := range c.toks {
		if t.k == diffKEnd && t.req == req && t.sec == diffSecHead {
			return i
		}
	}
	return -1
}

func (c *diffCase) requests() int {
	if len(c.toks) == 0 {
		return 0
	}
	return c.toks[len(c.toks)-1].req + 1
}

func diffField(req int, sec uint8, name, value string) []diffTok {
	return []diffTok{
		{k: diffKName, s: name, req: req, sec: sec},
		{k: diffKColon, s: ": ", req: req, sec: sec},
		{k: diffKValue, s: value, req: req, sec: sec},
		{k: diffKEOL, s: "\r\n", req: req, sec: sec},
	}
}

var diffSpecialBytes = []string{" ", "\t", "\r", "\n", "\x00", "\r\n", "\r\n ", "\x0b", "\x0c", "\x7f",
	"\x80", "\xff", ",", ";", ":", "\"", "\\", "=", "\r\n\r\n"}

// diffMutInsertByte inserts a special byte sequence at a token boundary.
func diffMutInsertByte(r *rand.Rand, c *diffCase) string {
	at := r.IntN(len(c.toks) + 1)
	s := diffPick(r, diffSpecialBytes)
	ref := c.toks[min(at, len(c.toks)-1)]
	c.insert(at, diffTok{k: diffKJunk, s: s, req: ref.req, sec: ref.sec})
	return fmt.Sprintf("%q@%d", s, at)
}

// diffMutSeparator replaces a separator token with a variant of its kind.
func diffMutSeparator(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool {
		switch t.k {
		case diffKSP, diffKColon, diffKEOL, diffKEnd, diffKCEOL:
			return true
		}
		return false
	})
	if len(idx) == 0 {
		return ""
	}
	i := diffPick(r, idx)
	var variants []string
	switch c.toks[i].k {
	case diffKSP:
		variants = []string{"", "  ", "\t", " \t", "\r", "\x00", "\x0b", "\x0c", "\n", "\xa0"}
	case diffKColon:
		variants = []string{":", ":  ", ":\t", "\t:", " :", " : ", ":\r\n ", "::", ": \x00", ":\x0b", "="}
	case diffKEOL, diffKEnd:
		variants = []string{"\n", "\r", "\r\r\n", "\n\r", "\r\n\r\n", "", " \r\n", "\t\r\n", "\x00\r\n"}
	case diffKCEOL:
		variants = []string{"\n", "\r", "", "\r\r\n", " \r\n", "\r\n\r\n", "\n\n"}
	}
	old := c.toks[i].s
	c.toks[i].s = diffPick(r, variants)
	return fmt.Sprintf("%q->%q@%d", old, c.toks[i].s, i)
}

// diffMutObsFold folds a field value onto a continuation line, or adds a
// continuation line after a field.
func diffMutObsFold(r *rand.Rand, c *diffCase) string {
	lines := c.fieldLines(3, "")
	if len(lines) == 0 {
		return ""
	}
	i := diffPick(r, lines)
	fold := diffPick(r, []string{"\r\n ", "\r\n\t", "\n ", "\r\n  "})
	if r.IntN(2) == 0 {
		v := c.toks[i+2].s
		k := r.IntN(len(v) + 1)
		c.toks[i+2].s = v[:k] + fold + v[k:]
		return fmt.Sprintf("%s split by %q", c.toks[i].s, fold)
	}
	t := c.toks[i+3]
	c.insert(i+4, diffTok{k: diffKJunk, s: fold[len(fold)-1:] + "folded-part" + "\r\n", req: t.req, sec: t.sec})
	return "continuation after " + c.toks[i].s
}

// diffFramingNames are the fields whose duplication or loss changes framing
// or routing.
var diffFramingNames = []string{"Host", "Content-Length", "Transfer-Encoding"}

// diffMutDupField duplicates a Host, Content-Length or Transfer-Encoding line
// (any line when none), sometimes with another value.
func diffMutDupField(r *rand.Rand, c *diffCase) string {
	var lines []int
	for _, n := range diffFramingNames {
		lines = append(lines, c.fieldLines(diffSecHead, n)...)
	}
	if len(lines) == 0 {
		lines = c.fieldLines(diffSecHead, "")
	}
	if len(lines) == 0 {
		return ""
	}
	i := diffPick(r, lines)
	dup := append([]diffTok(nil), c.toks[i:i+4]...)
	how := "same value"
	if r.IntN(2) == 0 {
		switch strings.ToLower(dup[0].s) {
		case "host":
			dup[2].s = diffPick(r, []string{"other.example", "example.com:81", "", "EXAMPLE.COM"})
		case "content-length":
			n, _ := strconv.Atoi(dup[2].s)
			dup[2].s = diffPick(r, []string{strconv.Itoa(n + 1), "0", strconv.Itoa(n) + " ", "0" + strconv.Itoa(n)})
		case "transfer-encoding":
			dup[2].s = diffPick(r, []string{"chunked", "identity", "gzip", "Chunked"})
		default:
			dup[2].s += "-2"
		}
		how = fmt.Sprintf("value %q", dup[2].s)
	}
	at := i + 4
	if r.IntN(2) == 0 {
		at = c.endOfHead(dup[0].req)
	}
	c.insert(at, dup...)
	return dup[0].s + " " + how
}

// diffMutDropField removes a Host, Content-Length or Transfer-Encoding line,
// or any line.
func diffMutDropField(r *rand.Rand, c *diffCase) string {
	var lines []int
	if r.IntN(4) > 0 {
		for _, n := range diffFramingNames {
			lines = append(lines, c.fieldLines(diffSecHead, n)...)
		}
	}
	if len(lines) == 0 {
		lines = c.fieldLines(3, "")
	}
	if len(lines) == 0 {
		return ""
	}
	i := diffPick(r, lines)
	name := c.toks[i].s
	c.remove(i, i+4)
	return name
}

// diffAddedFields are lines added to a head: conflicting framing, odd
// codings, malformed names, hop-by-hop.
var diffAddedFields = [][2]string{
	{"Transfer-Encoding", "chunked"},
	{"Transfer-Encoding", "gzip, chunked"},
	{"Transfer-Encoding", "chunked, chunked"},
	{"Transfer-Encoding", "identity"},
	{"Transfer-Encoding", "Chunked"},
	{"Transfer-Encoding", "xchunked"},
	{"Transfer-Encoding", "chunked, identity"},
	{"Transfer-Encoding", " chunked"},
	{"Transfer-Encoding", "\"chunked\""},
	{"Transfer-Encoding", ""},
	{"Transfer-Encoding ", "chunked"},
	{" Transfer-Encoding", "chunked"},
	{"Transfer_Encoding", "chunked"},
	{"Content-Length", "0"},
	{"Content-Length", "5"},
	{"Content-Length", ""},
	{"Content-Length ", "0"},
	{"Host", "other.example"},
	{"Host ", "example.com"},
	{"Expect", "100-continue"},
	{"Expect", "100-Continue"},
	{"Expect", "something-else"},
	{"Connection", "close"},
	{"Connection", "X-Drop"},
	{"X-Drop", "hop"},
	{"TE", "trailers"},
	{"TE", "gzip"},
	{"Proxy-Connection", "keep-alive"},
	{"Proxy-Authorization", "Basic Zm9vOmJhcg=="},
	{"Keep-Alive", "timeout=5"},
	{"Trailer", "X-Later"},
	{"X Space", "v"},
	{"X(Paren)", "v"},
	{"", "empty-name"},
	{"X-Ctl", "a\x01b"},
	{"X-Nul", "a\x00b"},
	{"X-Del", "a\x7fb"},
	{"X-Utf8", "caf\xc3\xa9"},
	{"X-Latin1", "caf\xe9"},
	{"X-Long", strings.Repeat("v", 300)},
	{"x-lower", "case"},
	{"X-Forwarded-Host", "evil.example"},
	{"Content-Type", "text/plain"},
	{"Accept-Encoding", "gzip"},
	{"User-Agent", ""},
}

// diffMutAddField adds a field line to a head, or to a trailer section.
func diffMutAddField(r *rand.Rand, c *diffCase) string {
	f := diffPick(r, diffAddedFields)
	req := r.IntN(c.requests())
	trailers := c.fieldLines(diffSecTrailer, "")
	if len(trailers) > 0 && r.IntN(4) == 0 {
		// Fields that must not be in a trailer, or any.
		f = diffPick(r, [][2]string{{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"},
			{"Host", "other.example"}, {"Trailer", "X"}, {"X-Late", "ok"}, {"X Bad", "v"}})
		at := diffPick(r, trailers)
		c.insert(at, diffField(c.toks[at].req, diffSecTrailer, f[0], f[1])...)
		return fmt.Sprintf("trailer %q: %q", f[0], f[1])
	}
	at := c.endOfHead(req)
	if at < 0 {
		return ""
	}
	lines := c.fieldLines(diffSecHead, "")
	if len(lines) > 0 && r.IntN(2) == 0 {
		if i := diffPick(r, lines); c.toks[i].req == req {
			at = i
		}
	}
	c.insert(at, diffField(req, diffSecHead, f[0], f[1])...)
	if f[0] == "Connection" && f[1] == "X-Drop" {
		c.insert(at+4, diffField(req, diffSecHead, "X-Drop", "hop")...)
	}
	return fmt.Sprintf("%q: %q", f[0], f[1])
}

func diffToggleCase(r *rand.Rand, s string) string {
	switch r.IntN(3) {
	case 0:
		return strings.ToLower(s)
	case 1:
		return strings.ToUpper(s)
	}
	b := []byte(s)
	for i := range b {
		if r.IntN(2) == 0 {
			switch {
			case b[i] >= 'a' && b[i] <= 'z':
				b[i] -= 'a' - 'A'
			case b[i] >= 'A' && b[i] <= 'Z':
				b[i] += 'a' - 'A'
			}
		}
	}
	return string(b)
}

// diffMutCase changes the case of a method, version, field name, framing
// value or chunk size.
func diffMutCase(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool {
		switch t.k {
		case diffKMethod, diffKVersion, diffKName, diffKSize:
			return true
		}
		return false
	})
	for _, i := range c.fieldLines(diffSecHead, "Transfer-Encoding") {
		idx = append(idx, i+2)
	}
	for _, i := range c.fieldLines(diffSecHead, "Expect") {
		idx = append(idx, i+2)
	}
	for _, i := range c.fieldLines(diffSecHead, "Connection") {
		idx = append(idx, i+2)
	}
	if len(idx) == 0 {
		return ""
	}
	i := diffPick(r, idx)
	old := c.toks[i].s
	c.toks[i].s = diffToggleCase(r, old)
	if c.toks[i].s == old {
		return ""
	}
	return fmt.Sprintf("%q->%q", old, c.toks[i].s)
}

// diffMutContentLength rewrites a Content-Length value: signs, spaces,
// lists, hex, leading zeros, off by one, overflow.
func diffMutContentLength(r *rand.Rand, c *diffCase) string {
	lines := c.fieldLines(diffSecHead, "Content-Length")
	if len(lines) == 0 {
		return ""
	}
	i := diffPick(r, lines) + 2
	n, err := strconv.Atoi(strings.TrimSpace(c.toks[i].s))
	if err != nil {
		n = 0
	}
	s := strconv.Itoa(n)
	variants := []string{"+" + s, "-" + s, "0" + s, "00" + s, " " + s, s + " ", s + "\t", s + "," + s, s + ", " + s,
		s + ",", "," + s, "0x" + strconv.FormatInt(int64(n), 16), strconv.FormatInt(int64(n), 16) + "h",
		s + ".0", s + "e0", "", s + " " + s, "99999999999999999999", "1" + strings.Repeat("0", 18),
		"1" + strings.Repeat("0", 17), strconv.Itoa(n + 1), strconv.Itoa(max(n-1, 0)), s + "\x00",
		"\u0661", "-0", "+0"}
	old := c.toks[i].s
	c.toks[i].s = diffPick(r, variants)
	return fmt.Sprintf("%q->%q", old, c.toks[i].s)
}

// diffMutChunk mutates chunked framing: sizes, extensions, line ends, data
// length, the last chunk.
func diffMutChunk(r *rand.Rand, c *diffCase) string {
	sizes := diffFind(c, func(t diffTok) bool { return t.k == diffKSize })
	if len(sizes) == 0 {
		return ""
	}
	i := diffPick(r, sizes)
	size := c.toks[i].s
	hexPart, ext, _ := strings.Cut(size, ";")
	n, _ := strconv.ParseInt(hexPart, 16, 64)
	switch r.IntN(4) {
	case 0, 1: // the size line
		variants := []string{"0x" + size, " " + size, "\t" + size, hexPart + " ;" + ext, hexPart + " ",
			hexPart + ";ext=1", hexPart + ";ext=\"quoted;value\"", hexPart + "; ext", hexPart + ";",
			hexPart + ";a=b;c", hexPart + ";" + strings.Repeat("e", 200),
			"+" + size, "-" + size, strings.Repeat("0", 16) + hexPart, strings.Repeat("0", 3) + hexPart,
			strings.ToUpper(hexPart), strconv.FormatInt(n+1, 16), strconv.FormatInt(max(n-1, 0), 16),
			"g", "", hexPart + "\x00", "fffffffffffffffff", "ffffffffffffffff", "8000000000000000",
			hexPart + "\r"}
		c.toks[i].s = diffPick(r, variants)
		return fmt.Sprintf("size %q->%q", size, c.toks[i].s)
	case 2: // a line end of the chunked body
		var eols []int
		for j := i + 1; j < len(c.toks) && c.toks[j].sec != diffSecHead; j++ {
			if c.toks[j].k == diffKCEOL || c.toks[j].k == diffKEnd || c.toks[j].k == diffKEOL {
				eols = append(eols, j)
			}
		}
		if len(eols) == 0 {
			return ""
		}
		j := diffPick(r, eols)
		old := c.toks[j].s
		c.toks[j].s = diffPick(r, []string{"\n", "\r", "", "\r\r\n", "\n\r", " \r\n", "\r\n\r\n"})
		return fmt.Sprintf("eol %q->%q@%d", old, c.toks[j].s, j)
	default: // the data
		if i+2 >= len(c.toks) || c.toks[i+2].k != diffKData {
			// the last chunk: more zeros, an extension, data after it
			c.toks[i].s = diffPick(r, []string{"00", "000", "0;x=y", "0 ", " 0", "0\t", "0x0"})
			return fmt.Sprintf("last chunk %q->%q", size, c.toks[i].s)
		}
		d := c.toks[i+2].s
		if r.IntN(2) == 0 && len(d) > 0 {
			c.toks[i+2].s = d[:len(d)-1]
			return "data one byte short"
		}
		c.toks[i+2].s = d + diffPick(r, []string{"X", "XYZ", "\r\n"})
		return "data too long"
	}
}

// diffMutVersion replaces an HTTP-version.
func diffMutVersion(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool { return t.k == diffKVersion })
	if len(idx) == 0 {
		return ""
	}
	i := diffPick(r, idx)
	old := c.toks[i].s
	c.toks[i].s = diffPick(r, []string{"HTTP/1.0", "HTTP/1.1", "HTTP/1", "HTTP/1.10", "HTTP/1.01", "HTTP/01.1",
		"http/1.1", "Http/1.1", "HTTP/2.0", "HTTP/2", "HTTP/0.9", "HTTP/9.9", "HTTP/1.1 ", "HTTP/ 1.1",
		"HTTP /1.1", "HTTP/1.1x", "", "HTTPS/1.1", "HTTP/1.2", "HTTP/1.1\t", "HTTP/1.1\x00", "HTTP/1.",
		"HTTP/.1", "HTTP/+1.1", "HTTP/1.-1", "HTTP/1,1", "HTTP/3.0"})
	return fmt.Sprintf("%q->%q", old, c.toks[i].s)
}

// diffMutRequestLine changes the shape of a request line: leading empty
// lines, a missing or extra part.
func diffMutRequestLine(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool { return t.k == diffKMethod })
	i := diffPick(r, idx)
	t := c.toks[i]
	switch r.IntN(5) {
	case 0:
		s := diffPick(r, []string{"\r\n", "\n", "\r\n\r\n", " ", "\t", "\r"})
		c.insert(i, diffTok{k: diffKJunk, s: s, req: t.req, sec: t.sec})
		return fmt.Sprintf("%q before the request line", s)
	case 1: // no version
		if i+4 < len(c.toks) && c.toks[i+3].k == diffKSP && c.toks[i+4].k == diffKVersion {
			c.remove(i+3, i+5)
			return "no version"
		}
	case 2: // a fourth part
		if i+4 < len(c.toks) && c.toks[i+4].k == diffKVersion {
			extra := diffPick(r, []string{" extra", " HTTP/1.1", " "})
			c.insert(i+5, diffTok{k: diffKJunk, s: extra, req: t.req, sec: t.sec})
			return fmt.Sprintf("%q after the version", extra)
		}
	case 3: // no target
		if i+2 < len(c.toks) && c.toks[i+2].k == diffKTarget {
			c.remove(i+1, i+3)
			return "no target"
		}
	default: // tab separated
		done := false
		for _, j := range []int{i + 1, i + 3} {
			if j < len(c.toks) && c.toks[j].k == diffKSP && c.toks[j].req == t.req {
				c.toks[j].s, done = "\t", true
			}
		}
		if done {
			return "tab separated"
		}
	}
	return ""
}

// diffMutAbsolute turns a target into absolute form, with or without
// userinfo, odd schemes and authorities.
func diffMutAbsolute(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool { return t.k == diffKTarget && strings.HasPrefix(t.s, "/") })
	if len(idx) == 0 {
		return ""
	}
	i := diffPick(r, idx)
	p := c.toks[i].s
	c.toks[i].s = diffPick(r, []string{"http://example.com", "http://user:pw@example.com", "http://user@example.com",
		"HTTP://EXAMPLE.COM", "https://example.com", "http://example.com:8080", "http://other.example",
		"ftp://example.com", "http://[::1]", "http://exa mple.com", "//example.com", "http:/", "http://",
		"http://example.com:", "http://example.com:abc", "http://@example.com", "http://a%40b@example.com",
		"http://example.com#frag"}) + p
	return fmt.Sprintf("%q", c.toks[i].s)
}

// diffSmuggled is the request a mutation hides after or inside a body.
const diffSmuggled = "GET /smuggled HTTP/1.1\r\nHost: example.com\r\nX-Smuggled: 1\r\n\r\n"

// diffMutAppend appends a second request after the case, or a fragment of
// one.
func diffMutAppend(r *rand.Rand, c *diffCase) string {
	req := c.requests()
	var s string
	switch r.IntN(4) {
	case 0:
		s = diffSmuggled
	case 1:
		s = "POST /smuggled-post HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
	case 2:
		s = "GET /smuggled HTTP/1.1\r\nHost: example.com\r\n" // incomplete
	default:
		s = "G"
	}
	c.toks = append(c.toks, diffTok{k: diffKJunk, s: s, req: req - 1, sec: diffSecBody})
	return fmt.Sprintf("%.20q", s)
}

// diffMutSmuggleBody puts a request inside a body, framed so that a server
// reading the other framing would run it (CL.TE and TE.CL shapes).
func diffMutSmuggleBody(r *rand.Rand, c *diffCase) string {
	req := r.IntN(c.requests())
	end := c.endOfHead(req)
	if end < 0 {
		return ""
	}
	// Drop the request's body and framing fields, then add both framings.
	bodyEnd := end + 1
	for bodyEnd < len(c.toks) && c.toks[bodyEnd].req == req && c.toks[bodyEnd].sec != diffSecHead {
		bodyEnd++
	}
	c.remove(end+1, bodyEnd)
	for _, n := range []string{"Content-Length", "Transfer-Encoding"} {
		for {
			lines := c.fieldLines(diffSecHead, n)
			k := -1
			for _, l := range lines {
				if c.toks[l].req == req {
					k = l
				}
			}
			if k < 0 {
				break
			}
			c.remove(k, k+4)
		}
	}
	end = c.endOfHead(req)
	te := diffPick(r, []string{"chunked", "Chunked", " chunked", "chunked ", "xchunked", "chunked, identity"})
	var body, cl, desc string
	if r.IntN(2) == 0 {
		// CL.TE: the chunked body ends at once, Content-Length covers the
		// smuggled request.
		body = "0\r\n\r\n" + diffSmuggled
		cl, desc = strconv.Itoa(len(body)), "CL.TE "+te
	} else {
		// TE.CL: Content-Length ends after the chunk-size line, the chunk
		// holds the smuggled request.
		body = strconv.FormatInt(int64(len(diffSmuggled)), 16) + "\r\n" + diffSmuggled + "\r\n0\r\n\r\n"
		cl, desc = strconv.Itoa(strings.Index(body, "\n")+1), "TE.CL "+te
	}
	clField, teField := diffField(req, diffSecHead, "Content-Length", cl), diffField(req, diffSecHead, "Transfer-Encoding", te)
	fields := append(clField, teField...)
	if r.IntN(2) == 0 {
		fields = append(teField, clField...)
	}
	c.insert(end, fields...)
	end = c.endOfHead(req)
	c.insert(end+1, diffTok{k: diffKBody, s: body, req: req, sec: diffSecBody})
	return desc
}

// diffMutMethod replaces a method with another token or a non-token.
func diffMutMethod(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool { return t.k == diffKMethod })
	i := diffPick(r, idx)
	old := c.toks[i].s
	c.toks[i].s = diffPick(r, []string{"get", "GeT", "G ET", "GE\x00T", "", "FOO", "PROPFIND", "M-SEARCH",
		"GET/", "G(T", "\x80GET", "GET\x7f", "TRACE", "CONNECT", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD",
		"G\tET", "G{ET", "POST", strings.Repeat("M", 100)})
	return fmt.Sprintf("%q->%q", old, c.toks[i].s)
}

// diffMutTarget inserts odd bytes or path segments into a target.
func diffMutTarget(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool { return t.k == diffKTarget })
	if len(idx) == 0 {
		return ""
	}
	i := diffPick(r, idx)
	old := c.toks[i].s
	if r.IntN(6) == 0 {
		c.toks[i].s = diffPick(r, []string{"*", "", "example.com:80", "?x=1", "a/b", "/%", "/\xc3\xa9t\xc3\xa9"})
		return fmt.Sprintf("%q->%q", old, c.toks[i].s)
	}
	ins := diffPick(r, []string{" ", "#frag", "%00", "%zz", "%2F", "%2f", "%2e%2e/", "/../", "/./", "//", "\x00",
		"\x7f", "\x80", "\t", "?", "??", "%", "\\", "\"", "<>", "{}", "|", "^", "`", ";a=b"})
	k := r.IntN(len(old) + 1)
	c.toks[i].s = old[:k] + ins + old[k:]
	return fmt.Sprintf("%q->%q", old, c.toks[i].s)
}

// diffMutHost replaces a Host value.
func diffMutHost(r *rand.Rand, c *diffCase) string {
	lines := c.fieldLines(diffSecHead, "Host")
	if len(lines) == 0 {
		return ""
	}
	i := diffPick(r, lines) + 2
	old := c.toks[i].s
	c.toks[i].s = diffPick(r, []string{"", "a@b.example", "user@example.com", "exa mple.com", "a/b", "example.com:",
		"example.com:abc", "[::1]:80", "[::1", "EXAMPLE.com", "example.com.", "ex_ample.com", "a,b",
		"example.com\t", "\xc3\xa9.example", "example.com:99999", "example.com:80:80", "example.com/path",
		"example.com?x", "example.com#f", "%65xample.com", "127.0.0.1", "example.com, other.example"})
	return fmt.Sprintf("%q->%q", old, c.toks[i].s)
}

// diffMutBodyLength makes a Content-Length body shorter or longer than
// declared.
func diffMutBodyLength(r *rand.Rand, c *diffCase) string {
	idx := diffFind(c, func(t diffTok) bool { return t.k == diffKBody })
	if len(idx) == 0 {
		return ""
	}
	i := diffPick(r, idx)
	d := c.toks[i].s
	if r.IntN(2) == 0 && len(d) > 0 {
		k := 1 + r.IntN(len(d))
		c.toks[i].s = d[:len(d)-k]
		return fmt.Sprintf("%d bytes short", k)
	}
	extra := diffPick(r, []string{"X", "\r\n", "\r\n\r\n", "GET / HTTP/1.1\r\n"})
	c.toks[i].s = d + extra
	return fmt.Sprintf("%q extra", extra)
}
