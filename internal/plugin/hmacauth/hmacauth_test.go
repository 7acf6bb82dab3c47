package hmacauth

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const fixedDate = "Mon, 30 Nov 2026 10:00:00 GMT"

var fixedNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// partOf returns the Part of err, or "" when err is nil; it fails the test on
// an error that is not an *Error.
func partOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e.Part
}

// ---- Authorization parsing ----

func TestParseAuthorization(t *testing.T) {
	ok := []struct {
		in           string
		id, alg, sig string
		headers      []string
	}{
		{`hmac id="k1", algorithm="hmac-sha256", headers="x-date source", signature="c2ln"`, "k1", "hmac-sha256", "c2ln", []string{"x-date", "source"}},
		{`HMAC signature="s", headers="Date Source", algorithm="hmac-sha1", id="a b"`, "a b", "hmac-sha1", "s", []string{"date", "source"}},
		{"  Hmac\tid = \"k\" ,algorithm=\"a\",\theaders=\"  X-Date   Content-MD5 \"  ,  signature  =  \"s\"  ", "k", "a", "s", []string{"x-date", "content-md5"}},
		{`hmac ID="k", Algorithm="a", HEADERS="x-date", Signature="s"`, "k", "a", "s", []string{"x-date"}},
		{`hmac id="k=,;'", algorithm="a", headers="x-date", signature="+/=="`, "k=,;'", "a", "+/==", []string{"x-date"}},
	}
	for _, c := range ok {
		var h Header
		if err := ParseAuthorization([]byte(c.in), &h); err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		var names []string
		for _, n := range h.Headers {
			names = append(names, string(n))
		}
		if string(h.ID) != c.id || string(h.Algorithm) != c.alg || string(h.Signature) != c.sig || strings.Join(names, " ") != strings.Join(c.headers, " ") {
			t.Errorf("%q: got id=%q alg=%q sig=%q headers=%q", c.in, h.ID, h.Algorithm, h.Signature, names)
		}
	}

	bad := []struct{ in, part, msg string }{
		{``, "authorization", "not an hmac"},
		{`Bearer abc`, "authorization", "not an hmac"},
		{`hmac`, "authorization", "not an hmac"},
		{`hmacid="k"`, "authorization", "not an hmac"},
		{`hmac id="k", algorithm="a", headers="x-date"`, "authorization", "no signature"},
		{`hmac id="k", algorithm="a", signature="s"`, "authorization", "no headers"},
		{`hmac id="k", id="j", algorithm="a", headers="x-date", signature="s"`, "authorization", "twice"},
		{`hmac id="k", algorithm="a", headers="x-date", signature="s", nonce="n"`, "authorization", "unknown Authorization parameter \"nonce\""},
		{`hmac id="k", algorithm="a", headers="x-date", signature="s",`, "authorization", "comma ends"},
		{`hmac id="k",, algorithm="a", headers="x-date", signature="s"`, "authorization", "parameter name"},
		{`hmac id="k" algorithm="a", headers="x-date", signature="s"`, "authorization", "expected ,"},
		{`hmac id=k, algorithm="a", headers="x-date", signature="s"`, "authorization", "double quotes"},
		{`hmac id="k, algorithm="a", headers="x-date", signature="s"`, "authorization", ""},
		{`hmac id="k\"x", algorithm="a", headers="x-date", signature="s"`, "authorization", "backslash"},
		{"hmac id=\"k\x01\", algorithm=\"a\", headers=\"x-date\", signature=\"s\"", "authorization", "printable"},
		{"hmac id=\"k\xc3\xa9\", algorithm=\"a\", headers=\"x-date\", signature=\"s\"", "authorization", "printable"},
		{`hmac id="", algorithm="a", headers="x-date", signature="s"`, "authorization", "empty"},
		{`hmac id="k", algorithm="a", headers="x-date", signature="s`, "authorization", "no closing quote"},
		{`hmac id="k", algorithm="a", headers="   ", signature="s"`, "headers", "no header"},
		{`hmac id="k", algorithm="a", headers="x-date X-Date", signature="s"`, "headers", "twice"},
		{`hmac id="k", algorithm="a", headers="x-date a(b)", signature="s"`, "headers", "not a header name"},
		{`hmac id="k", algorithm="a", headers="x-date h source h", signature="s"`, "headers", "twice"},
	}
	for _, c := range bad {
		var h Header
		err := ParseAuthorization([]byte(c.in), &h)
		if got := partOf(t, err); got != c.part || !strings.Contains(fmt.Sprint(err), c.msg) {
			t.Errorf("%q: got %v (part %q), want part %q containing %q", c.in, err, got, c.part, c.msg)
		}
	}

	// More than MaxListedHeaders distinct names.
	var list []string
	for i := 0; i <= MaxListedHeaders; i++ {
		list = append(list, fmt.Sprintf("h%d", i))
	}
	var h Header
	err := ParseAuthorization([]byte(refAuthorization("k", "a", list, "s")), &h)
	if partOf(t, err) != "headers" {
		t.Errorf("%d listed headers: got %v", len(list), err)
	}
	if err := ParseAuthorization([]byte(refAuthorization("k", "a", list[:MaxListedHeaders], "s")), &h); err != nil {
		t.Errorf("%d listed headers: %v", MaxListedHeaders, err)
	}
}

// A Header reused for a second value must not keep anything of the first,
// and lower-cased names must survive the growth of their buffer.
func TestParseAuthorizationReuse(t *testing.T) {
	var h Header
	long := `hmac id="k", algorithm="a", headers="X-Date A B C D E F G H I J K L M N O P Q R S T U V W X Y Z", signature="s"`
	if err := ParseAuthorization([]byte(long), &h); err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.Join(h.Headers, []byte(" "))); got != "x-date a b c d e f g h i j k l m n o p q r s t u v w x y z" {
		t.Fatalf("headers = %q", got)
	}
	if err := ParseAuthorization([]byte(`hmac id="j", algorithm="b", headers="Date", signature="t"`), &h); err != nil {
		t.Fatal(err)
	}
	if string(h.ID) != "j" || len(h.Headers) != 1 || string(h.Headers[0]) != "date" {
		t.Fatalf("reused header: %+v", h)
	}
	if err := ParseAuthorization([]byte(`Basic x`), &h); err == nil || h.ID != nil || len(h.Headers) != 0 {
		t.Fatalf("failed parse left %+v", h)
	}
}

// ---- the HMAC itself ----

// The package's own HMAC against crypto/hmac, for every algorithm, with keys
// on both sides of the block sizes (64 and 128) and messages of all lengths
// around them.
func TestHMACMatchesCryptoHMAC(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 20)
	key := bytes.Repeat([]byte{0xa5, 0x13, 0x7f}, 100)
	for _, a := range algorithms {
		for _, kl := range []int{0, 1, 20, 63, 64, 65, 127, 128, 129, 300} {
			for _, ml := range []int{0, 1, 55, 56, 63, 64, 65, 111, 112, 128, 300} {
				m := hmac.New(refHashes[a.name], key[:kl])
				m.Write(msg[:ml])
				want := m.Sum(nil)
				st := a.get()
				got := a.sum(st, key[:kl], msg[:ml])
				if !bytes.Equal(got, want) {
					t.Errorf("%s key %d msg %d: got %x want %x", a.name, kl, ml, got, want)
				}
				a.put(st)
			}
		}
	}
}

func TestVerify(t *testing.T) {
	ss := []byte("x-date: " + fixedDate)
	for _, alg := range KeyAlgorithms {
		h := &Header{Algorithm: []byte(strings.ToUpper(alg)), Signature: []byte(refSign(alg, "secret", string(ss)))}
		if err := Verify(h, KeyAlgorithms, []byte("secret"), ss); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		if got := partOf(t, Verify(h, KeyAlgorithms, []byte("secreT"), ss)); got != "signature" {
			t.Errorf("%s wrong secret: part %q", alg, got)
		}
		if got := partOf(t, Verify(h, KeyAlgorithms, nil, ss)); got != "secret" {
			t.Errorf("%s empty secret: part %q", alg, got)
		}
	}
	sig := refSign("hmac-sha256", "secret", string(ss))
	cases := []struct {
		alg, sig string
		allowed  []string
		part     string
		msg      string
	}{
		{"hmac-sha256", sig, AppAlgorithms, "", ""},
		{"hmac-sha512", refSign("hmac-sha512", "secret", string(ss)), AppAlgorithms, "algorithm", "not accepted here (accepted: hmac-sha1, hmac-sha256)"},
		{"hmac-md5", sig, KeyAlgorithms, "algorithm", `unknown algorithm "hmac-md5"`},
		{"hmac-sha256", sig, []string{"hmac-md5"}, "algorithm", "accepted: none"},
		{"hmac-sha256", sig[:len(sig)-1], KeyAlgorithms, "signature", "standard base64"},
		{"hmac-sha256", strings.TrimRight(sig, "="), KeyAlgorithms, "signature", "standard base64"},
		{"hmac-sha256", refSign("hmac-sha1", "secret", string(ss)), KeyAlgorithms, "signature", "44 characters"},
		{"hmac-sha256", "!" + sig[1:], KeyAlgorithms, "signature", "standard base64"},
		// Same bytes, non-zero padding bits: one signature has one spelling.
		{"hmac-sha256", sig[:42] + string(sig[42]+1) + "=", KeyAlgorithms, "signature", ""},
		{"hmac-sha256", "A" + sig[1:], KeyAlgorithms, "signature", "signature mismatch"},
	}
	for _, c := range cases {
		h := &Header{Algorithm: []byte(c.alg), Signature: []byte(c.sig)}
		err := Verify(h, c.allowed, []byte("secret"), ss)
		if got := partOf(t, err); got != c.part || (err != nil && !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%s %q: got %v, want part %q with %q", c.alg, c.sig, err, c.part, c.msg)
		}
		if err != nil && (strings.Contains(err.Error(), "secret") && c.part != "secret" || strings.Contains(err.Error(), sig)) {
			t.Errorf("message leaks: %v", err)
		}
	}
}

// ---- dates ----

func TestCheckDate(t *testing.T) {
	for _, name := range []string{"x-date", "date"} {
		h := &Header{Headers: [][]byte{[]byte("source"), []byte(name)}}
		r := newRequest("GET", "/", []string{name + ": " + fixedDate, "source: s"}, "")
		for _, c := range []struct {
			offset time.Duration
			part   string
		}{
			{0, ""},
			{900 * time.Second, ""},
			{-900 * time.Second, ""},
			{900*time.Second + time.Nanosecond, "date"},
			{-900*time.Second - time.Nanosecond, "date"},
			{901 * time.Second, "date"},
			{-901 * time.Second, "date"},
			{24 * time.Hour, "date"},
		} {
			err := CheckDate(h, r, fixedNow.Add(c.offset), DateWindow)
			if got := partOf(t, err); got != c.part {
				t.Errorf("%s, now %v: got %v, want part %q", name, c.offset, err, c.part)
			}
			if err != nil && !strings.Contains(err.Error(), "date out of window") {
				t.Errorf("%s: message %q does not name the check", name, err)
			}
		}
	}
	err := CheckDate(&Header{Headers: [][]byte{[]byte("date")}}, newRequest("GET", "/", []string{"date: " + fixedDate}, ""), fixedNow.Add(-1000*time.Second), DateWindow)
	if err == nil || !strings.Contains(err.Error(), "1000 s ahead") {
		t.Errorf("ahead: %v", err)
	}

	// x-date is the one checked when both are listed.
	h := &Header{Headers: [][]byte{[]byte("date"), []byte("x-date")}}
	r := newRequest("GET", "/", []string{"date: Sun, 01 Jan 2006 00:00:00 GMT", "x-date: " + fixedDate}, "")
	if err := CheckDate(h, r, fixedNow, DateWindow); err != nil {
		t.Errorf("both listed: %v", err)
	}

	for _, c := range []struct {
		listed, sent, value, part string
	}{
		{"source", "x-date", fixedDate, "headers"},
		{"x-date", "date", fixedDate, "headers"},
		{"x-date", "x-date", "  " + fixedDate + "\t", ""},
		{"x-date", "x-date", "Mon, 30 Nov 2026 10:00:00 UTC", "date"},
		{"x-date", "x-date", "Tue, 30 Nov 2026 10:00:00 GMT", "date"},
		{"x-date", "x-date", "mon, 30 nov 2026 10:00:00 GMT", "date"},
		{"x-date", "x-date", "Monday, 30-Nov-26 10:00:00 GMT", "date"},
		{"x-date", "x-date", "Mon Nov 30 10:00:00 2026", "date"},
		{"x-date", "x-date", "Tue, 31 Nov 2026 10:00:00 GMT", "date"},
		{"x-date", "x-date", "Mon, 30 Nov 2026 24:00:00 GMT", "date"},
		{"x-date", "x-date", "Mon, 30 Nov 2026 10:60:00 GMT", "date"},
		{"x-date", "x-date", "Mon, 30 Nov 2026 10:00:60 GMT", "date"},
		{"x-date", "x-date", "Mon,  30 Nov 2026 10:00:00 GMT", "date"},
		{"x-date", "x-date", "Mon, 00 Nov 2026 10:00:00 GMT", "date"},
		{"x-date", "x-date", "1796032800", "date"},
		{"x-date", "x-date", "2026-11-30T10:00:00Z", "date"},
	} {
		h := &Header{Headers: [][]byte{[]byte(c.listed)}}
		r := newRequest("GET", "/", []string{c.sent + ": " + c.value}, "")
		err := CheckDate(h, r, fixedNow, DateWindow)
		if got := partOf(t, err); got != c.part {
			t.Errorf("listed %s, sent %s %q: got %v, want part %q", c.listed, c.sent, c.value, err, c.part)
		}
	}
}

// ---- key pairs ----

type keyCase struct {
	alg     string
	names   []string
	headers []string
}

func keyCases() []keyCase {
	var cs []keyCase
	for _, alg := range KeyAlgorithms {
		cs = append(cs,
			keyCase{alg, []string{"x-date", "source"}, []string{"X-Date: " + fixedDate, "Source: my-app"}},
			keyCase{alg, []string{"date", "source"}, []string{"Date: " + fixedDate, "Source:   cloud client  "}},
			keyCase{alg, []string{"date"}, []string{"Date: " + fixedDate}},
			keyCase{alg, []string{"Content-Type", "X-Date", "date", "source"}, []string{"content-type: application/json", "x-date: " + fixedDate, "date: " + fixedDate, "source: s", "accept: */*"}},
		)
	}
	return cs
}

func TestKeyRequests(t *testing.T) {
	const id, secret = "key-1", "s3cr3t key with spaces and ünïcode"
	for _, c := range keyCases() {
		r := newRequest("POST", "/orders/42", c.headers, `{"a":1}`)
		want := refKeyString(r, c.names)
		sig := refSign(c.alg, secret, want)
		var h Header
		if err := ParseAuthorization([]byte(refAuthorization(id, c.alg, c.names, sig)), &h); err != nil {
			t.Fatal(err)
		}
		got, err := KeySigningString([]byte("prefix:"), &h, r)
		if err != nil || string(got) != "prefix:"+want {
			t.Fatalf("%s %v: signing string %q, %v; want %q", c.alg, c.names, got, err, want)
		}
		if err := CheckDate(&h, r, fixedNow, DateWindow); err != nil {
			t.Fatalf("%s %v: %v", c.alg, c.names, err)
		}
		if err := Verify(&h, KeyAlgorithms, []byte(secret), got[len("prefix:"):]); err != nil {
			t.Fatalf("%s %v: Verify: %v", c.alg, c.names, err)
		}
		if err := CheckKey(&h, r, []byte(secret), fixedNow); err != nil {
			t.Fatalf("%s %v: CheckKey: %v", c.alg, c.names, err)
		}

		// The method, path and body are not signed by a key pair.
		m := r.clone()
		m.method, m.path, m.body = []byte("DELETE"), []byte("/elsewhere"), nil
		if err := CheckKey(&h, m, []byte(secret), fixedNow); err != nil {
			t.Errorf("%s %v: unsigned parts changed: %v", c.alg, c.names, err)
		}

		mutations := []struct {
			what   string
			change func(*testRequest)
			now    time.Time
			part   string
		}{
			{"a signed header's value", func(m *testRequest) {
				n := strings.ToLower(c.names[0])
				m.set(n, m.get(n)+"x")
			}, fixedNow, ""},
			{"the date, inside the window", func(m *testRequest) {
				for _, n := range []string{"x-date", "date"} {
					if _, ok := m.Field(n); ok {
						m.set(n, "Mon, 30 Nov 2026 10:00:01 GMT")
					}
				}
			}, fixedNow, "signature"},
			{"the clock, outside the window", func(*testRequest) {}, fixedNow.Add(901 * time.Second), "date"},
			{"a listed header removed", func(m *testRequest) { m.del(strings.ToLower(c.names[len(c.names)-1])) }, fixedNow, "headers"},
		}
		for _, mu := range mutations {
			m := r.clone()
			mu.change(m)
			part := mu.part
			if part == "" {
				part = "signature"
				if n := strings.ToLower(c.names[0]); n == "date" || n == "x-date" {
					part = "date" // the appended x makes it an invalid date
				}
			}
			err := CheckKey(&h, m, []byte(secret), mu.now)
			if got := partOf(t, err); got != part {
				t.Errorf("%s %v, %s changed: got %v, want part %q", c.alg, c.names, mu.what, err, part)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), sig)) {
				t.Errorf("message leaks: %v", err)
			}
		}
		// Another algorithm with the same signature.
		for _, other := range KeyAlgorithms {
			if other == c.alg {
				continue
			}
			h2 := h
			h2.Algorithm = []byte(other)
			if got := partOf(t, CheckKey(&h2, r, []byte(secret), fixedNow)); got != "signature" {
				t.Errorf("%s signature as %s: part %q", c.alg, other, got)
			}
		}
	}
}

func TestKeyRequestNeedsDate(t *testing.T) {
	r := newRequest("GET", "/", []string{"source: s", "x-date: " + fixedDate}, "")
	h := &Header{Algorithm: []byte("hmac-sha256"), Headers: [][]byte{[]byte("source")}, Signature: []byte(refSign("hmac-sha256", "k", "source: s"))}
	if _, err := KeySigningString(nil, h, r); partOf(t, err) != "headers" {
		t.Errorf("KeySigningString without a date: %v", err)
	}
	if err := CheckKey(h, r, []byte("k"), fixedNow); partOf(t, err) != "headers" {
		t.Errorf("CheckKey without a date: %v", err)
	}
}

func TestKeyMismatchCarriesStringToSign(t *testing.T) {
	r := newRequest("GET", "/", []string{"x-date: " + fixedDate, "source: s"}, "")
	h := &Header{Algorithm: []byte("hmac-sha256"), Headers: [][]byte{[]byte("x-date"), []byte("source")}, Signature: []byte(refSign("hmac-sha256", "other", "x"))}
	err := CheckKey(h, r, []byte("k"), fixedNow)
	var e *Error
	if !errors.As(err, &e) || e.Part != "signature" || e.Message != "signature mismatch" || e.StringToSign != "x-date: "+fixedDate+"\nsource: s" {
		t.Fatalf("got %#v", err)
	}
}

// ---- applications ----

type appCase struct {
	name    string
	alg     string
	method  string
	target  string
	headers []string
	body    string
	names   []string
}

func appCases() []appCase {
	date := "X-Date: " + fixedDate
	json := `{"item":"book","count":2}`
	var cs []appCase
	for _, alg := range AppAlgorithms {
		cs = append(cs,
			appCase{"bare GET", alg, "GET", "/orders", []string{date}, "", []string{"x-date"}},
			appCase{"query with repeated and empty keys", alg, "GET",
				"/orders?tag=b&tag=a&empty=&flag&z=1&a=%20x+y&%C3%A9t%C3%A9=caf%C3%A9&&tag=a&k%3Dq=v%26w",
				[]string{date, "Accept: application/json"}, "", []string{"x-date"}},
			appCase{"form body with query", alg, "POST", "/orders?q=1&b=0",
				[]string{date, "Content-Type: application/x-www-form-urlencoded", "Accept: */*"},
				"b=2&a=1&a=0&note=hello+world&blank=&pct=100%25", []string{"x-date"}},
			appCase{"form with charset and a Content-MD5 that is not signed", alg, "PUT", "/f",
				[]string{date, "Content-Type: Application/X-WWW-Form-Urlencoded; charset=UTF-8", "Content-MD5: " + refMD5("x=1")},
				"x=1", []string{"x-date"}},
			appCase{"JSON with Content-MD5", alg, "POST", "/orders?channel=web",
				[]string{date, "Accept: application/json", "Content-Type: application/json; charset=utf-8", "Content-MD5: " + refMD5(json)},
				json, []string{"x-date"}},
			appCase{"JSON without Content-MD5", alg, "PATCH", "/orders/7",
				[]string{date, "Content-Type: application/json"}, json, []string{"x-date"}},
			appCase{"body without Content-Type", alg, "POST", "/raw",
				[]string{date, "Content-MD5: " + refMD5("raw bytes")}, "raw bytes", []string{"x-date"}},
			appCase{"several headers listed out of order, upper case", alg, "DELETE", "/orders/7",
				[]string{date, "Source: web ", "X-Ca-Nonce:\tabc-123", "Accept: text/plain"}, "",
				[]string{"X-Ca-Nonce", "source", "X-Date"}},
			appCase{"encoded path", alg, "GET", "/files/a%20b/%E2%9C%93+plus?x=%2B",
				[]string{date}, "", []string{"x-date"}},
			appCase{"lower-case method", alg, "post", "/orders",
				[]string{date, "Content-Type: text/plain", "Content-MD5: " + refMD5("hi")}, "hi", []string{"x-date"}},
			appCase{"date header too", alg, "GET", "/orders?a",
				[]string{date, "Date: " + fixedDate}, "", []string{"date", "x-date"}},
		)
	}
	return cs
}

func TestAppRequests(t *testing.T) {
	const id, secret = "app-1", "app secret"
	for _, c := range appCases() {
		name := c.alg + " " + c.name
		r := newRequest(c.method, c.target, c.headers, c.body)
		want, ok := refAppString(r, c.names)
		if !ok {
			t.Fatalf("%s: the reference cannot sign it", name)
		}
		sig := refSign(c.alg, secret, want)
		var h Header
		if err := ParseAuthorization([]byte(refAuthorization(id, c.alg, c.names, sig)), &h); err != nil {
			t.Fatal(err)
		}
		got, err := AppSigningString(nil, &h, r)
		if err != nil || string(got) != want {
			t.Fatalf("%s: signing string\n%q, %v\nwant\n%q", name, got, err, want)
		}
		if err := Verify(&h, AppAlgorithms, []byte(secret), got); err != nil {
			t.Fatalf("%s: Verify: %v", name, err)
		}
		if err := CheckApp(&h, r, []byte(secret), fixedNow); err != nil {
			t.Fatalf("%s: CheckApp: %v", name, err)
		}

		type mutation struct {
			what   string
			change func(*testRequest)
			now    time.Time
			part   string
		}
		mutations := []mutation{
			{"method", func(m *testRequest) { m.method = []byte("OPTIONS") }, fixedNow, "signature"},
			{"path", func(m *testRequest) { m.path = append(m.path, 'x') }, fixedNow, "signature"},
			{"x-date inside the window", func(m *testRequest) { m.set("x-date", "Mon, 30 Nov 2026 09:59:59 GMT") }, fixedNow, "signature"},
			{"clock outside the window", func(*testRequest) {}, fixedNow.Add(-901 * time.Second), "date"},
			{"x-date removed", func(m *testRequest) { m.del("x-date") }, fixedNow, "headers"},
			{"Accept", func(m *testRequest) { m.set("accept", "text/html") }, fixedNow, "signature"},
			{"Content-Type", func(m *testRequest) { m.set("content-type", "text/html") }, fixedNow, "signature"},
			{"a query parameter added", func(m *testRequest) { m.query = append(m.query, "&added=1"...) }, fixedNow, "signature"},
		}
		if len(c.names) > 1 {
			last := strings.ToLower(c.names[0])
			mutations = append(mutations,
				mutation{"a listed header's value", func(m *testRequest) { m.set(last, m.get(last)+"x") }, fixedNow, "signature"},
				mutation{"a listed header removed", func(m *testRequest) { m.del(last) }, fixedNow, "headers"})
		}
		if i := bytes.IndexByte(r.query, '='); i >= 0 {
			mutations = append(mutations, mutation{"a query value", func(m *testRequest) { m.query[i+1] = '~' }, fixedNow, "signature"})
		}
		if r.Form() != nil {
			mutations = append(mutations,
				mutation{"a form value", func(m *testRequest) { m.body = append(m.body, 'z') }, fixedNow, "signature"},
				mutation{"the form as JSON", func(m *testRequest) { m.set("content-type", "application/json") }, fixedNow, "signature"})
		} else if len(r.body) > 0 {
			if _, ok := r.Field("content-md5"); ok {
				mutations = append(mutations, mutation{"Content-MD5", func(m *testRequest) { m.set("content-md5", refMD5("other")) }, fixedNow, "signature"})
			}
			mutations = append(mutations, mutation{"the body made a form", func(m *testRequest) {
				m.set("content-type", "application/x-www-form-urlencoded")
			}, fixedNow, "signature"})
		}
		for _, mu := range mutations {
			m := r.clone()
			mu.change(m)
			err := CheckApp(&h, m, []byte(secret), mu.now)
			if got := partOf(t, err); got != mu.part {
				t.Errorf("%s, %s changed: got %v, want part %q", name, mu.what, err, mu.part)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), sig)) {
				t.Errorf("message leaks: %v", err)
			}
		}
		// Key-pair algorithms are not accepted for applications.
		h2 := h
		h2.Algorithm = []byte("hmac-sha512")
		if got := partOf(t, CheckApp(&h2, r, []byte(secret), fixedNow)); got != "algorithm" {
			t.Errorf("%s: hmac-sha512 app: part %q", name, got)
		}
	}
}

// The signing string of a typical request, written out: the empty line after
// the headers, the empty Accept line, the decoded and sorted parameters.
func TestAppSigningStringLiteral(t *testing.T) {
	r := newRequest("post", "/orders/a%20b?tag=b&tag=a&flag=&q=x+y", []string{
		"X-Date: " + fixedDate, "Content-Type: application/json", "Content-MD5: abc==", "Source: web",
	}, "{}")
	h := &Header{Headers: [][]byte{[]byte("x-date"), []byte("source")}}
	got, err := AppSigningString(nil, h, r)
	want := "source: web\nx-date: " + fixedDate + "\n" +
		"\n" +
		"POST\n" +
		"\n" +
		"application/json\n" +
		"abc==\n" +
		"/orders/a b?flag&q=x y&tag=a&tag=b"
	if err != nil || string(got) != want {
		t.Fatalf("got\n%q, %v\nwant\n%q", got, err, want)
	}
}

func TestAppSigningStringErrors(t *testing.T) {
	h := &Header{Headers: [][]byte{[]byte("x-date")}}
	for _, c := range []struct {
		target, ct, body, part string
	}{
		{"/a%zz", "", "", "path"},
		{"/a%2", "", "", "path"},
		{"/a?x=%", "", "", "query"},
		{"/a?%g0=1", "", "", "query"},
		{"/a", "application/x-www-form-urlencoded", "a=%%", "form"},
		{"/a", "application/json", "a=%%", ""},
		{"/a?x=1;y=2", "", "", ""},
	} {
		r := newRequest("GET", c.target, []string{"x-date: " + fixedDate, "content-type: " + c.ct}, c.body)
		got, err := AppSigningString([]byte("keep"), h, r)
		if p := partOf(t, err); p != c.part {
			t.Errorf("%s %q: got %v, want part %q", c.target, c.body, err, c.part)
		}
		if err != nil && string(got) != "keep" {
			t.Errorf("%s: dst changed on error: %q", c.target, got)
		}
	}
	if _, err := AppSigningString(nil, &Header{Headers: [][]byte{[]byte("date")}}, newRequest("GET", "/", []string{"date: " + fixedDate}, "")); partOf(t, err) != "headers" {
		t.Errorf("app without x-date: %v", err)
	}
}

// After a mismatch CheckApp names the part a client most likely got wrong.
func TestAppMismatchHints(t *testing.T) {
	const secret = "app secret"
	names := []string{"x-date", "source"}
	part1 := "source: web\nx-date: " + fixedDate + "\n"
	json := func() *testRequest {
		return newRequest("POST", "/orders?tag=b%20c&tag=a", []string{
			"x-date: " + fixedDate, "source: web", "accept: application/json", "content-type: application/json", "content-md5: " + refMD5("{}"),
		}, "{}")
	}
	form := func() *testRequest {
		r := json()
		r.set("content-type", "application/x-www-form-urlencoded")
		r.set("content-md5", refMD5("f=1"))
		r.body = []byte("f=1")
		return r
	}
	curl := func() *testRequest { // curl added Accept and a form Content-Type
		r := json()
		r.set("accept", "*/*")
		r.set("content-type", "application/x-www-form-urlencoded")
		return r
	}
	correct := part1 + "\nPOST\napplication/json\napplication/json\n" + refMD5("{}") + "\n/orders?tag=a&tag=b c"
	for _, c := range []struct {
		hint     string
		request  func() *testRequest
		clientSS string // what the client signed
	}{
		{"", json, correct + "x"},
		{"percent-encoded", json, strings.Replace(correct, "tag=b c", "tag=b%20c", 1)},
		{"empty line after the headers", json, strings.Replace(correct, "\n\nPOST", "\nPOST", 1)},
		{"listed order", json, "x-date: " + fixedDate + "\nsource: web\n" + strings.TrimPrefix(correct, part1)},
		{"trailing", json, correct + "\n"},
		{"it matches Accept signed empty", json, strings.Replace(correct, "POST\napplication/json\n", "POST\n\n", 1)},
		{"Accept and Content-Type signed empty", curl, part1 + "\nPOST\n\n\n" + refMD5("{}") + "\n/orders?tag=a&tag=b c"},
		{"form parameters left out", form, part1 + "\nPOST\napplication/json\napplication/x-www-form-urlencoded\n\n/orders?tag=a&tag=b c"},
		{"Content-MD5 signed for a form", form, part1 + "\nPOST\napplication/json\napplication/x-www-form-urlencoded\n" + refMD5("f=1") + "\n/orders?f=1&tag=a&tag=b c"},
	} {
		r := c.request()
		var h Header
		if err := ParseAuthorization([]byte(refAuthorization("app", "hmac-sha256", names, refSign("hmac-sha256", secret, c.clientSS))), &h); err != nil {
			t.Fatal(err)
		}
		err := CheckApp(&h, r, []byte(secret), fixedNow)
		var e *Error
		if !errors.As(err, &e) || e.Part != "signature" || !strings.HasPrefix(e.Message, "signature mismatch") {
			t.Fatalf("%s: got %v", c.hint, err)
		}
		if c.hint == "" && e.Message != "signature mismatch" || !strings.Contains(e.Message, c.hint) {
			t.Errorf("want a hint with %q, got %q", c.hint, e.Message)
		}
		want, _ := refAppString(r, names)
		if e.StringToSign != want {
			t.Errorf("%s: StringToSign %q, want %q", c.hint, e.StringToSign, want)
		}
		if strings.Contains(e.Message, secret) {
			t.Errorf("message leaks the secret: %q", e.Message)
		}
	}
}

func TestCheckContentMD5(t *testing.T) {
	if err := CheckContentMD5([]byte(" "+refMD5("body")+" "), []byte("body")); err != nil {
		t.Error(err)
	}
	if err := CheckContentMD5([]byte(refMD5("body")), []byte("bodY")); partOf(t, err) != "content-md5" {
		t.Errorf("wrong body: %v", err)
	}
}

// A check that passes allocates nothing once pools are warm (keyed
// crypto/hmac states are reused per secret).
func TestChecksDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	kr := newRequest("GET", "/orders/42", []string{"x-date: " + fixedDate, "source: my-app"}, "")
	kauth := []byte(refAuthorization("k", "hmac-sha256", []string{"x-date", "source"}, refSign("hmac-sha256", "secret", refKeyString(kr, []string{"x-date", "source"}))))
	ar := newRequest("POST", "/orders?tag=b&tag=a&channel=web", []string{"x-date: " + fixedDate, "accept: application/json", "content-type: application/x-www-form-urlencoded"}, "count=2&item=book")
	ass, _ := refAppString(ar, []string{"x-date"})
	aauth := []byte(refAuthorization("a", "hmac-sha256", []string{"x-date"}, refSign("hmac-sha256", "secret", ass)))
	var h Header
	secret := []byte("secret")
	for name, f := range map[string]func(){
		"key": func() {
			if ParseAuthorization(kauth, &h) != nil || CheckKey(&h, kr, secret, fixedNow) != nil {
				t.Fatal("key check failed")
			}
		},
		"app": func() {
			if ParseAuthorization(aauth, &h) != nil || CheckApp(&h, ar, secret, fixedNow) != nil {
				t.Fatal("app check failed")
			}
		},
	} {
		f()
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per check", name, n)
		}
	}
}
