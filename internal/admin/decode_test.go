package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portico-gw/portico/internal/config"
)

const validChannelJSON = `{"name":"web","network":"default","scheme":"http","nodes":[{"host":"10.0.0.1","port":8080,"weight":10}]}`

const validAPIJSON = `{"name":"get_user","frontend":{"path":"/user/{id}","method":"GET"},"backend":{"type":"url","url":"http://10.0.0.1:8080","path":"/users/{id}"}}`

// TestDecodeErrors checks the field path and message that each kind of
// malformed body gets, without a store.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string
		wantMsg   string // substring
	}{
		{"empty", ``, "", "empty"},
		{"whitespace only", " \n\t", "", "empty"},
		{"null", `null`, "", "must be a JSON object"},
		{"array", `[1,2]`, "", "must be a JSON object"},
		{"string", `"x"`, "", "must be a JSON object"},
		{"syntax error with offset", `{"name": web}`, "", "byte offset 10"},
		{"truncated", `{"name": "web"`, "", "unexpected end"},
		{"garbage", `xyz`, "", "byte offset 1"},
		{"trailing object", validChannelJSON + ` {}`, "", "unexpected data after the JSON object at byte offset"},
		{"trailing brace", validChannelJSON + `}`, "", "unexpected data"},
		{"unknown top-level field", `{"network":"default","colour":"red"}`, "colour", "unknown field colour"},
		{"unknown nested field", `{"network":"default","nodes":[{"host":"a","port":1,"weight":1},{"host":"b","port":1,"wieght":1}]}`, "nodes[1].wieght", "unknown field"},
		{"unknown tls field", `{"network":"default","tls":{"verify":true}}`, "tls.verify", "unknown field"},
		{"type error in array", `{"network":"default","nodes":[{"host":"a","port":1,"weight":1},{"host":"b","port":"80","weight":1}]}`, "nodes[1].port", "must be an integer, not string"},
		{"type error object for array", `{"nodes":{"host":"a"}}`, "nodes", "must be an array"},
		{"type error top-level", `{"name":5}`, "name", "must be a string"},
		{"float for int", `{"retries":1.5}`, "retries", "must be an integer"},
		{"huge number", `{"nodes":[{"port":1e400}]}`, "nodes[0].port", "must be an integer"},
		{"validation", `{"network":"default","scheme":"http","nodes":[{"host":"a","port":70000,"weight":1}]}`, "nodes[0].port", "nodes[0].port must be 1-65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseChannel([]byte(tt.body))
			if err == nil {
				t.Fatal("accepted")
			}
			field, msg := errorFieldMessage(err)
			if field != tt.wantField {
				t.Errorf("field = %q, want %q (message %q)", field, tt.wantField, msg)
			}
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMsg)
			}
		})
	}
}

// TestDecodeDuplicateKeys: a key repeated in one object is a 400 naming it
// with its path, at any depth and in every body the API decodes, instead of
// encoding/json's "the last one wins".
func TestDecodeDuplicateKeys(t *testing.T) {
	channel := func(b []byte) error { _, err := parseChannel(b); return err }
	service := func(b []byte) error { _, err := parseService(b); return err }
	api := func(b []byte) error { _, err := parseAPI(b); return err }
	release := func(b []byte) error { _, err := parseRelease(b); return err }
	rollback := func(b []byte) error { _, err := parseRollback(b); return err }
	tests := []struct {
		name      string
		parse     func([]byte) error
		body      string
		wantField string
		wantMsg   string // whole message
	}{
		{"top level", channel, `{"network":"default","network":"vpc-prod","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
			"network", "network: duplicate key"},
		{"same value twice", channel, `{"network":"default","scheme":"http","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
			"scheme", "scheme: duplicate key"},
		{"in an array element", channel, `{"network":"default","scheme":"http","nodes":[{"host":"a","port":80,"port":81,"weight":1}]}`,
			"nodes[0].port", "nodes[0].port: duplicate key"},
		{"in a later array element", channel, `{"network":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1},{"host":"b","weight":1,"port":1,"weight":2}]}`,
			"nodes[1].weight", "nodes[1].weight: duplicate key"},
		{"array given twice", channel, `{"network":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}],"nodes":[]}`,
			"nodes", "nodes: duplicate key"},
		{"nested object", channel, `{"network":"default","scheme":"https","tls":{"server_name":"a.example","server_name":"b.example"},"nodes":[{"host":"a","port":1,"weight":1}]}`,
			"tls.server_name", "tls.server_name: duplicate key"},
		{"case variant of a field", channel, `{"network":"default","Network":"vpc-prod","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
			"Network", `Network: duplicate key ("network" and "Network" name the same field)`},
		{"case variant in an array element", channel, `{"network":"default","scheme":"http","nodes":[{"HOST":"a","port":1,"weight":1,"host":"b"}]}`,
			"nodes[0].host", `nodes[0].host: duplicate key ("HOST" and "host" name the same field)`},
		{"escaped spelling of the same key", channel, `{"net\u0077ork":"default","network":"vpc-prod","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
			"network", "network: duplicate key"},
		{"read-only field", channel, `{"id":"ch-1","id":"ch-2",` + validChannelJSON[1:],
			"id", "id: duplicate key"},
		{"inside an ignored read-only value", channel, `{"warnings":[{"x":1,"x":2}],` + validChannelJSON[1:],
			"warnings[0].x", "warnings[0].x: duplicate key"},
		{"empty key in an array", channel, `{"warnings":[{},{"":1,"":2}],` + validChannelJSON[1:],
			"warnings[1].", "warnings[1].: duplicate key"},
		{"before an invalid value", channel, `{"network":"default","network":"default","scheme":"http","nodes":[{"host":"a","port":70000,"weight":1}]}`,
			"network", "network: duplicate key"},

		{"service", service, `{"name":"shop","name":"shop2"}`, "name", "name: duplicate key"},
		{"service domain", service, `{"name":"shop","domains":[{"host":"a.example"},{"host":"b.example","host":"c.example"}]}`,
			"domains[1].host", "domains[1].host: duplicate key"},

		{"api frontend", api, `{"name":"a","frontend":{"path":"/a","method":"GET","method":"POST"},"backend":{"type":"mock","mock":{"status":200}}}`,
			"frontend.method", "frontend.method: duplicate key"},
		{"api mock header (a map)", api, `{"name":"a","frontend":{"path":"/a","method":"GET"},"backend":{"type":"mock","mock":{"status":200,"headers":{"X-A":"1","X-A":"2"}}}}`,
			"backend.mock.headers.X-A", "backend.mock.headers.X-A: duplicate key"},
		{"api read-only field shadowing an embedded one", api, `{"service_id":"svc-a","SERVICE_ID":"svc-b",` + validAPIJSON[1:],
			"SERVICE_ID", `SERVICE_ID: duplicate key ("service_id" and "SERVICE_ID" name the same field)`},

		{"release", release, `{"environment":"test","environment":"release"}`, "environment", "environment: duplicate key"},
		{"rollback", rollback, `{"version":"v1","version":"v2"}`, "version", "version: duplicate key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse([]byte(tt.body))
			if err == nil {
				t.Fatal("accepted")
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v, want an *apiError", err, err)
			}
			if ae.status != 400 || ae.code != "InvalidParameter" {
				t.Errorf("status %d %s, want 400 InvalidParameter", ae.status, ae.code)
			}
			if ae.field != tt.wantField || ae.message != tt.wantMsg {
				t.Errorf("field %q, message %q; want %q, %q", ae.field, ae.message, tt.wantField, tt.wantMsg)
			}
		})
	}

	// Equal keys in different objects are no duplicates.
	for _, body := range []string{
		`{"network":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1},{"host":"b","port":1,"weight":1}]}`,
		`{"warnings":[{"x":1},{"x":1}],"id":{"id":{"id":1}},` + validChannelJSON[1:],
	} {
		if _, err := parseChannel([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	if _, err := parseAPI([]byte(validAPIJSON)); err != nil { // "path" in frontend and in backend
		t.Errorf("%s: %v", validAPIJSON, err)
	}
}

// duplicateKeyOracle reports whether b, a JSON value, has an object with two
// keys that are equal once unescaped: a plain reading of RFC 8259 that knows
// nothing of the Go types, for the fuzz targets.
func duplicateKeyOracle(b []byte) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case orderedObject:
			seen := map[string]bool{}
			for _, kv := range x {
				if seen[kv.key] || walk(kv.value) {
					return true
				}
				seen[kv.key] = true
			}
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := readOrdered(dec)
	if err != nil {
		return false
	}
	return walk(v)
}

type orderedObject []struct {
	key   string
	value any
}

// readOrdered reads one value, keeping every key of every object in order.
func readOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		var obj orderedObject
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readOrdered(dec)
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			obj = append(obj, struct {
				key   string
				value any
			}{key, v})
		}
		_, err := dec.Token()
		return obj, err
	case json.Delim('['):
		var arr []any
		for dec.More() {
			v, err := readOrdered(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	}
	return tok, nil
}

func errorFieldMessage(err error) (string, string) {
	var ae *apiError
	var fe *config.FieldError
	switch {
	case errors.As(err, &ae):
		return ae.field, ae.message
	case errors.As(err, &fe):
		return fe.Field, fe.Message
	}
	return "?", err.Error()
}

// TestDecodeReadOnlyFieldsIgnored: whatever a client sends in a read-only
// field, even of the wrong type, is dropped.
func TestDecodeReadOnlyFieldsIgnored(t *testing.T) {
	body := `{"id":7,"created_at":"not a time","updated_at":null,"warnings":{"x":1},` + validChannelJSON[1:]
	ch, err := parseChannel([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID != "" || !ch.CreatedAt.IsZero() || ch.Warnings != nil {
		t.Errorf("read-only fields leaked: %+v", ch)
	}
	a, err := parseAPI([]byte(`{"id":"api-x","service_id":"svc-other",` + validAPIJSON[1:]))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "" || a.ServiceID != "" {
		t.Errorf("read-only fields leaked: %+v", a)
	}
}

// fuzzRoundTrip is the property both fuzz targets check: what the handlers
// accept, once encoded as the API would answer it, is accepted again and
// is a fixed point (validation is idempotent).
//
// Also: a body with a repeated key is never accepted, and when the error
// is about a duplicate key, the field it names is one.
func fuzzRoundTrip[T any](t *testing.T, data []byte, parse func([]byte) (*T, error)) {
	v, err := parse(data)
	if err != nil {
		var ae *apiError
		var fe *config.FieldError
		if !errors.As(err, &ae) && !errors.As(err, &fe) {
			t.Fatalf("error of unexpected type %T: %v", err, err)
		}
		if strings.Contains(err.Error(), ": duplicate key") &&
			(ae == nil || ae.field == "" || !strings.HasPrefix(ae.message, ae.field+": duplicate key")) {
			t.Fatalf("duplicate key error %q does not name its field", err)
		}
		return
	}
	if duplicateKeyOracle(data) {
		t.Fatalf("accepted a body with a repeated key: %q", data)
	}
	b1, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("accepted value does not encode: %v", err)
	}
	v2, err := parse(b1)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", b1, err)
	}
	b2, err := json.Marshal(v2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("not a fixed point:\n%s\n%s", b1, b2)
	}
}

func FuzzDecodeChannel(f *testing.F) {
	for _, s := range []string{
		validChannelJSON,
		`{"network":"vpc-a","scheme":"https","host_header":"api.example.com:443","retries":3,"tls":{"insecure_skip_verify":true,"server_name":"x.example"},"nodes":[{"host":"a.b","port":1,"weight":0},{"host":"::1","port":65535,"weight":100}]}`,
		`{"network":"default","nodes":[{"host":"a","port":"80"}]}`,
		`{"network":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}],"extra":1}`,
		`{"id":1,"created_at":[],"network":"n","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]} x`,
		`null`, ``, `{`, `[{}]`,
		// Repeated keys, at several depths and spellings.
		`{"network":"default","network":"vpc","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
		`{"network":"default","scheme":"http","nodes":[{"host":"a","port":1,"port":2,"weight":1}]}`,
		`{"network":"default","scheme":"https","tls":{"ca_pem":"","ca_pem":"x"},"nodes":[{"host":"a","port":1,"weight":1}]}`,
		`{"network":"default","NETWORK":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
		`{"n\u0065twork":"default","network":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
		`{"warnings":{"a":{"b":1,"b":2}},"network":"default","scheme":"http","nodes":[{"host":"a","port":1,"weight":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, parseChannel)
	})
}

func FuzzDecodeAPI(f *testing.F) {
	for _, s := range []string{
		validAPIJSON,
		`{"name":"m","protocol":"websocket","frontend":{"path":"=/x","method":"any"},"backend":{"type":"mock","mock":{"status":201,"headers":{"X-A":"b"},"body":"hi"}},"auth":{"type":"none"}}`,
		`{"name":"c","frontend":{"path":"^~/static","method":"GET"},"backend":{"type":"channel","channel_id":"ch-1","timeout":30}}`,
		`{"name":"c","frontend":{"path":"/a","method":"GET"},"backend":{"type":"mock","mock":{"headers":{}}}}`,
		`{"frontend":{"path":5}}`,
		`{"backend":{"mock":{"headers":{"a":{"b":1}}}}}`,
		// Repeated keys, at several depths and spellings.
		`{"name":"m","frontend":{"path":"/x","method":"GET"},"backend":{"type":"mock","mock":{"headers":{"X-A":"1","X-A":"2"}}}}`,
		`{"name":"m","frontend":{"path":"/x","method":"GET","Method":"POST"},"backend":{"type":"mock"}}`,
		`{"name":"m","name":"n","frontend":{"path":"/x","method":"GET"},"backend":{"type":"mock"}}`,
		`{"id":"a","Id":"b","name":"m","frontend":{"path":"/x","method":"GET"},"backend":{"type":"mock"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, parseAPI)
	})
}

// TestDuplicateKeysOnEveryEndpoint: every endpoint that reads a body refuses
// one with a repeated key, naming it, and writes nothing, even where the
// last value alone would have been a valid change.
func TestDuplicateKeysOnEveryEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chID := e.createChannel("web", "default")["id"].(string)
	sid := e.createService("shop")
	aid := e.createAPI(sid, mockAPIBody("ping", "/ping"))["id"].(string)
	v1 := e.publish(sid, "test")["version"].(string)
	v2 := e.publish(sid, "test")["version"].(string)

	node := `{"host":"10.0.0.1","port":8080,"weight":10}`
	tests := []struct {
		method, path, body string
		field              string
	}{
		{"POST", "/api/v1/channels",
			`{"name":"c2","name":"c3","network":"default","scheme":"http","nodes":[` + node + `]}`, "name"},
		{"PUT", "/api/v1/channels/" + chID,
			`{"name":"web","network":"default","scheme":"http","nodes":[{"host":"10.0.0.1","port":8080,"weight":10,"weight":0}]}`, "nodes[0].weight"},
		{"POST", "/api/v1/services",
			`{"name":"other","domains":[{"host":"a.example","environment":"test","environment":"release"}]}`, "domains[0].environment"},
		{"PUT", "/api/v1/services/" + sid,
			`{"name":"shop","description":"a","Description":"b"}`, "Description"},
		{"POST", "/api/v1/services/" + sid + "/apis",
			`{"name":"p2","frontend":{"path":"/p2","method":"GET"},"backend":{"type":"mock","mock":{"status":200,"status":201}}}`, "backend.mock.status"},
		{"PUT", "/api/v1/services/" + sid + "/apis/" + aid,
			`{"name":"ping","frontend":{"path":"/ping","path":"/pong","method":"GET"},"backend":{"type":"mock","mock":{"status":200}}}`, "frontend.path"},
		{"POST", "/api/v1/services/" + sid + "/releases",
			`{"environment":"prepub","environment":"release"}`, "environment"},
		{"POST", "/api/v1/services/" + sid + "/environments/test/rollback",
			`{"version":"` + v2 + `","version":"` + v1 + `"}`, "version"},
		{"DELETE", "/api/v1/services/" + sid + "/environments/test",
			`{"description":"done","description":"not done"}`, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			// e.do reports through e.t; keep it on this subtest.
			e := *e
			e.t = t
			before, err := e.store.Revision(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ae := e.wantErr(e.do(tt.method, tt.path, tt.body), 400, "InvalidParameter", tt.field)
			if !strings.HasPrefix(ae.Message, tt.field+": duplicate key") {
				t.Errorf("message %q does not name %s as a duplicate key", ae.Message, tt.field)
			}
			after, err := e.store.Revision(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("the store changed: revision %d -> %d", before, after)
			}
		})
	}
	// And what is served in test is still the last publish.
	envs := e.must(200, "GET", "/api/v1/services/"+sid+"/environments", nil)["items"].([]any)
	if len(envs) != 1 || envs[0].(map[string]any)["version"] != v2 {
		t.Errorf("environments changed: %v", envs)
	}
}

// FuzzParseUnpublish: the optional body of an unpublish is none at all or
// an object with a note; anything else is a 400, never a panic, and a note
// that is accepted is what the history keeps.
func FuzzParseUnpublish(f *testing.F) {
	for _, s := range []string{``, ` `, `{}`, `{"description":"done"}`, `{"description":1}`,
		`{"description":"a","description":"b"}`, `{"note":"x"}`, `null`, `[]`, `{"description":"\u00e9"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := parseUnpublish(data)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("%q: %v, want a 400", data, err)
			}
			return
		}
		if !utf8.ValidString(body.Description) || utf8.RuneCountInString(body.Description) > 200 {
			t.Fatalf("%q: accepted a note the history must not keep: %q", data, body.Description)
		}
	})
}
