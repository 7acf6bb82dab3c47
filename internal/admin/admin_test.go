package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		path   string
		auth   string
		status int
	}{
		{"missing header", "/api/v1/channels", "", 401},
		{"wrong token", "/api/v1/channels", "Bearer nope", 401},
		{"token prefix only", "/api/v1/channels", "Bearer " + testToken[:4], 401},
		{"token with suffix", "/api/v1/channels", "Bearer " + testToken + "x", 401},
		{"wrong scheme", "/api/v1/channels", "Basic " + testToken, 401},
		{"no scheme", "/api/v1/channels", testToken, 401},
		{"empty bearer", "/api/v1/channels", "Bearer ", 401},
		{"unknown route without token", "/api/v1/nothing-here", "", 401},
		{"status without token", "/api/v1/status", "", 401},
		{"good token", "/api/v1/channels", "Bearer " + testToken, 200},
		{"scheme is case-insensitive", "/api/v1/channels", "bearer " + testToken, 200},
		{"healthz needs no token", "/healthz", "", 200},
		{"healthz ignores a wrong token", "/healthz", "Bearer nope", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doAuth("GET", tt.path, nil, tt.auth)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status == 401 {
				e.wantErr(r, 401, "Unauthorized", "")
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	t.Run("writes are refused and change nothing", func(t *testing.T) {
		r := e.doAuth("POST", "/api/v1/channels", channelMap("sneaky", "default"), "Bearer wrong")
		e.wantErr(r, 401, "Unauthorized", "")
		if n := e.must(200, "GET", "/api/v1/channels", nil)["total"]; n != float64(0) {
			t.Errorf("total = %v after a refused write", n)
		}
	})
	t.Run("empty configured token refuses everything", func(t *testing.T) {
		open := newEnv(t, func(o *Options) { o.Token = "" })
		for _, auth := range []string{"", "Bearer ", "Bearer x"} {
			open.wantErr(open.doAuth("GET", "/api/v1/channels", nil, auth), 401, "Unauthorized", "")
		}
	})
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ready  func() bool
		status int
	}{
		{"ready", func() bool { return true }, 200},
		{"not ready", func() bool { return false }, 503},
		{"no readiness func", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Ready = tt.ready })
			r := e.doAuth("GET", "/healthz", nil, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if _, ok := r.json(t)["status"]; !ok {
				t.Errorf("no status in %s", r.raw)
			}
		})
	}
}

func TestHealthzDraining(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.Ready = func() bool { return false }
		o.Draining = func() bool { return true }
	})
	r := e.doAuth("GET", "/healthz", nil, "")
	if r.status != 503 || r.json(t)["status"] != "draining" {
		t.Fatalf("healthz while draining: %d %s", r.status, r.raw)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status func() any
		code   int
		want   string
	}{
		{"nil func", nil, 200, "{}\n"},
		{"func returns nil", func() any { return nil }, 200, "{}\n"},
		{"snapshot state", func() any { return map[string]any{"revision": 7, "routes": 3} }, 200, `{"revision":7,"routes":3}` + "\n"},
		{"unencodable state", func() any { return map[string]any{"f": func() {}} }, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Status = tt.status })
			r := e.do("GET", "/api/v1/status", nil)
			if r.status != tt.code {
				t.Fatalf("status %d, want %d: %s", r.status, tt.code, r.raw)
			}
			if tt.code == 500 {
				e.wantErr(r, 500, "InternalError", "")
				return
			}
			if string(r.raw) != tt.want {
				t.Errorf("body %q, want %q", r.raw, tt.want)
			}
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown resource", "GET", "/api/v1/widgets", 404, "NotFound", ""},
		{"api root", "GET", "/api/v1", 404, "NotFound", ""},
		{"outside the api", "GET", "/nope", 404, "NotFound", ""},
		{"too deep", "GET", "/api/v1/channels/a/b/c", 404, "NotFound", ""},
		{"PATCH on a collection", "PATCH", "/api/v1/channels", 405, "MethodNotAllowed", "GET, HEAD, POST"},
		{"POST on an item", "POST", "/api/v1/services/svc-1", 405, "MethodNotAllowed", "DELETE, GET, HEAD, PUT"},
		{"PUT on releases", "PUT", "/api/v1/services/svc-1/releases", 405, "MethodNotAllowed", "GET, HEAD, POST"},
		{"GET on rollback", "GET", "/api/v1/services/svc-1/environments/test/rollback", 405, "MethodNotAllowed", "POST"},
		{"POST healthz", "POST", "/healthz", 405, "MethodNotAllowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, nil)
			e.wantErr(r, tt.status, tt.code, "")
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestChannelCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	created := e.createChannel("web", "default")
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "ch-") {
		t.Fatalf("id %q without the ch- prefix", id)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if created[k] == "" || created[k] == "0001-01-01T00:00:00Z" {
			t.Errorf("%s not set: %v", k, created[k])
		}
	}
	// Defaults are filled in and answered.
	if created["algorithm"] != config.DefaultAlgo || created["retries"] != float64(config.DefaultRetries) {
		t.Errorf("defaults not applied: %v", created)
	}

	got := e.must(200, "GET", "/api/v1/channels/"+id, nil)
	if fmt.Sprint(got) != fmt.Sprint(created) {
		t.Errorf("GET differs from POST answer:\n%v\n%v", got, created)
	}

	t.Run("GET, edit, PUT round trip with read-only fields left in", func(t *testing.T) {
		body := e.must(200, "GET", "/api/v1/channels/"+id, nil)
		body["description"] = "edited"
		body["nodes"] = append(body["nodes"].([]any), map[string]any{"host": "10.0.0.2", "port": 8080, "weight": 0})
		body["id"] = "ch-forged"
		body["created_at"] = "1999-01-01T00:00:00Z"
		body["warnings"] = []any{"client-made"}
		put := e.must(200, "PUT", "/api/v1/channels/"+id, body)
		if put["id"] != id || put["created_at"] != created["created_at"] {
			t.Errorf("read-only fields were not ignored: %v", put)
		}
		if put["warnings"] != nil {
			t.Errorf("client warnings kept: %v", put["warnings"])
		}
		if put["description"] != "edited" || len(put["nodes"].([]any)) != 2 {
			t.Errorf("edit lost: %v", put)
		}
		again := e.must(200, "GET", "/api/v1/channels/"+id, nil)
		if fmt.Sprint(again) != fmt.Sprint(put) {
			t.Errorf("GET after PUT differs:\n%v\n%v", again, put)
		}
	})

	t.Run("PUT replaces the whole object", func(t *testing.T) {
		body := channelMap("web", "default")
		body["retries"] = 9
		body["description"] = "x"
		e.must(200, "PUT", "/api/v1/channels/"+id, body)
		put := e.must(200, "PUT", "/api/v1/channels/"+id, channelMap("web", "default"))
		if put["retries"] != float64(config.DefaultRetries) || put["description"] != "" {
			t.Errorf("absent fields did not take their defaults: %v", put)
		}
	})

	t.Run("list", func(t *testing.T) {
		e.createChannel("", "default") // unnamed channels may repeat
		e.createChannel("", "default")
		l := e.must(200, "GET", "/api/v1/channels", nil)
		if l["total"] != float64(3) || len(l["items"].([]any)) != 3 {
			t.Errorf("list = %v", l)
		}
	})

	t.Run("delete", func(t *testing.T) {
		e.must(204, "DELETE", "/api/v1/channels/"+id, nil)
		e.wantErr(e.do("GET", "/api/v1/channels/"+id, nil), 404, "NotFound", "")
		e.wantErr(e.do("DELETE", "/api/v1/channels/"+id, nil), 404, "NotFound", "")
	})
}

func TestChannelErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	existing := e.createChannel("taken", "default")["id"].(string)

	edit := func(f func(m map[string]any)) map[string]any {
		m := channelMap("ok", "default")
		f(m)
		return m
	}
	bad := []struct {
		name   string
		body   any
		field  string
		inMsg  string
		status int
		code   string
	}{
		{"empty body", "", "", "empty", 400, "InvalidParameter"},
		{"malformed JSON", `{"name": "x",}`, "", "byte offset", 400, "InvalidParameter"},
		{"not an object", `[]`, "", "JSON object", 400, "InvalidParameter"},
		{"trailing data", `{"network":"default"} {"network":"x"}`, "", "after the JSON object", 400, "InvalidParameter"},
		{"unknown field", edit(func(m map[string]any) { m["colour"] = "red" }), "colour", "colour", 400, "InvalidParameter"},
		{"unknown nested field", edit(func(m map[string]any) { m["nodes"].([]any)[0].(map[string]any)["zone"] = "a" }), "nodes[0].zone", "zone", 400, "InvalidParameter"},
		{"type error", edit(func(m map[string]any) { m["nodes"].([]any)[0].(map[string]any)["port"] = "80" }), "nodes[0].port", "integer", 400, "InvalidParameter"},
		{"type error top level", edit(func(m map[string]any) { m["retries"] = true }), "retries", "integer", 400, "InvalidParameter"},
		{"port out of range", edit(func(m map[string]any) { m["nodes"].([]any)[0].(map[string]any)["port"] = 70000 }), "nodes[0].port", "nodes[0].port must be 1-65535", 400, "InvalidParameter"},
		{"missing weight", edit(func(m map[string]any) { delete(m["nodes"].([]any)[0].(map[string]any), "weight") }), "nodes[0].weight", "required", 400, "InvalidParameter"},
		{"missing network", edit(func(m map[string]any) { delete(m, "network") }), "network", "required", 400, "InvalidParameter"},
		{"bad scheme", edit(func(m map[string]any) { m["scheme"] = "ftp" }), "scheme", "http, https, grpc", 400, "InvalidParameter"},
		{"no nodes", edit(func(m map[string]any) { m["nodes"] = []any{} }), "nodes", "required", 400, "InvalidParameter"},
		{"retries too high", edit(func(m map[string]any) { m["retries"] = 101 }), "retries", "1-100", 400, "InvalidParameter"},
		{"duplicate name", channelMap("taken", "default"), "name", "taken", 409, "Conflict"},
	}
	for _, tt := range bad {
		for _, method := range []string{"POST", "PUT"} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				path := "/api/v1/channels"
				if method == "PUT" {
					if tt.code == "Conflict" {
						// PUT the other channel with the taken name.
						path = "/api/v1/channels/" + e.createChannel("", "default")["id"].(string)
					} else {
						path += "/" + existing
					}
				}
				ae := e.wantErr(e.do(method, path, tt.body), tt.status, tt.code, tt.field)
				if !strings.Contains(ae.Message, tt.inMsg) {
					t.Errorf("message %q does not contain %q", ae.Message, tt.inMsg)
				}
			})
		}
	}
	t.Run("nothing was changed by the failures", func(t *testing.T) {
		got := e.must(200, "GET", "/api/v1/channels/"+existing, nil)
		if got["name"] != "taken" {
			t.Errorf("channel changed: %v", got)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/channels/ch-missing"},
			{"PUT", "/api/v1/channels/ch-missing"},
			{"DELETE", "/api/v1/channels/ch-missing"},
			{"GET", "/api/v1/channels/ch-missing/apis"},
		} {
			e.wantErr(e.do(c.method, c.path, channelMap("", "default")), 404, "NotFound", "")
		}
	})
}

func TestChannelWarnings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // networks: default, vpc-prod
	tests := []struct {
		network string
		warn    bool
	}{
		{"default", false},
		{"vpc-prod", false},
		{"idc-sh", true},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			check := func(what string, ch map[string]any) {
				t.Helper()
				w, has := ch["warnings"]
				if has != tt.warn {
					t.Fatalf("%s: warnings present = %v, want %v (%v)", what, has, tt.warn, w)
				}
				if tt.warn && !strings.Contains(fmt.Sprint(w), tt.network) {
					t.Errorf("%s: warning does not name the network: %v", what, w)
				}
			}
			created := e.createChannel("ch_"+strings.ReplaceAll(tt.network, "-", "_"), tt.network)
			id := created["id"].(string)
			check("create", created)
			check("get", e.must(200, "GET", "/api/v1/channels/"+id, nil))
			check("update", e.must(200, "PUT", "/api/v1/channels/"+id, created))
			for _, it := range e.must(200, "GET", "/api/v1/channels?limit=100", nil)["items"].([]any) {
				if ch := it.(map[string]any); ch["id"] == id {
					check("list", ch)
				}
			}
		})
	}
	t.Run("computed on read, not stored", func(t *testing.T) {
		ch, _, err := e.store.ListChannels(t.Context(), store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ch {
			if len(c.Warnings) > 0 {
				t.Errorf("channel %s stored with warnings %v", c.ID, c.Warnings)
			}
		}
	})
}

func TestServiceCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	created := e.must(201, "POST", "/api/v1/services", serviceBodyMap("shop"))
	id := created["id"].(string)
	if !strings.HasPrefix(id, "svc-") {
		t.Fatalf("id %q", id)
	}
	if fmt.Sprint(created["protocols"]) != "[http https]" || fmt.Sprint(created["domains"]) != "[]" {
		t.Errorf("defaults not applied: %v", created)
	}
	t.Run("round trip", func(t *testing.T) {
		body := e.must(200, "GET", "/api/v1/services/"+id, nil)
		body["domains"] = []any{map[string]any{"host": "API.Example.com", "environment": "release"}}
		body["protocols"] = []any{"https"}
		body["id"], body["updated_at"] = "svc-forged", "not a time"
		put := e.must(200, "PUT", "/api/v1/services/"+id, body)
		if put["id"] != id || put["created_at"] != created["created_at"] {
			t.Errorf("read-only fields not ignored: %v", put)
		}
		if fmt.Sprint(put["domains"]) != "[map[environment:release host:api.example.com]]" {
			t.Errorf("domains = %v", put["domains"])
		}
		if got := e.must(200, "GET", "/api/v1/services/"+id, nil); fmt.Sprint(got) != fmt.Sprint(put) {
			t.Errorf("GET after PUT differs:\n%v\n%v", got, put)
		}
	})
	t.Run("errors", func(t *testing.T) {
		e.createService("other")
		e.wantErr(e.do("POST", "/api/v1/services", serviceBodyMap("shop")), 409, "Conflict", "name")
		e.wantErr(e.do("PUT", "/api/v1/services/"+id, serviceBodyMap("other")), 409, "Conflict", "name")
		e.wantErr(e.do("POST", "/api/v1/services", map[string]any{"description": "x"}), 400, "InvalidParameter", "name")
		e.wantErr(e.do("POST", "/api/v1/services", map[string]any{"name": "p", "protocols": []any{"ftp"}}), 400, "InvalidParameter", "protocols[0]")
		e.wantErr(e.do("POST", "/api/v1/services", map[string]any{"name": "d", "domains": []any{map[string]any{"host": "a.com", "env": "x"}}}), 400, "InvalidParameter", "domains[0].env")
		e.wantErr(e.do("POST", "/api/v1/services", `{"name": 1}`), 400, "InvalidParameter", "name")
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			e.wantErr(e.do(m, "/api/v1/services/svc-missing", serviceBodyMap("zz")), 404, "NotFound", "")
		}
	})
	t.Run("list and delete", func(t *testing.T) {
		l := e.must(200, "GET", "/api/v1/services", nil)
		if l["total"] != float64(2) {
			t.Errorf("list = %v", l)
		}
		e.must(204, "DELETE", "/api/v1/services/"+id, nil)
		e.wantErr(e.do("GET", "/api/v1/services/"+id, nil), 404, "NotFound", "")
	})
	t.Run("delete of a published service", func(t *testing.T) {
		sid := e.createService("live")
		e.createAPI(sid, mockAPIBody("ping", "/ping"))
		e.publish(sid, "release")
		e.wantErr(e.do("DELETE", "/api/v1/services/"+sid, nil), 409, "Conflict", "")
		e.must(200, "GET", "/api/v1/services/"+sid, nil)
		e.must(204, "DELETE", "/api/v1/services/"+sid+"/environments/release", nil)
		e.must(204, "DELETE", "/api/v1/services/"+sid, nil)
	})
}

func TestAPICRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sid := e.createService("shop")
	chID := e.createChannel("pool", "default")["id"].(string)

	created := e.createAPI(sid, channelAPIBody("get_user", "/user/{id}", chID))
	id := created["id"].(string)
	if !strings.HasPrefix(id, "api-") || created["service_id"] != sid {
		t.Fatalf("created = %v", created)
	}
	be := created["backend"].(map[string]any)
	if created["protocol"] != "http" || created["auth"].(map[string]any)["type"] != "none" || be["timeout"] != float64(15) {
		t.Errorf("defaults not applied: %v", created)
	}

	t.Run("round trip", func(t *testing.T) {
		body := e.must(200, "GET", "/api/v1/services/"+sid+"/apis/"+id, nil)
		body["description"] = "edited"
		body["frontend"].(map[string]any)["method"] = "post"
		body["service_id"] = "svc-elsewhere"
		body["id"] = "api-forged"
		put := e.must(200, "PUT", "/api/v1/services/"+sid+"/apis/"+id, body)
		if put["id"] != id || put["service_id"] != sid || put["created_at"] != created["created_at"] {
			t.Errorf("read-only fields not ignored: %v", put)
		}
		if put["frontend"].(map[string]any)["method"] != "POST" {
			t.Errorf("method not normalized: %v", put["frontend"])
		}
		if got := e.must(200, "GET", "/api/v1/services/"+sid+"/apis/"+id, nil); fmt.Sprint(got) != fmt.Sprint(put) {
			t.Errorf("GET after PUT differs:\n%v\n%v", got, put)
		}
	})

	t.Run("errors", func(t *testing.T) {
		other := e.createAPI(sid, mockAPIBody("other", "/other"))["id"].(string)
		tests := []struct {
			name, method, path string
			body               any
			status             int
			code, field        string
		}{
			{"bad channel reference", "POST", "/apis", channelAPIBody("x", "/x", "ch-missing"), 400, "InvalidParameter", "backend.channel_id"},
			{"bad channel reference on PUT", "PUT", "/apis/" + id, channelAPIBody("get_user", "/x", "ch-missing"), 400, "InvalidParameter", "backend.channel_id"},
			{"duplicate name", "POST", "/apis", mockAPIBody("get_user", "/y"), 409, "Conflict", "name"},
			{"duplicate name on PUT", "PUT", "/apis/" + other, mockAPIBody("get_user", "/other"), 409, "Conflict", "name"},
			{"same route", "POST", "/apis", mockAPIBody("again", "/other"), 409, "Conflict", "frontend.path"},
			{"missing path", "POST", "/apis", map[string]any{"name": "n", "frontend": map[string]any{"method": "GET"}, "backend": map[string]any{"type": "mock", "mock": map[string]any{}}}, 400, "InvalidParameter", "frontend.path"},
			{"bad method", "POST", "/apis", map[string]any{"name": "n", "frontend": map[string]any{"path": "/a", "method": "FETCH"}, "backend": map[string]any{"type": "mock", "mock": map[string]any{}}}, 400, "InvalidParameter", "frontend.method"},
			{"timeout out of range", "POST", "/apis", map[string]any{"name": "n", "frontend": map[string]any{"path": "/a", "method": "GET"}, "backend": map[string]any{"type": "url", "url": "http://10.0.0.1", "timeout": 0}}, 400, "InvalidParameter", "backend.timeout"},
			{"unknown nested field", "POST", "/apis", map[string]any{"name": "n", "frontend": map[string]any{"path": "/a", "method": "GET", "host": "x"}}, 400, "InvalidParameter", "frontend.host"},
			{"type error nested", "POST", "/apis", `{"name":"n","backend":{"timeout":"15"}}`, 400, "InvalidParameter", "backend.timeout"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.wantErr(e.do(tt.method, "/api/v1/services/"+sid+tt.path, tt.body), tt.status, tt.code, tt.field)
			})
		}
		t.Run("unknown ids in the URL", func(t *testing.T) {
			for _, c := range []struct{ method, path string }{
				{"POST", "/api/v1/services/svc-missing/apis"},
				{"GET", "/api/v1/services/svc-missing/apis"},
				{"GET", "/api/v1/services/svc-missing/apis/" + id},
				{"GET", "/api/v1/services/" + sid + "/apis/api-missing"},
				{"PUT", "/api/v1/services/" + sid + "/apis/api-missing"},
				{"DELETE", "/api/v1/services/" + sid + "/apis/api-missing"},
			} {
				e.wantErr(e.do(c.method, c.path, mockAPIBody("z", "/z")), 404, "NotFound", "")
			}
		})
	})

	t.Run("list and delete", func(t *testing.T) {
		l := e.must(200, "GET", "/api/v1/services/"+sid+"/apis", nil)
		if l["total"] != float64(2) || len(l["items"].([]any)) != 2 {
			t.Errorf("list = %v", l)
		}
		e.must(204, "DELETE", "/api/v1/services/"+sid+"/apis/"+id, nil)
		e.wantErr(e.do("GET", "/api/v1/services/"+sid+"/apis/"+id, nil), 404, "NotFound", "")
	})
}

func TestChannelBindingsAndDeleteInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chID := e.createChannel("pool", "default")["id"].(string)
	sid := e.createService("shop")
	apiID := e.createAPI(sid, channelAPIBody("users", "/users", chID))["id"].(string)

	bindings := func() []map[string]any {
		t.Helper()
		l := e.must(200, "GET", "/api/v1/channels/"+chID+"/apis", nil)
		var out []map[string]any
		for _, it := range l["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		if l["total"] != float64(len(out)) {
			t.Errorf("total %v for %d items", l["total"], len(out))
		}
		return out
	}
	bs := bindings()
	if len(bs) != 1 || bs[0]["api_id"] != apiID || bs[0]["service_id"] != sid ||
		bs[0]["service_name"] != "shop" || bs[0]["api_name"] != "users" || bs[0]["environment"] != "draft" {
		t.Fatalf("bindings = %v", bs)
	}
	e.publish(sid, "test")
	if bs := bindings(); len(bs) != 2 || bs[1]["environment"] != "test" {
		t.Fatalf("bindings after publish = %v", bs)
	}

	r := e.do("DELETE", "/api/v1/channels/"+chID, nil)
	ae := e.wantErr(r, 409, "Conflict", "")
	if len(ae.Details) != 2 {
		t.Fatalf("details = %s", r.raw)
	}
	golden(t, "channel_delete_in_use", r)
	e.must(200, "GET", "/api/v1/channels/"+chID, nil)

	// Moving the draft API off the channel still leaves the served version.
	e.must(200, "PUT", "/api/v1/services/"+sid+"/apis/"+apiID, mockAPIBody("users", "/users"))
	e.wantErr(e.do("DELETE", "/api/v1/channels/"+chID, nil), 409, "Conflict", "")
	e.must(204, "DELETE", "/api/v1/services/"+sid+"/environments/test", nil)
	if bs := bindings(); len(bs) != 0 {
		t.Fatalf("bindings = %v", bs)
	}
	e.must(204, "DELETE", "/api/v1/channels/"+chID, nil)

	// Items are [] (never null) for an unused channel.
	unused := e.createChannel("", "default")["id"].(string)
	r = e.do("GET", "/api/v1/channels/"+unused+"/apis", nil)
	if string(r.raw) != `{"items":[],"total":0}`+"\n" {
		t.Errorf("empty bindings = %s", r.raw)
	}
}

func TestReleasesAndEnvironments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sid := e.createService("shop")
	base := "/api/v1/services/" + sid

	r := e.do("GET", base+"/environments", nil)
	if string(r.raw) != `{"items":[]}`+"\n" {
		t.Errorf("no environments = %s", r.raw)
	}
	e.createAPI(sid, mockAPIBody("ping", "/ping"))

	r = e.do("POST", base+"/releases", map[string]any{"environment": "test", "description": "first", "version": "ignored"})
	if r.status != 201 {
		t.Fatalf("publish: %d %s", r.status, r.raw)
	}
	golden(t, "release_create", r)
	var v1 config.Release
	r.decode(t, &v1)
	v2 := e.publish(sid, "release")["version"].(string)
	v3 := e.publish(sid, "release")["version"].(string)
	if v1.Version == v2 || v2 == v3 || v1.Version == "" {
		t.Fatalf("versions not unique: %s %s %s", v1.Version, v2, v3)
	}

	t.Run("history newest first", func(t *testing.T) {
		l := e.must(200, "GET", base+"/releases", nil)
		var got []string
		for _, it := range l["items"].([]any) {
			got = append(got, it.(map[string]any)["version"].(string))
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{v3, v2, v1.Version}) || l["total"] != float64(3) {
			t.Errorf("history = %v (total %v)", got, l["total"])
		}
		l = e.must(200, "GET", base+"/releases?limit=1&offset=1", nil)
		if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["version"] != v2 {
			t.Errorf("paged history = %v", l)
		}
	})

	envs := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, it := range e.must(200, "GET", base+"/environments", nil)["items"].([]any) {
			m := it.(map[string]any)
			out[m["environment"].(string)] = m["version"].(string)
		}
		return out
	}
	if got := envs(); got["test"] != v1.Version || got["release"] != v3 || len(got) != 2 {
		t.Fatalf("environments = %v", got)
	}

	t.Run("rollback", func(t *testing.T) {
		// The body may be an environment item as read, edited.
		item := map[string]any{"environment": "release", "version": v2, "published_at": "2020-01-01T00:00:00Z"}
		st := e.must(200, "POST", base+"/environments/release/rollback", item)
		if st["environment"] != "release" || st["version"] != v2 || st["published_at"] == "2020-01-01T00:00:00Z" {
			t.Errorf("rollback answer = %v", st)
		}
		// Promote the version tested in "test" to prepub.
		e.must(200, "POST", base+"/environments/prepub/rollback", map[string]any{"version": v1.Version})
		if got := envs(); got["release"] != v2 || got["prepub"] != v1.Version {
			t.Errorf("environments = %v", got)
		}
	})

	t.Run("unpublish", func(t *testing.T) {
		e.must(204, "DELETE", base+"/environments/prepub", map[string]any{"description": "prepub is retired"})
		if _, ok := envs()["prepub"]; ok {
			t.Error("prepub still served")
		}
		e.wantErr(e.do("DELETE", base+"/environments/prepub", nil), 404, "NotFound", "")
	})

	t.Run("release history", func(t *testing.T) {
		l := e.must(200, "GET", base+"/history", nil)
		var got []string
		for _, it := range l["items"].([]any) {
			m := it.(map[string]any)
			got = append(got, fmt.Sprintf("%s %s %s<-%s %q", m["action"], m["environment"], m["version"], m["previous_version"], m["description"]))
			if !apiTime.MatchString(fmt.Sprint(m["created_at"])) {
				t.Errorf("created_at %v is not RFC 3339 UTC with milliseconds", m["created_at"])
			}
		}
		want := []string{
			fmt.Sprintf(`unpublish prepub <-%s "prepub is retired"`, v1.Version),
			fmt.Sprintf(`promote prepub %s<- ""`, v1.Version),
			fmt.Sprintf(`rollback release %s<-%s ""`, v2, v3),
			fmt.Sprintf(`publish release %s<-%s "publish to release"`, v3, v2),
			fmt.Sprintf(`publish release %s<- "publish to release"`, v2),
			fmt.Sprintf(`publish test %s<- "first"`, v1.Version),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || l["total"] != float64(len(want)) {
			t.Errorf("history =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		e.must(200, "POST", base+"/environments/prepub/rollback", map[string]any{"version": v1.Version, "description": "back for a demo"})
		first := e.must(200, "GET", base+"/history?limit=1", nil)["items"].([]any)[0].(map[string]any)
		if first["action"] != "rollback" || first["description"] != "back for a demo" {
			t.Errorf("a version served before is served again: %v, want a rollback with its note", first)
		}
	})

	t.Run("errors", func(t *testing.T) {
		long := strings.Repeat("é", 201)
		tests := []struct {
			name, method, path string
			body               any
			status             int
			code, field        string
		}{
			{"missing environment", "POST", base + "/releases", map[string]any{"description": "x"}, 400, "InvalidParameter", "environment"},
			{"unknown environment", "POST", base + "/releases", map[string]any{"environment": "prod"}, 400, "InvalidParameter", "environment"},
			{"description too long", "POST", base + "/releases", map[string]any{"environment": "test", "description": long}, 400, "InvalidParameter", "description"},
			{"unknown release field", "POST", base + "/releases", map[string]any{"environment": "test", "env": "x"}, 400, "InvalidParameter", "env"},
			{"empty release body", "POST", base + "/releases", "", 400, "InvalidParameter", ""},
			{"publish unknown service", "POST", "/api/v1/services/svc-missing/releases", map[string]any{"environment": "test"}, 404, "NotFound", ""},
			{"history of unknown service", "GET", "/api/v1/services/svc-missing/releases", nil, 404, "NotFound", ""},
			{"environments of unknown service", "GET", "/api/v1/services/svc-missing/environments", nil, 404, "NotFound", ""},
			{"rollback unknown environment", "POST", base + "/environments/prod/rollback", map[string]any{"version": v1.Version}, 404, "NotFound", ""},
			{"rollback draft", "POST", base + "/environments/draft/rollback", map[string]any{"version": v1.Version}, 404, "NotFound", ""},
			{"rollback unknown service", "POST", "/api/v1/services/svc-missing/environments/test/rollback", map[string]any{"version": "v1"}, 404, "NotFound", ""},
			{"rollback without version", "POST", base + "/environments/test/rollback", map[string]any{}, 400, "InvalidParameter", "version"},
			{"rollback to unknown version", "POST", base + "/environments/test/rollback", map[string]any{"version": "v999"}, 400, "InvalidParameter", "version"},
			{"rollback version type", "POST", base + "/environments/test/rollback", `{"version": 1}`, 400, "InvalidParameter", "version"},
			{"unpublish unknown environment", "DELETE", base + "/environments/prod", nil, 404, "NotFound", ""},
			{"unpublish unknown service", "DELETE", "/api/v1/services/svc-missing/environments/test", nil, 404, "NotFound", ""},
			{"unpublish note too long", "DELETE", base + "/environments/test", map[string]any{"description": long}, 400, "InvalidParameter", "description"},
			{"unpublish unknown field", "DELETE", base + "/environments/test", map[string]any{"note": "x"}, 400, "InvalidParameter", "note"},
			{"rollback note too long", "POST", base + "/environments/test/rollback", map[string]any{"version": v1.Version, "description": long}, 400, "InvalidParameter", "description"},
			{"history of unknown service ", "GET", "/api/v1/services/svc-missing/history", nil, 404, "NotFound", ""},
			{"history bad limit", "GET", base + "/history?limit=x", nil, 400, "InvalidParameter", "limit"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.wantErr(e.do(tt.method, tt.path, tt.body), tt.status, tt.code, tt.field)
			})
		}
		if got := envs(); got["release"] != v2 || got["test"] != v1.Version {
			t.Errorf("failed calls changed the environments: %v", got)
		}
		if n := e.must(200, "GET", base+"/history?limit=0", nil)["total"]; n != float64(7) {
			t.Errorf("failed calls changed the history: %v items, want 7", n)
		}
	})

	t.Run("publishing a service without APIs", func(t *testing.T) {
		empty := e.createService("empty")
		e.wantErr(e.do("POST", "/api/v1/services/"+empty+"/releases", map[string]any{"environment": "test"}), 400, "InvalidParameter", "")
	})
}

func TestPublishCollision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.createService("a")
	b := e.createService("b")
	e.createAPI(a, mockAPIBody("users", "/users"))
	e.createAPI(b, mockAPIBody("people", "/users"))
	e.publish(a, "release")

	r := e.do("POST", "/api/v1/services/"+b+"/releases", map[string]any{"environment": "release"})
	ae := e.wantErr(r, 409, "Conflict", "")
	if len(ae.Details) != 1 || !strings.Contains(string(ae.Details[0]), a) {
		t.Errorf("details do not name service a: %s", r.raw)
	}
	golden(t, "publish_collision", r)
	// Another environment does not collide.
	e.publish(b, "test")
	// Nor does the same environment once a is unpublished.
	e.must(204, "DELETE", "/api/v1/services/"+a+"/environments/release", nil)
	e.publish(b, "release")
}

func TestPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const n = 105
	for i := range n {
		e.must(201, "POST", "/api/v1/services", serviceBodyMap(fmt.Sprintf("svc%03d", i)))
	}
	names := func(l map[string]any) []string {
		var out []string
		for _, it := range l["items"].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return out
	}
	tests := []struct {
		query      string
		count      int
		first      string
		wantStatus int
		field      string
	}{
		{"", 20, "svc000", 200, ""},
		{"?limit=5", 5, "svc000", 200, ""},
		{"?limit=100", 100, "svc000", 200, ""},
		{"?limit=101", 100, "svc000", 200, ""},
		{"?limit=1000000", 100, "svc000", 200, ""},
		{"?limit=99999999999999999999999", 100, "svc000", 200, ""},
		{"?limit=0", 0, "", 200, ""},
		{"?limit=", 20, "svc000", 200, ""},
		{"?offset=100", 5, "svc100", 200, ""},
		{"?offset=100&limit=2", 2, "svc100", 200, ""},
		{"?offset=104", 1, "svc104", 200, ""},
		{"?offset=105", 0, "", 200, ""},
		{"?offset=5000", 0, "", 200, ""},
		{"?limit=-1", 0, "", 400, "limit"},
		{"?limit=abc", 0, "", 400, "limit"},
		{"?limit=1.5", 0, "", 400, "limit"},
		{"?limit=-99999999999999999999999", 0, "", 400, "limit"},
		{"?offset=-1", 0, "", 400, "offset"},
		{"?offset=x", 0, "", 400, "offset"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.do("GET", "/api/v1/services"+tt.query, nil)
			if tt.wantStatus != 200 {
				e.wantErr(r, tt.wantStatus, "InvalidParameter", tt.field)
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			l := r.json(t)
			got := names(l)
			if len(got) != tt.count || l["total"] != float64(n) {
				t.Fatalf("got %d items, total %v; want %d, %d", len(got), l["total"], tt.count, n)
			}
			if tt.count > 0 && got[0] != tt.first {
				t.Errorf("first = %s, want %s", got[0], tt.first)
			}
			if l["items"] == nil {
				t.Error("items is null")
			}
		})
	}
	t.Run("bad limit on every list", func(t *testing.T) {
		sid := e.must(200, "GET", "/api/v1/services?limit=1", nil)["items"].([]any)[0].(map[string]any)["id"].(string)
		ch := e.createChannel("", "default")["id"].(string)
		for _, p := range []string{
			"/api/v1/channels", "/api/v1/channels/" + ch + "/apis",
			"/api/v1/services/" + sid + "/apis", "/api/v1/services/" + sid + "/releases",
		} {
			e.wantErr(e.do("GET", p+"?limit=-3", nil), 400, "InvalidParameter", "limit")
			r := e.do("GET", p, nil)
			if r.status != 200 || !strings.Contains(string(r.raw), `"items":[`) {
				t.Errorf("%s: %d %s", p, r.status, r.raw)
			}
		}
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	valid := []byte(validChannelJSON)
	pad := func(total int) []byte {
		b := make([]byte, 0, total)
		b = append(b, valid...)
		for len(b) < total {
			b = append(b, ' ')
		}
		return b
	}
	t.Run("exactly 1 MiB is accepted", func(t *testing.T) {
		e.must(201, "POST", "/api/v1/channels", pad(1<<20))
	})
	t.Run("1 MiB + 1 byte is refused", func(t *testing.T) {
		before := e.must(200, "GET", "/api/v1/channels", nil)["total"]
		e.wantErr(e.do("POST", "/api/v1/channels", pad(1<<20+1)), 413, "PayloadTooLarge", "")
		if after := e.must(200, "GET", "/api/v1/channels", nil)["total"]; after != before {
			t.Errorf("total %v -> %v", before, after)
		}
	})
	t.Run("without Content-Length (chunked)", func(t *testing.T) {
		// An io.Reader of unknown length makes the client send chunked.
		r := e.do("POST", "/api/v1/channels", io.MultiReader(strings.NewReader(string(pad(1<<20+1)))))
		e.wantErr(r, 413, "PayloadTooLarge", "")
	})
	t.Run("on every write", func(t *testing.T) {
		sid := e.createService("s")
		big := pad(1<<20 + 1)
		for _, c := range []struct{ method, path string }{
			{"POST", "/api/v1/services"},
			{"PUT", "/api/v1/services/" + sid},
			{"PUT", "/api/v1/channels/ch-any"},
			{"POST", "/api/v1/services/" + sid + "/apis"},
			{"POST", "/api/v1/services/" + sid + "/releases"},
			{"POST", "/api/v1/services/" + sid + "/environments/test/rollback"},
		} {
			e.wantErr(e.do(c.method, c.path, big), 413, "PayloadTooLarge", "")
		}
	})
}

// failingStore makes chosen calls fail with an internal error.
type failingStore struct {
	store.Store
}

var errDisk = errors.New("disk I/O error at /var/lib/secret.db")

func (failingStore) GetChannel(context.Context, string) (*config.Channel, error) {
	return nil, errDisk
}

func (failingStore) CreateService(context.Context, *config.Service) error {
	return fmt.Errorf("sqlite: create service: %w", errDisk)
}

func TestInternalError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.Store = failingStore{o.Store} })
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/channels/ch-1", nil},
		{"POST", "/api/v1/services", serviceBodyMap("x")},
	} {
		r := e.do(c.method, c.path, c.body)
		ae := e.wantErr(r, 500, "InternalError", "")
		if strings.Contains(ae.Message, "secret") {
			t.Errorf("internal detail leaked: %s", r.raw)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, "secret.db") || !strings.Contains(logs, "level=ERROR") {
		t.Errorf("internal error not logged:\n%s", logs)
	}
}

func TestGoldenResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ch := channelMap("pool", "idc-sh")
	ch["description"] = "orders backends in the Shanghai IDC"
	r := e.do("POST", "/api/v1/channels", ch)
	golden(t, "channel_create_foreign_network", r)
	chID := r.json(t)["id"].(string)

	sid := e.createService("orders")
	r = e.do("POST", "/api/v1/services/"+sid+"/apis", channelAPIBody("get_order", "/orders/{id}", chID))
	golden(t, "api_create", r)

	bad := channelMap("pool2", "default")
	bad["nodes"].([]any)[0].(map[string]any)["port"] = 0
	golden(t, "error_invalid_parameter", e.do("POST", "/api/v1/channels", bad))
	golden(t, "error_not_found", e.do("GET", "/api/v1/services/svc-0000000000000000", nil))
	golden(t, "error_unauthorized", e.doAuth("GET", "/api/v1/services", nil, ""))
	golden(t, "error_conflict_name", e.do("POST", "/api/v1/channels", channelMap("pool", "default")))
}
