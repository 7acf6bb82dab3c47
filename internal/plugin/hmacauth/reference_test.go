package hmacauth

// A reference signer written from the rules alone, the way a client would:
// strings.Builder, sort, net/url and crypto/hmac, no code shared with the
// package. The tests sign requests with it and check that the package accepts
// them, so a mistake has to be made twice, in two styles, to go unnoticed.

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"net/url"
	"sort"
	"strings"
)

// testRequest implements Request over plain fields; Field allocates nothing,
// so benchmarks measure the package.
type testRequest struct {
	method, path, query, body []byte
	fields                    []testField
}

type testField struct {
	name  string // lower case
	value []byte
}

// newRequest builds a request from a method, a target ("/path?query", the
// environment prefix already removed), header lines "Name: value" and a body.
func newRequest(method, target string, headers []string, body string) *testRequest {
	r := &testRequest{method: []byte(method), body: []byte(body)}
	path, query, _ := strings.Cut(target, "?")
	r.path, r.query = []byte(path), []byte(query)
	for _, line := range headers {
		name, value, _ := strings.Cut(line, ":")
		r.fields = append(r.fields, testField{strings.ToLower(name), []byte(value)})
	}
	return r
}

func (r *testRequest) Field(name string) ([]byte, bool) {
	for _, f := range r.fields {
		if f.name == name {
			return f.value, true
		}
	}
	return nil, false
}

func (r *testRequest) Method() []byte { return r.method }
func (r *testRequest) Path() []byte   { return r.path }
func (r *testRequest) Query() []byte  { return r.query }
func (r *testRequest) HasBody() bool  { return len(r.body) > 0 }

func (r *testRequest) Form() []byte {
	ct, _ := r.Field("content-type")
	mt, _, _ := bytes.Cut(ct, []byte(";"))
	if bytes.EqualFold(bytes.TrimSpace(mt), []byte("application/x-www-form-urlencoded")) {
		if r.body == nil {
			return []byte{}
		}
		return r.body
	}
	return nil
}

func isFormType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// clone copies r deeply, for mutations.
func (r *testRequest) clone() *testRequest {
	c := &testRequest{
		method: append([]byte(nil), r.method...),
		path:   append([]byte(nil), r.path...),
		query:  append([]byte(nil), r.query...),
		body:   append([]byte(nil), r.body...),
	}
	for _, f := range r.fields {
		c.fields = append(c.fields, testField{f.name, append([]byte(nil), f.value...)})
	}
	return c
}

// set replaces (or adds) a field.
func (r *testRequest) set(name, value string) {
	for i := range r.fields {
		if r.fields[i].name == name {
			r.fields[i].value = []byte(value)
			return
		}
	}
	r.fields = append(r.fields, testField{name, []byte(value)})
}

// del removes a field.
func (r *testRequest) del(name string) {
	out := r.fields[:0]
	for _, f := range r.fields {
		if f.name != name {
			out = append(out, f)
		}
	}
	r.fields = out
}

func (r *testRequest) get(name string) string {
	v, _ := r.Field(name)
	return strings.Trim(string(v), " \t")
}

// refKeyString is the key-pair signing string.
func refKeyString(r *testRequest, names []string) string {
	lines := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.ToLower(n)
		lines = append(lines, n+": "+r.get(n))
	}
	return strings.Join(lines, "\n")
}

// refAppString is the application signing string; ok is false when net/url
// cannot decode the path, query or form (the package must then refuse).
func refAppString(r *testRequest, names []string) (s string, ok bool) {
	sorted := make([]string, len(names))
	for i, n := range names {
		sorted[i] = strings.ToLower(n)
	}
	sort.Strings(sorted)
	var part1 strings.Builder
	for _, n := range sorted {
		part1.WriteString(n + ": " + r.get(n) + "\n")
	}

	ct := r.get("content-type")
	isForm := isFormType(ct)
	md5v := ""
	if len(r.body) > 0 && !isForm {
		md5v = r.get("content-md5")
	}

	path, err := url.PathUnescape(string(r.path))
	if err != nil {
		return "", false
	}
	values, err := url.ParseQuery(string(r.query))
	if err != nil {
		return "", false
	}
	if isForm {
		form, err := url.ParseQuery(string(r.body))
		if err != nil {
			return "", false
		}
		for k, vs := range form {
			values[k] = append(values[k], vs...)
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var params []string
	for _, k := range keys {
		vs := values[k]
		sort.Strings(vs)
		for _, v := range vs {
			if v == "" {
				params = append(params, k)
			} else {
				params = append(params, k+"="+v)
			}
		}
	}
	part6 := path
	if len(params) > 0 {
		part6 += "?" + strings.Join(params, "&")
	}
	return strings.Join([]string{
		part1.String(),
		strings.ToUpper(string(r.method)),
		r.get("accept"),
		ct,
		md5v,
		part6,
	}, "\n"), true
}

var refHashes = map[string]func() hash.Hash{
	"hmac-sha1":   sha1.New,
	"hmac-sha256": sha256.New,
	"hmac-sha384": sha512.New384,
	"hmac-sha512": sha512.New,
}

func refSign(algorithm, secret, signingString string) string {
	m := hmac.New(refHashes[algorithm], []byte(secret))
	m.Write([]byte(signingString))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func refAuthorization(id, algorithm string, names []string, signature string) string {
	return `hmac id="` + id + `", algorithm="` + algorithm + `", headers="` + strings.Join(names, " ") + `", signature="` + signature + `"`
}

func refMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return base64.StdEncoding.EncodeToString(sum[:])
}
