// Package h1 is Portico's HTTP/1.1 wire format: a strict parser for request
// and response heads, body framing (Content-Length, chunked, read until
// close) and the writers that put them back on the wire.
//
// It exists because a gateway must frame every message exactly as the
// server behind it will, or a client can hide a second request inside the
// first (request smuggling). It is stricter than RFC 9112 requires where
// leniency has been a source of smuggling (whitespace before the colon,
// obs-fold, duplicate framing headers, bare LF in chunked bodies), and as
// strict as Go's net/http everywhere else; test/e2e runs a differential
// fuzzer against net/http to keep it so.
//
// Parsed heads hold slices into a buffer owned by the value that parsed
// them; nothing is allocated per message once the buffers have grown.
package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Limits of a head. A head over MaxHeadBytes or with more than MaxFields
// field lines is refused with 431 (requests) or a bad-response error.
const (
	MaxHeadBytes = 32 << 10
	MaxFields    = 100
)

// Error is a message that cannot be read, with the status a server answers.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func errf(status int, msg string) *Error { return &Error{Status: status, Msg: msg} }

var (
	errHeadTooLarge   = errf(431, "the request head is too large")
	errTooManyFields  = errf(431, "the request has too many header fields")
	errBareCR         = errf(400, "a bare CR in the message head")
	errRequestLine    = errf(400, "malformed request line")
	errMethod         = errf(400, "malformed method")
	errTarget         = errf(400, "malformed request target")
	errVersion        = errf(400, "malformed HTTP version")
	errVersionNotSupp = errf(505, "HTTP version not supported; send HTTP/1.1")
	errObsFold        = errf(400, "folded header lines (obs-fold) are not accepted")
	errFieldName      = errf(400, "malformed header field name")
	errFieldValue     = errf(400, "malformed header field value")
	errNoHost         = errf(400, "an HTTP/1.1 request needs a Host header")
	errManyHosts      = errf(400, "more than one Host header")
	errBadHost        = errf(400, "malformed Host")
	errManyTE         = errf(400, "more than one Transfer-Encoding header")
	errTEUnsupported  = errf(501, "unsupported Transfer-Encoding; only chunked is accepted")
	errTE10           = errf(400, "Transfer-Encoding in an HTTP/1.0 request")
	errManyCL         = errf(400, "more than one Content-Length header")
	errBadCL          = errf(400, "malformed Content-Length")
	errExpect         = errf(417, "unsupported Expect; only 100-continue is accepted")
	errConnect        = errf(501, "CONNECT is not supported")

	// ErrIncomplete is returned when the connection ends inside a head.
	ErrIncomplete = errors.New("the connection closed inside a message head")
)

// Field is one header field line: a name and its value without the
// surrounding whitespace, as received.
type Field struct {
	Name, Value []byte
}

// Is reports whether the field's name is name, compared case-insensitively;
// name must be lower case.
func (f *Field) Is(name string) bool { return EqualLower(f.Name, name) }

// Request is a parsed request head.
type Request struct {
	Method []byte
	// Target is the request-target as sent.
	Target []byte
	// Path is the target's path, still percent-encoded; "*" for OPTIONS *.
	Path []byte
	// Query is what follows '?', without it; HasQuery tells an empty query
	// ("/a?") from none.
	Query    []byte
	HasQuery bool
	// Minor is the minor version: 0 or 1 (later ones are treated as 1).
	Minor int
	// Host is the effective authority: the absolute-form target's, else the
	// Host field's (RFC 9112 3.2.2).
	Host   []byte
	Fields []Field
	// ContentLength is the body length; -1 when the body is chunked.
	ContentLength int64
	Chunked       bool
	// Close is set when the connection must close after this exchange:
	// asked by the client, HTTP/1.0 without keep-alive, or ambiguous
	// framing (Content-Length with Transfer-Encoding).
	Close     bool
	Expect100 bool
	// Upgrade is the Upgrade field's value when Connection lists "upgrade".
	Upgrade []byte
	// TrailersOK is set when the client sent "TE: trailers".
	TrailersOK bool

	buf []byte
}

// Response is a parsed response head.
type Response struct {
	Status int
	Minor  int
	Reason []byte
	Fields []Field
	// ContentLength is the body length; -1 when unknown (chunked, or read
	// until the connection closes).
	ContentLength int64
	Chunked       bool
	// NoBody is set for answers that have no body whatever their fields say
	// (HEAD, 1xx, 204, 304).
	NoBody bool
	// Close is set when the connection cannot carry another exchange.
	Close bool
	// Upgrade is the Upgrade field's value of a 101.
	Upgrade []byte

	buf []byte
}

// readHead reads one message head (start line and fields, up to the empty
// line) into dst. Lines may end in CRLF or LF. An empty line before the
// start line is refused, as net/http does: RFC 9112 2.2 lets a server skip
// it, but a gateway that skips what its nodes refuse reads a different
// message stream than they do.
func readHead(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	lineStart := 0
	for {
		line, err := br.ReadSlice('\n')
		if len(dst)+len(line) > limit {
			return dst, errHeadTooLarge
		}
		dst = append(dst, line...)
		if err == bufio.ErrBufferFull {
			continue // the rest of a long line follows
		}
		if err != nil {
			if len(dst) == 0 && err == io.EOF {
				return dst, io.EOF
			}
			if err == io.EOF {
				return dst, ErrIncomplete
			}
			return dst, err
		}
		l := dst[lineStart:]
		if len(l) == 1 || (len(l) == 2 && l[0] == '\r') { // empty line
			if lineStart == 0 {
				return dst, errRequestLine
			}
			return dst, nil
		}
		lineStart = len(dst)
	}
}

// nextLine splits the first line off head; the line has no terminator.
func nextLine(head []byte) (line, rest []byte, err error) {
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return head, nil, nil
	}
	line, rest = head[:i], head[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, errBareCR
	}
	return line, rest, nil
}

// parseFields parses the field lines of head into fields.
func parseFields(head []byte, fields []Field) ([]Field, error) {
	for len(head) > 0 {
		line, rest, err := nextLine(head)
		if err != nil {
			return fields, err
		}
		head = rest
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fields, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fields, errFieldName
		}
		name := line[:colon]
		for _, c := range name {
			if !isToken[c] {
				return fields, errFieldName
			}
		}
		v := trimOWS(line[colon+1:])
		for _, c := range v {
			if !isFieldVChar[c] {
				return fields, errFieldValue
			}
		}
		if len(fields) >= MaxFields {
			return fields, errTooManyFields
		}
		fields = append(fields, Field{Name: name, Value: v})
	}
	return fields, nil
}

// ReadRequest reads and validates one request head from br. It returns
// io.EOF when the connection closed before any byte of a head, and an
// *Error (with the status to answer) for a head that must be refused.
func (r *Request) Read(br *bufio.Reader) error {
	var err error
	r.reset()
	r.buf, err = readHead(br, r.buf, MaxHeadBytes)
	if err != nil {
		return err
	}
	line, rest, err := nextLine(r.buf)
	if err != nil {
		return err
	}
	if err := r.parseRequestLine(line); err != nil {
		return err
	}
	if r.Fields, err = parseFields(rest, r.Fields[:0]); err != nil {
		return err
	}
	return r.interpret()
}

func (r *Request) reset() {
	fields, buf := r.Fields[:0], r.buf
	*r = Request{Fields: fields, buf: buf}
}

func (r *Request) parseRequestLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errRequestLine
	}
	r.Method = line[:sp1]
	for _, c := range r.Method {
		if !isToken[c] {
			return errMethod
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errRequestLine
	}
	r.Target = rest[:sp2]
	for _, c := range r.Target {
		if c <= ' ' || c == 0x7f {
			return errTarget
		}
	}
	major, minor, ok := parseVersion(rest[sp2+1:])
	if !ok {
		return errVersion
	}
	if major != 1 {
		return errVersionNotSupp
	}
	r.Minor = min(minor, 1)
	if string(r.Method) == "CONNECT" {
		return errConnect
	}
	return r.parseTarget()
}

// parseVersion parses "HTTP/d.d" exactly.
func parseVersion(v []byte) (major, minor int, ok bool) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

func (r *Request) parseTarget() error {
	t := r.Target
	switch {
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return errTarget
		}
		r.Path = t
		return nil
	default:
		// absolute-form: scheme "://" authority [path-abempty] [? query]
		var n int
		switch {
		case hasPrefixFold(t, "http://"):
			n = len("http://")
		case hasPrefixFold(t, "https://"):
			n = len("https://")
		default:
			return errTarget
		}
		t = t[n:]
		end := bytes.IndexAny(t, "/?")
		if end < 0 {
			end = len(t)
		}
		host := t[:end]
		if !validHost(host) || len(host) == 0 {
			return errBadHost
		}
		r.Host = host
		t = t[end:]
		if len(t) == 0 || t[0] == '?' {
			r.Path = slash
			if len(t) > 0 {
				r.Query, r.HasQuery = t[1:], true
			}
			return nil
		}
	}
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		r.Path, r.Query, r.HasQuery = t[:q], t[q+1:], true
	} else {
		r.Path = t
	}
	if !validEscapes(r.Path) {
		return errTarget
	}
	return nil
}

// validEscapes reports whether every '%' in b starts a two-digit hex escape.
func validEscapes(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '%' {
			if i+2 >= len(b) || Unhex(b[i+1]) < 0 || Unhex(b[i+2]) < 0 {
				return false
			}
			i += 2
		}
	}
	return true
}

var slash = []byte("/")

// interpret applies the framing and connection rules to the parsed fields.
func (r *Request) interpret() error {
	var (
		hosts, tes, cls int
		keepAlive       bool
		connUpgrade     bool
		upgrade         []byte
		cl              []byte
	)
	for i := range r.Fields {
		f := &r.Fields[i]
		switch len(f.Name) {
		case 4:
			if f.Is("host") {
				hosts++
				if !validHost(f.Value) {
					return errBadHost
				}
				if r.Host == nil && hosts == 1 {
					r.Host = f.Value
				}
			}
		case 17:
			if f.Is("transfer-encoding") {
				tes++
				if !EqualLower(f.Value, "chunked") {
					return errTEUnsupported
				}
			}
		case 14:
			if f.Is("content-length") {
				cls++
				cl = f.Value
			}
		case 10:
			if f.Is("connection") {
				connectionOptions(f.Value, &r.Close, &keepAlive, &connUpgrade)
			}
		case 6:
			if f.Is("expect") {
				if !EqualLower(f.Value, "100-continue") {
					return errExpect
				}
				r.Expect100 = true
			}
		case 7:
			if f.Is("upgrade") {
				upgrade = f.Value
			}
		case 2:
			if f.Is("te") {
				forEachToken(f.Value, func(tok []byte) {
					// "trailers" may carry no parameters
					if EqualLower(tok, "trailers") {
						r.TrailersOK = true
					}
				})
			}
		}
	}
	switch {
	case hosts > 1:
		return errManyHosts
	case hosts == 0 && r.Minor == 1:
		// Also with an absolute-form target, as net/http requires.
		return errNoHost
	case tes > 1:
		return errManyTE
	case tes == 1 && r.Minor == 0:
		return errTE10
	case cls > 1:
		return errManyCL
	}
	if r.Host == nil {
		r.Host = r.buf[:0] // empty, not nil: an HTTP/1.0 request may have none
	}
	if cls == 1 {
		n, ok := parseContentLength(cl)
		if !ok {
			return errBadCL
		}
		r.ContentLength = n
	}
	if tes == 1 {
		r.Chunked = true
		r.ContentLength = -1
		if cls == 1 {
			// RFC 9112 6.1: Transfer-Encoding overrides Content-Length,
			// and a message with both must not leave the connection open.
			r.Close = true
		}
	}
	if r.Minor == 0 && !keepAlive {
		r.Close = true
	}
	if connUpgrade && len(upgrade) > 0 {
		r.Upgrade = upgrade
	}
	return nil
}

// ReadResponse reads and validates one response head from br; head tells
// whether the request was HEAD (so the answer has no body).
func (r *Response) Read(br *bufio.Reader, head bool) error {
	fields, buf := r.Fields[:0], r.buf
	*r = Response{Fields: fields, buf: buf}
	var err error
	r.buf, err = readHead(br, r.buf, MaxHeadBytes)
	if err != nil {
		if err == io.EOF {
			return ErrIncomplete
		}
		return badResponse(err)
	}
	line, rest, err := nextLine(r.buf)
	if err != nil {
		return badResponse(err)
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || line[8] != ' ' {
		return errStatusLine
	}
	major, minor, ok := parseVersion(line[:8])
	if !ok || major != 1 {
		return errStatusLine
	}
	r.Minor = min(minor, 1)
	c := line[9:12]
	if !isDigit(c[0]) || !isDigit(c[1]) || !isDigit(c[2]) || c[0] == '0' {
		return errStatusLine
	}
	r.Status = int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	if len(line) > 12 {
		if line[12] != ' ' {
			return errStatusLine
		}
		r.Reason = line[13:]
		for _, b := range r.Reason {
			if !isFieldVChar[b] {
				return errStatusLine
			}
		}
	}
	if r.Fields, err = parseFields(rest, r.Fields); err != nil {
		return badResponse(err)
	}
	return r.interpret(head)
}

var (
	errStatusLine  = &Error{Status: 502, Msg: "malformed status line from the backend"}
	errRespFraming = &Error{Status: 502, Msg: "conflicting framing headers from the backend"}
)

func badResponse(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Status: 502, Msg: "bad response head from the backend: " + e.Msg}
	}
	return err
}

func (r *Response) interpret(head bool) error {
	var (
		tes, cls    int
		chunked     bool
		cl          int64 = -1
		keepAlive   bool
		connUpgrade bool
		upgrade     []byte
	)
	for i := range r.Fields {
		f := &r.Fields[i]
		switch {
		case f.Is("transfer-encoding"):
			tes++
			forEachToken(f.Value, func(tok []byte) {
				chunked = EqualLower(tok, "chunked") // only the last coding counts
			})
		case f.Is("content-length"):
			n, ok := parseContentLength(f.Value)
			if !ok || (cls > 0 && n != cl) {
				return errRespFraming
			}
			cls++
			cl = n
		case f.Is("connection"):
			connectionOptions(f.Value, &r.Close, &keepAlive, &connUpgrade)
		case f.Is("upgrade"):
			upgrade = f.Value
		}
	}
	if r.Minor == 0 && !keepAlive {
		r.Close = true
	}
	if connUpgrade {
		r.Upgrade = upgrade
	}
	if tes > 0 && cls > 0 {
		return errRespFraming
	}
	switch {
	case head || r.Status < 200 || r.Status == 204 || r.Status == 304:
		r.NoBody = true
		r.ContentLength = 0
		if cls > 0 && r.Status >= 200 {
			r.ContentLength = cl // what a GET would have had; relayed as is
		}
	case tes > 0 && chunked:
		r.Chunked, r.ContentLength = true, -1
	case tes > 0:
		// A coding other than chunked last: the body ends with the
		// connection (RFC 9112 6.3).
		r.ContentLength, r.Close = -1, true
	case cls > 0:
		r.ContentLength = cl
	default:
		r.ContentLength, r.Close = -1, true
	}
	return nil
}

// parseContentLength parses 1*DIGIT, at most 18 digits.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHost accepts an RFC 3986 host with an optional port and nothing
// else: a reg-name or IPv4 address of unreserved and sub-delim characters
// (no percent-encoding, no userinfo, no path, no whitespace), or an IPv6
// literal in brackets; then ":" and digits. An empty host is valid (an
// HTTP/1.0 request or a target without authority may send one).
func validHost(h []byte) bool {
	if len(h) > 0 && h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		for _, c := range h[1:end] {
			if !isIPv6Char[c] {
				return false
			}
		}
		h = h[end+1:]
		if len(h) == 0 {
			return true
		}
		if h[0] != ':' {
			return false
		}
		return allDigits(h[1:])
	}
	if i := bytes.IndexByte(h, ':'); i >= 0 {
		if !allDigits(h[i+1:]) {
			return false
		}
		h = h[:i]
	}
	for _, c := range h {
		if !isRegNameChar[c] {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// connectionOptions sets the flags for the options a Connection field
// lists; flags already set stay set.
func connectionOptions(v []byte, close, keepAlive, upgrade *bool) {
	forEachToken(v, func(tok []byte) {
		switch {
		case EqualLower(tok, "close"):
			*close = true
		case EqualLower(tok, "keep-alive"):
			*keepAlive = true
		case EqualLower(tok, "upgrade"):
			*upgrade = true
		}
	})
}

func forEachToken(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualLower compares b with the lower-case ASCII string s, ignoring case.
func EqualLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && EqualLower(b[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// AlnumAnd is a byte set: ASCII letters and digits, and the bytes of extra.
func AlnumAnd(extra string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

var (
	// isToken: RFC 9110 5.6.2 tchar.
	isToken = AlnumAnd("!#$%&'*+-.^_`|~")
	// isFieldVChar: VCHAR, SP, HTAB and obs-text; no other control byte.
	isFieldVChar = func() (t [256]bool) {
		for c := 0x20; c < 0x7f; c++ {
			t[c] = true
		}
		for c := 0x80; c <= 0xff; c++ {
			t[c] = true
		}
		t['\t'] = true
		return t
	}()
	// isRegNameChar: RFC 3986 reg-name without percent-encoding.
	isRegNameChar = AlnumAnd("-._~!$&'()*+,;=")
	// isIPv6Char: what stands between the brackets of an IPv6 literal
	// (hex digits, colons, dots of an embedded IPv4).
	isIPv6Char = AlnumAnd(":.")
)
