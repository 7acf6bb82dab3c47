package hmacauth

import (
	"bytes"
	"strconv"
)

// MaxListedHeaders bounds the "headers" parameter. The proxy port refuses a
// request with more than 100 fields, so a longer list of distinct names can
// never be satisfied; the bound also keeps the duplicate check and the sort of
// application headers (both quadratic) cheap whatever a client sends.
const MaxListedHeaders = 100

// Header is a parsed Authorization value. ID, Algorithm and Signature are
// slices of the parsed value, and so is each name in Headers unless it had to
// be lower-cased, in which case it points into memory owned by the Header.
// They stay valid until that value is modified or the Header is parsed into
// again; reusing one Header per connection keeps parsing free of allocations.
type Header struct {
	ID, Algorithm, Signature []byte
	// Headers are the names listed in the "headers" parameter, lower-cased,
	// in the order listed.
	Headers [][]byte

	lower []byte // lower-cased copies of names sent with upper-case letters
}

// Bits of the parameters seen, to refuse a repeated or missing one.
const (
	paramID = 1 << iota
	paramAlgorithm
	paramHeaders
	paramSignature
	paramAll = paramID | paramAlgorithm | paramHeaders | paramSignature
)

// ParseAuthorization parses an Authorization value of the form
//
//	hmac id="...", algorithm="...", headers="...", signature="..."
//
// into h. The scheme and parameter names are case-insensitive, the
// parameters may come in any order, spaces and tabs are allowed around "="
// and ",", and every parameter must appear exactly once with a non-empty
// quoted value. Quoted values hold printable ASCII other than '"' and '\\':
// there are no escapes, so a client library that escapes cannot produce a
// value the gateway reads differently. Unknown parameters are refused. Errors
// are *Error with Part "authorization", or "headers" for a bad header list.
func ParseAuthorization(v []byte, h *Header) error {
	h.ID, h.Algorithm, h.Signature = nil, nil, nil
	h.Headers = h.Headers[:0]
	h.lower = h.lower[:0]

	i := skipOWS(v, 0)
	if len(v)-i < len("hmac") || !equalFold(v[i:i+4], "hmac") {
		return fail("authorization", "Authorization is not an hmac signature (expected: hmac id=\"...\", algorithm=\"...\", headers=\"...\", signature=\"...\")")
	}
	i += 4
	if i == len(v) || !isOWS(v[i]) {
		return fail("authorization", "Authorization is not an hmac signature (expected: hmac id=\"...\", algorithm=\"...\", headers=\"...\", signature=\"...\")")
	}
	i = skipOWS(v, i)

	var list []byte
	seen := 0
	for {
		start := i
		for i < len(v) && isTchar(v[i]) {
			i++
		}
		name := v[start:i]
		if len(name) == 0 {
			return fail("authorization", "malformed Authorization: expected a parameter name at byte "+strconv.Itoa(i))
		}
		i = skipOWS(v, i)
		if i == len(v) || v[i] != '=' {
			return fail("authorization", "malformed Authorization: expected = after "+quote(name))
		}
		i = skipOWS(v, i+1)
		if i == len(v) || v[i] != '"' {
			return fail("authorization", "malformed Authorization: the value of "+quote(name)+" must be in double quotes")
		}
		i++
		start = i
		for i < len(v) && v[i] != '"' {
			if c := v[i]; c < 0x20 || c > 0x7e || c == '\\' {
				return fail("authorization", "malformed Authorization: the value of "+quote(name)+" has a byte that is not printable ASCII or a backslash (values have no escapes)")
			}
			i++
		}
		if i == len(v) {
			return fail("authorization", "malformed Authorization: the value of "+quote(name)+" has no closing quote")
		}
		val := v[start:i]
		i++

		var bit int
		switch {
		case equalFold(name, "id"):
			bit, h.ID = paramID, val
		case equalFold(name, "algorithm"):
			bit, h.Algorithm = paramAlgorithm, val
		case equalFold(name, "headers"):
			bit, list = paramHeaders, val
		case equalFold(name, "signature"):
			bit, h.Signature = paramSignature, val
		default:
			return fail("authorization", "unknown Authorization parameter "+quote(name)+" (known: id, algorithm, headers, signature)")
		}
		if seen&bit != 0 {
			return fail("authorization", "Authorization parameter "+quote(name)+" appears twice")
		}
		seen |= bit
		if len(val) == 0 {
			return fail("authorization", "Authorization parameter "+quote(name)+" is empty")
		}

		i = skipOWS(v, i)
		if i == len(v) {
			break
		}
		if v[i] != ',' {
			return fail("authorization", "malformed Authorization: expected , between parameters at byte "+strconv.Itoa(i))
		}
		i = skipOWS(v, i+1)
		if i == len(v) {
			return fail("authorization", "malformed Authorization: a comma ends the value")
		}
	}
	if seen != paramAll {
		for _, p := range [...]struct {
			bit  int
			name string
		}{{paramID, "id"}, {paramAlgorithm, "algorithm"}, {paramHeaders, "headers"}, {paramSignature, "signature"}} {
			if seen&p.bit == 0 {
				return fail("authorization", "Authorization has no "+p.name+" parameter")
			}
		}
	}
	return h.parseList(list)
}

// parseList splits the "headers" value into lower-cased names.
func (h *Header) parseList(list []byte) error {
	// Reserve room for every lower-cased copy first: appending to h.lower
	// while earlier names point into it would leave them pointing into the
	// old array after a reallocation.
	need := 0
	for _, c := range list {
		if 'A' <= c && c <= 'Z' {
			need = len(list)
			break
		}
	}
	if cap(h.lower) < need {
		h.lower = make([]byte, 0, need)
	}

	for i := 0; ; {
		i = skipOWS(list, i)
		if i == len(list) {
			break
		}
		start := i
		upper := false
		for i < len(list) && !isOWS(list[i]) {
			c := list[i]
			if !isTchar(c) {
				return fail("headers", "headers lists "+quote(list[start:i+1])+", which is not a header name")
			}
			upper = upper || ('A' <= c && c <= 'Z')
			i++
		}
		name := list[start:i]
		if upper {
			n := len(h.lower)
			for _, c := range name {
				h.lower = append(h.lower, toLower(c))
			}
			name = h.lower[n:len(h.lower):len(h.lower)]
		}
		for _, prev := range h.Headers {
			if bytes.Equal(prev, name) {
				return fail("headers", "headers lists "+quote(name)+" twice")
			}
		}
		if len(h.Headers) == MaxListedHeaders {
			return fail("headers", "headers lists more than "+strconv.Itoa(MaxListedHeaders)+" names")
		}
		h.Headers = append(h.Headers, name)
	}
	if len(h.Headers) == 0 {
		return fail("headers", "headers lists no header (it must list at least x-date or date)")
	}
	return nil
}

// Append appends h in the form ParseAuthorization reads, with the parameters
// in the usual order and the header names joined by single spaces. Clients
// and tests use it to build the header; for a Header that ParseAuthorization
// accepted, parsing the result gives the same Header back.
func (h *Header) Append(dst []byte) []byte {
	dst = append(dst, `hmac id="`...)
	dst = append(dst, h.ID...)
	dst = append(dst, `", algorithm="`...)
	dst = append(dst, h.Algorithm...)
	dst = append(dst, `", headers="`...)
	for i, name := range h.Headers {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, name...)
	}
	dst = append(dst, `", signature="`...)
	dst = append(dst, h.Signature...)
	return append(dst, '"')
}

// lists reports whether h lists the header name (lower case).
func (h *Header) lists(name string) bool {
	for _, n := range h.Headers {
		if string(n) == name {
			return true
		}
	}
	return false
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func skipOWS(b []byte, i int) int {
	for i < len(b) && isOWS(b[i]) {
		i++
	}
	return i
}

// trimOWS removes the optional whitespace around a field value (RFC 9110
// 5.5), which is not part of the value and which some clients add.
func trimOWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isOWS(b[i]) {
		i++
	}
	for j > i && isOWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// isTchar reports whether c may appear in a token (RFC 9110 5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func toUpper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// equalFold compares ASCII case-insensitively; lower must be lower case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		if toLower(b[i]) != lower[i] {
			return false
		}
	}
	return true
}
