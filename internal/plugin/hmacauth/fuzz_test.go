package hmacauth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParseAuthorization: any input either fails with an *Error or parses
// into a Header that Append writes back in a form that parses to the same
// Header.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		`hmac id="k1", algorithm="hmac-sha256", headers="x-date source", signature="c2lnbmF0dXJl"`,
		`HMAC signature="s", headers="Date Source", algorithm="hmac-sha1", id="a b"`,
		"  Hmac\tid = \"k\" ,algorithm=\"a\",\theaders=\"  X-Date   Content-MD5 \"  ,  signature  =  \"s\"  ",
		`hmac id="k", algorithm="a", headers="x-date", signature="s", nonce="n"`,
		`hmac id="k\"", algorithm="a", headers="x-date", signature="s"`,
		`hmac id="k", algorithm="a", headers="x-date X-DATE", signature="s"`,
		`hmac id="k",, algorithm="a"`,
		`Bearer x`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		orig := bytes.Clone(v)
		var h Header
		err := ParseAuthorization(v, &h)
		if !bytes.Equal(v, orig) {
			t.Fatalf("ParseAuthorization modified its input")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Part != "authorization" && e.Part != "headers") || e.Message == "" {
				t.Fatalf("error %#v", err)
			}
			return
		}
		if len(h.ID) == 0 || len(h.Algorithm) == 0 || len(h.Signature) == 0 || len(h.Headers) == 0 || len(h.Headers) > MaxListedHeaders {
			t.Fatalf("accepted with an empty part: %+v", h)
		}
		for i, n := range h.Headers {
			if len(n) == 0 || !bytes.Equal(n, bytes.ToLower(n)) || bytes.ContainsAny(n, " \t\",") {
				t.Fatalf("header name %q", n)
			}
			for _, m := range h.Headers[:i] {
				if bytes.Equal(m, n) {
					t.Fatalf("repeated header name %q", n)
				}
			}
		}
		out := h.Append(nil)
		var h2 Header
		if err := ParseAuthorization(out, &h2); err != nil {
			t.Fatalf("re-parsing %q: %v", out, err)
		}
		if !bytes.Equal(h.ID, h2.ID) || !bytes.Equal(h.Algorithm, h2.Algorithm) || !bytes.Equal(h.Signature, h2.Signature) ||
			!bytes.Equal(bytes.Join(h.Headers, []byte(" ")), bytes.Join(h2.Headers, []byte(" "))) || len(h.Headers) != len(h2.Headers) {
			t.Fatalf("round trip: %+v became %+v", h, h2)
		}
		if again := h2.Append(nil); !bytes.Equal(again, out) {
			t.Fatalf("Append not stable: %q then %q", out, again)
		}
	})
}

// FuzzSigningStrings builds both signing strings of arbitrary requests and
// compares them with the reference signer wherever net/url can decode the
// request; where it cannot because of a malformed escape, the package must
// refuse too.
func FuzzSigningStrings(f *testing.F) {
	f.Add("GET", "/orders?tag=b&tag=a&empty=&flag", "", "", "application/json", "", "web", "x-date source")
	f.Add("post", "/a%20b?x=%2B+y", "b=2&a=1&a=", "application/x-www-form-urlencoded; charset=utf-8", "*/*", "bWQ1", " s ", "Source X-Date accept")
	f.Add("PUT", "/p", `{"a":1}`, "application/json", "", "abc==", "", "x-date content-md5 content-type")
	f.Add("GET", "/a%zz?x=%", "", "", "", "", "", "date")
	f.Add("GET", "/a?x=1;y=2&%", "q=%%", "application/x-www-form-urlencoded", "", "", "", "x-date missing")
	f.Fuzz(func(t *testing.T, method, target, body, ctype, accept, md5v, source, list string) {
		if method == "" || strings.IndexFunc(method, func(c rune) bool { return !isTchar(byte(c)) || c > 0x7e }) >= 0 {
			method = "GET" // a method is a token; the reference upper-cases Unicode
		}
		r := newRequest(method, target, []string{
			"x-date:" + fixedDate, "content-type:" + ctype, "accept:" + accept, "content-md5:" + md5v, "source:" + source,
		}, body)
		var h Header
		auth := refAuthorization("id", "hmac-sha256", strings.Fields(list), "s")
		if ParseAuthorization([]byte(auth), &h) != nil {
			return
		}
		names := strings.Fields(strings.ToLower(list))
		missing, dated := false, false
		for _, n := range names {
			if _, ok := r.Field(n); !ok {
				missing = true
			}
			dated = dated || n == "x-date" || n == "date"
		}

		key, err := KeySigningString(nil, &h, r)
		switch {
		case !dated || missing:
			if partOf(t, err) != "headers" {
				t.Fatalf("key, listed %q: got %v, want a headers error", names, err)
			}
		case err != nil:
			t.Fatalf("key: %v", err)
		case string(key) != refKeyString(r, names):
			t.Fatalf("key signing string\n%q\nwant\n%q", key, refKeyString(r, names))
		}

		app, err := AppSigningString(nil, &h, r)
		if !h.lists("x-date") || missing {
			if partOf(t, err) != "headers" {
				t.Fatalf("app, listed %q: got %v, want a headers error", names, err)
			}
			return
		}
		want, ok := refAppString(r, names)
		switch {
		case ok && err != nil:
			t.Fatalf("app: %v; the reference signs %q", err, want)
		case ok && string(app) != want:
			t.Fatalf("app signing string\n%q\nwant\n%q", app, want)
		case !ok && err == nil && !strings.Contains(target+body, ";"):
			t.Fatalf("app: net/url refuses %q %q, the package signs %q", target, body, app)
		case err != nil:
			if p := partOf(t, err); p != "path" && p != "query" && p != "form" {
				t.Fatalf("app: %v", err)
			}
		}
	})
}
