package hmacauth

// docs/signing.md is the only specification users have, so its examples are
// tested: the literal signing strings and signatures it shows are recomputed
// here, and its shell and Python snippets are run (when bash and openssl, or
// python3, are installed) with the clock fixed and the network replaced by a
// recorder; every request they would send must pass CheckKey or CheckApp.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The credentials the examples use.
var docSecrets = map[string]string{
	"my-key-id":  "my-secret-key",
	"my-app-key": "my-app-secret",
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../docs/signing.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snippet returns the fenced block that follows <!-- test: name -->.
func snippet(t *testing.T, doc, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- test: "+name+" -->\n")
	if !ok {
		t.Fatalf("docs/signing.md has no snippet %q", name)
	}
	fence, rest, ok := strings.Cut(rest, "\n")
	if !ok || !strings.HasPrefix(fence, "```") {
		t.Fatalf("snippet %q does not start with a fence", name)
	}
	body, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("snippet %q is not closed", name)
	}
	return body
}

func TestDocLiterals(t *testing.T) {
	doc := readDoc(t)

	// The key-pair example string and its signature.
	r := newRequest("GET", "/orders/42", []string{"X-Date: " + fixedDate, "Source: my-app"}, "")
	var h Header
	if err := ParseAuthorization([]byte(refAuthorization("my-key-id", "hmac-sha256", []string{"x-date", "source"}, "x")), &h); err != nil {
		t.Fatal(err)
	}
	ks, err := KeySigningString(nil, &h, r)
	if err != nil || string(ks) != snippet(t, doc, "key-string") {
		t.Errorf("key signing string %q, %v; the doc shows %q", ks, err, snippet(t, doc, "key-string"))
	}
	if sig := refSign("hmac-sha256", "my-secret-key", string(ks)); !strings.Contains(doc, "`"+sig+"`") {
		t.Errorf("the doc does not show the key example's signature %s", sig)
	}

	// The application example strings and signature.
	body := `{"item":"book","count":2}`
	r = newRequest("POST", "/orders?tag=b&channel=web&tag=a", []string{
		"X-Date: " + fixedDate, "Accept: application/json", "Content-Type: application/json", "Content-MD5: " + refMD5(body),
	}, body)
	h.Headers = h.Headers[:1] // x-date
	as, err := AppSigningString(nil, &h, r)
	if err != nil || string(as) != snippet(t, doc, "app-string") {
		t.Errorf("app signing string %q, %v; the doc shows %q", as, err, snippet(t, doc, "app-string"))
	}
	if sig := refSign("hmac-sha256", "my-app-secret", string(as)); !strings.Contains(doc, "`"+sig+"`") {
		t.Errorf("the doc does not show the app example's signature %s", sig)
	}
	as, err = AppSigningString(nil, &h, newRequest("GET", "/orders", []string{"X-Date: " + fixedDate}, ""))
	if err != nil || string(as) != snippet(t, doc, "app-get-string") {
		t.Errorf("app GET signing string %q, %v; the doc shows %q", as, err, snippet(t, doc, "app-get-string"))
	}
}

// sent is a request an example would have sent.
type sent struct {
	method, url string
	headers     []string // "Name: value"
	body        string
}

// toRequest turns a sent request into the package's view, with the
// environment prefix removed as the router does.
func (s sent) toRequest(t *testing.T) (*testRequest, Header) {
	t.Helper()
	rest, ok := strings.CutPrefix(s.url, "http://127.0.0.1:8080")
	if !ok {
		t.Fatalf("unexpected URL %q", s.url)
	}
	for _, env := range []string{"/test", "/prepub", "/release"} {
		if strings.HasPrefix(rest, env+"/") {
			rest = rest[len(env):]
		}
	}
	r := newRequest(s.method, rest, s.headers, s.body)
	auth, ok := r.Field("authorization")
	if !ok {
		t.Fatalf("%s %s has no Authorization", s.method, s.url)
	}
	var h Header
	if err := ParseAuthorization(auth, &h); err != nil {
		t.Fatalf("%s %s: %v", s.method, s.url, err)
	}
	return r, h
}

// check runs the check of the scheme the example's id belongs to.
func (s sent) check(t *testing.T) (*testRequest, Header) {
	t.Helper()
	r, h := s.toRequest(t)
	secret, ok := docSecrets[string(h.ID)]
	if !ok {
		t.Fatalf("unknown id %q", h.ID)
	}
	var err error
	if strings.HasPrefix(string(h.ID), "my-key") {
		err = CheckKey(&h, r, []byte(secret), fixedNow)
	} else {
		err = CheckApp(&h, r, []byte(secret), fixedNow)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			t.Errorf("%s %s refused: %v\ngateway signed %q", s.method, s.url, err, e.StringToSign)
		} else {
			t.Errorf("%s %s refused: %v", s.method, s.url, err)
		}
	}
	return r, h
}

// runShell runs a shell snippet with date fixed and curl replaced by a
// function that prints its arguments, and returns what curl would have sent.
func runShell(t *testing.T, script string) []sent {
	t.Helper()
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	prelude := "set -euo pipefail\n" +
		"date() { printf '%s\\n' '" + fixedDate + "'; }\n" +
		"curl() { printf 'CURL\\0'; printf '%s\\0' \"$@\"; }\n"
	cmd := exec.Command("bash", "-c", prelude+script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	var calls []sent
	args := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	for len(args) > 0 {
		if args[0] != "CURL" {
			t.Fatalf("unexpected output %q", args[0])
		}
		end := 1
		for end < len(args) && args[end] != "CURL" {
			end++
		}
		calls = append(calls, curlRequest(t, args[1:end]))
		args = args[end:]
	}
	return calls
}

// curlRequest reads curl's arguments the way curl does, defaults included:
// Accept: */* unless set, and with a body a form Content-Type unless set.
func curlRequest(t *testing.T, args []string) sent {
	t.Helper()
	var s sent
	hasBody := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-i", "-s", "-sS", "--include", "--silent":
		case "-X", "--request":
			i++
			s.method = args[i]
		case "-H", "--header":
			i++
			s.headers = append(s.headers, args[i])
		case "--data-binary", "--data-raw", "-d", "--data":
			i++
			s.body, hasBody = args[i], true
		default:
			if strings.HasPrefix(a, "-") {
				t.Fatalf("the test does not know curl option %q", a)
			}
			s.url = a
		}
	}
	has := func(name string) bool {
		for _, h := range s.headers {
			if n, _, _ := strings.Cut(h, ":"); strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
	if s.method == "" {
		s.method = "GET"
		if hasBody {
			s.method = "POST"
		}
	}
	if !has("Accept") {
		s.headers = append(s.headers, "Accept: */*")
	}
	if hasBody && !has("Content-Type") {
		s.headers = append(s.headers, "Content-Type: application/x-www-form-urlencoded")
	}
	return s
}

func TestDocShellKey(t *testing.T) {
	calls := runShell(t, snippet(t, readDoc(t), "key-shell"))
	if len(calls) != 1 {
		t.Fatalf("%d curl calls", len(calls))
	}
	_, h := calls[0].check(t)
	want := refSign("hmac-sha256", "my-secret-key", "x-date: "+fixedDate+"\nsource: my-app")
	if string(h.Signature) != want {
		t.Errorf("the shell signed %s, Go %s", h.Signature, want)
	}
}

func TestDocShellApp(t *testing.T) {
	doc := readDoc(t)
	for _, c := range []struct{ snippet, signs string }{
		{"app-shell", snippet(t, doc, "app-string")},
		{"app-form-shell", "x-date: " + fixedDate + "\n\nPOST\napplication/json\napplication/x-www-form-urlencoded\n\n/orders?channel=web&count=2&item=my book"},
	} {
		calls := runShell(t, snippet(t, doc, c.snippet))
		if len(calls) != 1 {
			t.Fatalf("%s: %d curl calls", c.snippet, len(calls))
		}
		_, h := calls[0].check(t)
		if want := refSign("hmac-sha256", "my-app-secret", c.signs); string(h.Signature) != want {
			t.Errorf("%s: the shell signed %s, Go %s", c.snippet, h.Signature, want)
		}
	}
}

// runPython runs a Python snippet, then extra, with formatdate fixed and
// urlopen replaced by a recorder, and returns what it would have sent.
func runPython(t *testing.T, script, extra string) []sent {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	prelude := `
import base64 as _b64, email.utils as _eu, json as _json, urllib.request as _ur
_eu.formatdate = lambda *a, **k: "` + fixedDate + `"
class _Response:
    status = 200
    def read(self): return b"ok"
    def __enter__(self): return self
    def __exit__(self, *a): return False
def _urlopen(req, *a, **k):
    print("REQUEST " + _json.dumps({"method": req.get_method(), "url": req.full_url,
        "headers": [n + ": " + v for n, v in req.header_items()],
        "body": _b64.b64encode(req.data or b"").decode()}))
    return _Response()
_ur.urlopen = _urlopen
`
	cmd := exec.Command("python3", "-c", prelude+script+"\n"+extra)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var calls []sent
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, "REQUEST ")
		if !ok {
			continue
		}
		var j struct {
			Method, URL, Body string
			Headers           []string
		}
		if err := json.Unmarshal([]byte(rest), &j); err != nil {
			t.Fatal(err)
		}
		body, err := base64.StdEncoding.DecodeString(j.Body)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, sent{method: j.Method, url: j.URL, headers: j.Headers, body: string(body)})
	}
	return calls
}

func TestDocPythonKey(t *testing.T) {
	// The snippet's own call, then every algorithm, Date instead of X-Date,
	// and more signed headers.
	extra := `
send(key_request("GET", "http://127.0.0.1:8080/orders/42", {"Source": "my-app"}, algorithm="hmac-sha1"))
send(key_request("DELETE", "http://127.0.0.1:8080/test/o", {"Source": " s "}, signed=("date", "source"), algorithm="hmac-sha384"))
send(key_request("POST", "http://127.0.0.1:8080/o", {"Content-Type": "application/json", "Source": "x"},
                 signed=("content-type", "x-date", "source"), algorithm="hmac-sha512", body=b"{}"))
`
	calls := runPython(t, snippet(t, readDoc(t), "key-python"), extra)
	if len(calls) != 4 {
		t.Fatalf("%d requests", len(calls))
	}
	for _, c := range calls {
		c.check(t)
	}
	_, h := calls[0].toRequest(t)
	if want := refSign("hmac-sha256", "my-secret-key", "x-date: "+fixedDate+"\nsource: my-app"); string(h.Signature) != want {
		t.Errorf("Python signed %s, Go %s", h.Signature, want)
	}
}

func TestDocPythonApp(t *testing.T) {
	// The snippet's own two calls, then repeated and empty-valued keys,
	// encoded characters, no Accept, hmac-sha1, more signed headers.
	extra := `
send(app_request("GET", GATEWAY, "/files/a b/é+x",
                 query=[("flag", ""), ("q", "x y&z=1"), ("é", "café"), ("tag", "b"), ("tag", "a"), ("tag", "")],
                 accept=None, algorithm="hmac-sha1"))
send(app_request("PUT", "http://127.0.0.1:8080", "/orders/7",
                 form=[("b", "2"), ("a", "1"), ("a", "0"), ("empty", ""), ("pct", "100%")],
                 headers={"Source": "web", "X-Ca-Nonce": "n-1"}, signed=("x-date", "source", "x-ca-nonce")))
send(app_request("DELETE", GATEWAY, "/orders/7"))
`
	calls := runPython(t, snippet(t, readDoc(t), "app-python"), extra)
	if len(calls) != 5 {
		t.Fatalf("%d requests", len(calls))
	}
	for _, c := range calls {
		c.check(t)
	}
	_, h := calls[0].toRequest(t)
	if want := refSign("hmac-sha256", "my-app-secret", snippet(t, readDoc(t), "app-string")); string(h.Signature) != want {
		t.Errorf("Python signed %s, Go %s", h.Signature, want)
	}
}
