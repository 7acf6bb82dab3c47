package admin

import (
	"reflect"
	"testing"
)

// TestAppBindingsOfApp: GET /api/v1/apps/{id}/bindings lists the APIs an
// application may call, each binding as the API's own list gives it,
// oldest first and paged; an unknown app is a 404.
func TestAppBindingsOfApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	app := e.must(201, "POST", "/api/v1/apps", map[string]any{"name": "shop_web"})["id"].(string)
	other := e.must(201, "POST", "/api/v1/apps", map[string]any{"name": "other"})["id"].(string)
	base := "/api/v1/apps/" + app + "/bindings"

	if r := e.do("GET", base, nil); r.status != 200 || string(r.raw) != `{"items":[],"total":0}`+"\n" {
		t.Fatalf("no bindings: %d %s", r.status, r.raw)
	}

	sid := e.createService("shop")
	orders := e.createAPI(sid, mockAPIBody("orders", "/orders"))["id"].(string)
	users := e.createAPI(sid, mockAPIBody("users", "/users"))["id"].(string)
	bind := func(app, api, environment string) map[string]any {
		return e.must(201, "POST", "/api/v1/services/"+sid+"/apis/"+api+"/apps",
			map[string]any{"app_id": app, "environment": environment})
	}
	b1 := bind(app, orders, "release")
	b2 := bind(app, users, "test")
	bind(other, orders, "release")

	l := e.must(200, "GET", base, nil)
	items := l["items"].([]any)
	if l["total"] != float64(2) || len(items) != 2 {
		t.Fatalf("bindings = %v", l)
	}
	if !reflect.DeepEqual(items[0], b1) || !reflect.DeepEqual(items[1], b2) {
		t.Fatalf("bindings = %v\nwant %v, %v", items, b1, b2)
	}
	// The same objects as the API's own list.
	perAPI := e.must(200, "GET", "/api/v1/services/"+sid+"/apis/"+users+"/apps", nil)["items"].([]any)
	if len(perAPI) != 1 || !reflect.DeepEqual(perAPI[0], items[1]) {
		t.Fatalf("per-API list %v, per-app item %v", perAPI, items[1])
	}

	page := e.must(200, "GET", base+"?limit=1&offset=1", nil)
	if got := page["items"].([]any); page["total"] != float64(2) || len(got) != 1 || got[0].(map[string]any)["id"] != b2["id"] {
		t.Fatalf("second page = %v", page)
	}
	e.wantErr(e.do("GET", base+"?limit=-1", nil), 400, "InvalidParameter", "limit")
	e.wantErr(e.do("GET", base+"?offset=x", nil), 400, "InvalidParameter", "offset")
	e.wantErr(e.do("GET", "/api/v1/apps/app-0000000000000000/bindings", nil), 404, "NotFound", "")
	e.wantErr(e.do("POST", base, map[string]any{}), 405, "MethodNotAllowed", "")

	// An unbinding is gone from the list at once.
	e.must(204, "DELETE", "/api/v1/services/"+sid+"/apis/"+orders+"/apps/"+b1["id"].(string), nil)
	l = e.must(200, "GET", base, nil)
	if items := l["items"].([]any); l["total"] != float64(1) || items[0].(map[string]any)["id"] != b2["id"] {
		t.Fatalf("after unbinding = %v", l)
	}
}
