package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
func fuzzRoundTrip[T any](t *testing.T, data []byte, parse func([]byte) (*T, error)) {
	v, err := parse(data)
	if err != nil {
		var ae *apiError
		var fe *config.FieldError
		if !errors.As(err, &ae) && !errors.As(err, &fe) {
			t.Fatalf("error of unexpected type %T: %v", err, err)
		}
		return
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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, parseAPI)
	})
}
