package hmacauth

import (
	"bytes"
	"slices"
	"sync"
)

// Request is the view of a request that the signatures need. It is an
// interface rather than a concrete request type so that the HTTP/1.1 engine,
// a future HTTP/2 front end and tests can each present their own request
// without copying it.
type Request interface {
	// Field returns the first value of the header field lowerName (given
	// in lower case), and whether the request has it.
	Field(lowerName string) ([]byte, bool)
	// Method returns the request method as sent.
	Method() []byte
	// Path returns the path as the API sees it: without the /test,
	// /prepub or /release segment that chose the environment, and still
	// percent-encoded as sent (neither decoded nor cleaned).
	Path() []byte
	// Query returns the raw query, without '?'; empty when there is none.
	Query() []byte
	// Form returns the raw body when the request's media type is
	// application/x-www-form-urlencoded (any case, with or without
	// parameters such as charset), else nil. A front end that did not read
	// the body cannot check applications that send forms.
	Form() []byte
	// HasBody reports whether the request has a non-empty body.
	HasBody() bool
}

// KeySigningString appends to dst the signing string of a key-pair request:
// each header listed in h, in the listed order, as "name: value" (name in
// lower case, value without surrounding spaces and tabs), joined by "\n".
// The list must include x-date or date, so that no key-pair signature is
// valid forever, and every listed header must be in the request. On error
// dst is returned unchanged.
func KeySigningString(dst []byte, h *Header, r Request) ([]byte, error) {
	if !h.lists("x-date") && !h.lists("date") {
		return dst, fail("headers", "the signed headers must include x-date or date")
	}
	n := len(dst)
	for i, name := range h.Headers {
		v, ok := r.Field(fieldName(name))
		if !ok {
			return dst[:n], missingHeader(name)
		}
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, trimOWS(v)...)
	}
	return dst, nil
}

// AppSigningString appends to dst the signing string of an application
// request: the six parts described in the package documentation, joined by
// "\n". On error dst is returned unchanged.
func AppSigningString(dst []byte, h *Header, r Request) ([]byte, error) {
	sc := getScratch()
	defer putScratch(sc)
	return appendApp(dst, h, r, 0, sc)
}

// variant describes a deliberately wrong way to build an application signing
// string, one per mistake clients commonly make. They are only built after a
// signature mismatch, to tell the client which part probably differs.
type variant uint16

const (
	rawParams       variant = 1 << iota // query and form as sent, not decoded
	noFormParams                        // form parameters left out of part 6
	md5ForForm                          // Content-MD5 signed for a form body
	listedOrder                         // headers in listed order, not sorted
	noEmptyLine                         // no "\n" between part 1 and the method
	trailingNewline                     // a "\n" after part 6
	noAccept                            // Accept signed as empty
	noContentType                       // request treated as if it had no Content-Type
)

// appendApp builds the application signing string, or a variant of it.
func appendApp(dst []byte, h *Header, r Request, v variant, sc *scratch) ([]byte, error) {
	if !h.lists("x-date") {
		return dst, fail("headers", "the signed headers must include x-date")
	}
	n := len(dst)

	// Part 1: the listed headers sorted by name. Insertion sort on indices:
	// the list is short (MaxListedHeaders at most) and this allocates
	// nothing.
	order := sc.order[:0]
	for i := range h.Headers {
		order = append(order, i)
		if v&listedOrder != 0 {
			continue
		}
		for j := len(order) - 1; j > 0 && bytes.Compare(h.Headers[order[j]], h.Headers[order[j-1]]) < 0; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	sc.order = order
	for _, i := range order {
		name := h.Headers[i]
		val, ok := r.Field(fieldName(name))
		if !ok {
			return dst[:n], missingHeader(name)
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, trimOWS(val)...)
		dst = append(dst, '\n')
	}
	if v&noEmptyLine == 0 {
		dst = append(dst, '\n')
	}

	// Parts 2 to 5.
	for _, c := range r.Method() {
		dst = append(dst, toUpper(c))
	}
	dst = append(dst, '\n')
	if v&noAccept == 0 {
		dst = appendField(dst, r, "accept")
	}
	dst = append(dst, '\n')
	form := r.Form()
	if v&noContentType == 0 {
		dst = appendField(dst, r, "content-type")
	} else {
		form = nil
	}
	dst = append(dst, '\n')
	if r.HasBody() && (form == nil || v&md5ForForm != 0) {
		dst = appendField(dst, r, "content-md5")
	}
	dst = append(dst, '\n')

	// Part 6: the decoded path, then the sorted parameters.
	var ok bool
	if dst, ok = unescape(dst, r.Path(), false); !ok {
		return dst[:n], fail("path", "the path has a malformed percent-escape")
	}
	sc.buf, sc.params = sc.buf[:0], sc.params[:0]
	raw := v&rawParams != 0
	if err := sc.addParams(r.Query(), raw, "query"); err != nil {
		return dst[:n], err
	}
	if form != nil && v&noFormParams == 0 {
		if err := sc.addParams(form, raw, "form"); err != nil {
			return dst[:n], err
		}
	}
	if len(sc.params) > 0 {
		buf := sc.buf
		slices.SortFunc(sc.params, func(a, b param) int {
			if c := bytes.Compare(buf[a.k0:a.k1], buf[b.k0:b.k1]); c != 0 {
				return c
			}
			return bytes.Compare(buf[a.k1:a.v1], buf[b.k1:b.v1])
		})
		dst = append(dst, '?')
		for i, p := range sc.params {
			if i > 0 {
				dst = append(dst, '&')
			}
			dst = append(dst, buf[p.k0:p.k1]...)
			if p.v1 > p.k1 {
				dst = append(dst, '=')
				dst = append(dst, buf[p.k1:p.v1]...)
			}
		}
	}
	if v&trailingNewline != 0 {
		dst = append(dst, '\n')
	}
	return dst, nil
}

// fieldName converts a listed header name for Request.Field. Passing a
// string to an interface method makes the conversion allocate, so the names
// clients usually sign are returned as constants and only others are copied.
func fieldName(b []byte) string {
	switch string(b) { // compiled without a conversion
	case "x-date":
		return "x-date"
	case "date":
		return "date"
	case "source":
		return "source"
	case "accept":
		return "accept"
	case "content-type":
		return "content-type"
	case "content-md5":
		return "content-md5"
	case "content-length":
		return "content-length"
	case "host":
		return "host"
	case "user-agent":
		return "user-agent"
	case "x-ca-nonce":
		return "x-ca-nonce"
	case "x-ca-key":
		return "x-ca-key"
	case "x-ca-timestamp":
		return "x-ca-timestamp"
	case "x-ca-stage":
		return "x-ca-stage"
	case "x-request-id":
		return "x-request-id"
	}
	return string(b)
}

func appendField(dst []byte, r Request, name string) []byte {
	v, _ := r.Field(name)
	return append(dst, trimOWS(v)...)
}

func missingHeader(name []byte) error {
	return fail("headers", "missing header listed in headers: "+quote(name))
}

// param is one query or form parameter: its decoded key is buf[k0:k1] and its
// decoded value buf[k1:v1]. Offsets rather than slices, because buf grows
// while the parameters are collected.
type param struct{ k0, k1, v1 int }

// addParams splits an urlencoded string into parameters. Empty pieces are
// skipped and a piece without '=' is a key with an empty value, as
// url.ParseQuery reads them; ';' is not a separator.
func (sc *scratch) addParams(s []byte, raw bool, part string) error {
	for len(s) > 0 {
		piece := s
		if i := bytes.IndexByte(s, '&'); i >= 0 {
			piece, s = s[:i], s[i+1:]
		} else {
			s = nil
		}
		if len(piece) == 0 {
			continue
		}
		key, val := piece, piece[:0]
		if i := bytes.IndexByte(piece, '='); i >= 0 {
			key, val = piece[:i], piece[i+1:]
		}
		var p param
		var ok bool
		p.k0 = len(sc.buf)
		if raw {
			sc.buf = append(sc.buf, key...)
		} else if sc.buf, ok = unescape(sc.buf, key, true); !ok {
			return fail(part, "the "+part+" has a malformed percent-escape")
		}
		p.k1 = len(sc.buf)
		if raw {
			sc.buf = append(sc.buf, val...)
		} else if sc.buf, ok = unescape(sc.buf, val, true); !ok {
			return fail(part, "the "+part+" has a malformed percent-escape")
		}
		p.v1 = len(sc.buf)
		sc.params = append(sc.params, p)
	}
	return nil
}

// unescape appends s percent-decoded to dst; with plusSpace, '+' is a space
// (the urlencoded form of query strings and form bodies, not of paths). It
// reports false for a '%' not followed by two hex digits.
func unescape(dst, s []byte, plusSpace bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) {
				return dst, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		case c == '+' && plusSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// scratch is the working memory of one check, pooled so that a check
// allocates nothing once the pool is warm.
type scratch struct {
	buf    []byte  // decoded parameter keys and values
	params []param // the parameters, sorted in place
	order  []int   // header indices in signing order
	sts    []byte  // the signing string, for CheckKey and CheckApp
	alt    []byte  // a variant signing string, when diagnosing a mismatch
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooled is the largest buffer returned to the pool: a 64 KiB form body
// is checked fine, but one such request should not pin that much memory in
// every pooled scratch for good.
const maxPooled = 16 << 10

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.buf) > maxPooled || cap(sc.sts) > maxPooled || cap(sc.alt) > maxPooled || cap(sc.params) > maxPooled/16 {
		return
	}
	scratchPool.Put(sc)
}
