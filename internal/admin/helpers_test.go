package admin

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const testToken = "s3cret-token"

// env is one admin API under test: a real SQLite store in a temporary
// directory behind an httptest server.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store store.Store
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts an admin API; edit adjusts the options (networks, ready,
// status, a wrapped store) before it starts.
func newEnv(t *testing.T, edit func(*Options)) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &syncBuffer{}
	o := Options{
		Store:    st,
		Token:    testToken,
		Networks: []string{"default", "vpc-prod"},
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	}
	if edit != nil {
		edit(&o)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, logs: logs}
}

// response is one answer, with its body kept raw and decoded.
type response struct {
	status int
	header http.Header
	raw    []byte
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.raw)
	}
	return m
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.raw, v); err != nil {
		t.Fatalf("decoding %T: %v\n%s", v, err, r.raw)
	}
}

// apiErr is the decoded error body.
type apiErr struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Field   string            `json:"field"`
	Details []json.RawMessage `json:"details"`
}

func (r response) err(t *testing.T) apiErr {
	t.Helper()
	var b struct {
		Error *apiErr `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error == nil {
		t.Fatalf("not an error body (%v): %s", err, r.raw)
	}
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("error body without code or message: %s", r.raw)
	}
	return *b.Error
}

// do sends a request with the test token; body may be a string, []byte or
// a value to encode. Every answer must declare JSON.
func (e *env) do(method, path string, body any) response {
	e.t.Helper()
	return e.doAuth(method, path, body, "Bearer "+testToken)
}

func (e *env) doAuth(method, path string, body any, auth string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type = %q, want application/json", method, path, ct)
	}
	return response{status: res.StatusCode, header: res.Header, raw: raw}
}

// must checks the status and returns the decoded object.
func (e *env) must(status int, method, path string, body any) map[string]any {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, status, r.raw)
	}
	if status == http.StatusNoContent {
		if len(r.raw) != 0 {
			e.t.Fatalf("%s %s: 204 with a body: %s", method, path, r.raw)
		}
		return nil
	}
	return r.json(e.t)
}

// wantErr checks status, code and field of an error answer.
func (e *env) wantErr(r response, status int, code, field string) apiErr {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d\n%s", r.status, status, r.raw)
	}
	ae := r.err(e.t)
	if ae.Code != code {
		e.t.Errorf("code %q, want %q (%s)", ae.Code, code, r.raw)
	}
	if ae.Field != field {
		e.t.Errorf("field %q, want %q (%s)", ae.Field, field, r.raw)
	}
	return ae
}

// Fixtures: valid bodies as generic maps, so that tests can edit them.

func channelMap(name, network string) map[string]any {
	return map[string]any{
		"name":    name,
		"network": network,
		"scheme":  "http",
		"nodes":   []any{map[string]any{"host": "10.0.0.1", "port": 8080, "weight": 10}},
	}
}

func serviceBodyMap(name string) map[string]any {
	return map[string]any{"name": name, "description": "test service"}
}

func mockAPIBody(name, path string) map[string]any {
	return map[string]any{
		"name":     name,
		"frontend": map[string]any{"path": path, "method": "GET"},
		"backend":  map[string]any{"type": "mock", "mock": map[string]any{"status": 200, "body": "hi"}},
	}
}

func channelAPIBody(name, path, channelID string) map[string]any {
	return map[string]any{
		"name":     name,
		"frontend": map[string]any{"path": path, "method": "GET"},
		"backend":  map[string]any{"type": "channel", "channel_id": channelID, "path": "/"},
	}
}

func (e *env) createChannel(name, network string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/api/v1/channels", channelMap(name, network))
}

func (e *env) createService(name string) string {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/api/v1/services", serviceBodyMap(name))["id"].(string)
}

func (e *env) createAPI(sid string, body map[string]any) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/api/v1/services/"+sid+"/apis", body)
}

func (e *env) publish(sid, environment string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/api/v1/services/"+sid+"/releases",
		map[string]any{"environment": environment, "description": "publish to " + environment})
}

// Golden files hold representative answers with ids, versions and
// timestamps replaced by placeholders, so that they only change when the
// API's shape or wording does.

var volatileKeys = map[string]string{
	"id": "<id>", "service_id": "<service_id>", "api_id": "<api_id>", "channel_id": "<channel_id>",
	"version":    "<version>",
	"created_at": "<time>", "updated_at": "<time>", "published_at": "<time>",
}

// apiTime is the one form of the API's timestamps.
var apiTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if ph, ok := volatileKeys[k]; ok {
				if s, isString := val.(string); isString {
					// A timestamp in any other form than the API's one
					// stays in the answer, so the golden file shows it.
					if ph != "<time>" || apiTime.MatchString(s) {
						x[k] = ph
					}
					continue
				}
			}
			x[k] = normalize(val)
		}
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case string:
		// Ids quoted inside messages ("channel ch-0123… is used by…").
		for _, prefix := range []string{"ch-", "svc-", "api-"} {
			x = replaceIDs(x, prefix)
		}
		return x
	}
	return v
}

func replaceIDs(s, prefix string) string {
	var out strings.Builder
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			out.WriteString(s)
			return out.String()
		}
		j := i + len(prefix)
		for j < len(s) && strings.ContainsRune("0123456789abcdef", rune(s[j])) {
			j++
		}
		out.WriteString(s[:i])
		if j-(i+len(prefix)) >= 8 {
			out.WriteString(prefix + "<id>")
		} else {
			out.WriteString(s[i:j])
		}
		s = s[j:]
	}
}

// golden compares a normalized answer with testdata/golden/<name>.json.
func golden(t *testing.T, name string, r response) {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("golden %s: %v\n%s", name, err, r.raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the <placeholders> readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"status": r.status, "body": normalize(v)}); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("golden %s differs (run go test -update if intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
