package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	rowRe  = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRe = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tagRe  = regexp.MustCompile(`<[^>]+>`)
	timeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
)

// tableRows is the text of the body rows of the table with id, as a
// reader sees it: one string per row, its cells joined by " | ", from
// the cell skip on.
func tableRows(t *testing.T, body, id string, skip int) []string {
	t.Helper()
	start := strings.Index(body, `<table id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no table %s in page:\n%s", id, body)
	}
	tbl := body[start:]
	tbl = tbl[:strings.Index(tbl, "</table>")]
	if i := strings.Index(tbl, "<tbody>"); i >= 0 {
		tbl = tbl[i:]
	}
	var rows []string
	for _, r := range rowRe.FindAllStringSubmatch(tbl, -1) {
		var cells []string
		for _, c := range cellRe.FindAllStringSubmatch(r[1], -1) {
			cells = append(cells, strings.Join(strings.Fields(html.UnescapeString(tagRe.ReplaceAllString(c[1], " "))), " "))
		}
		if len(cells) > skip {
			rows = append(rows, strings.Join(cells[skip:], " | "))
		}
	}
	return rows
}

func wantRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReleaseHistory: the environments tab shows every publish,
// promotion, rollback and unpublish, newest first, with the notes the
// switch-version and unpublish forms send; a refused note is shown under
// its row's input; the history is paged and translated.
func TestReleaseHistory(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	_, m := e.api("POST", "/api/v1/services", `{"name":"shop"}`)
	svc := m["id"].(string)
	e.api("POST", "/api/v1/services/"+svc+"/apis", `{"name":"ping","frontend":{"path":"/ping","method":"GET"},
		"backend":{"type":"mock","mock":{"status":200}}}`)
	page := "/console/services/" + svc + "/environments"
	b := e.browser()
	b.signIn()

	_, body := b.get(page)
	mustContain(t, body, `id="history-heading"`, `id="history-empty"`, "Nothing has been published yet.")

	_, body = b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"release"}, "description": {"first"}})
	mustContain(t, body, "Published shop as v1 to release")
	wantRows(t, tableRows(t, body, "history", 1), "Publish | release | none → v1 | first")

	// Promote v1 to test, with a note.
	_, body = b.post("/console/services/"+svc+"/rollback", url.Values{"environment": {"test"}, "version": {"v1"},
		"description": {"try it in test"}})
	mustContain(t, body, "shop now serves v1 in test")
	wantRows(t, tableRows(t, body, "history", 1),
		"Promote | test | none → v1 | try it in test",
		"Publish | release | none → v1 | first")

	// A new version in test, then test back on v1: a rollback.
	b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"test"}, "description": {"second"}})
	_, body = b.post("/console/services/"+svc+"/rollback", url.Values{"environment": {"test"}, "version": {"v1"},
		"description": {"v2 is slow"}})
	mustContain(t, body, "shop now serves v1 in test")

	// A note the API refuses is shown under that row's note input, as
	// typed, and changes nothing.
	long := strings.Repeat("x", 201)
	st, body := b.post("/console/services/"+svc+"/rollback", url.Values{"environment": {"prepub"}, "version": {"v2"},
		"description": {long}})
	if st != http.StatusBadRequest {
		t.Fatalf("a long note: %d", st)
	}
	mustContain(t, body, `href="#f-rollback-v2-description"`,
		`id="f-rollback-v2-description" name="description" value="`+long+`"`,
		`aria-invalid="true" aria-describedby="f-rollback-v2-description-err"`,
		`<p class="err" id="f-rollback-v2-description-err">description must be at most 200 characters</p>`,
		`<option value="prepub" selected>pre-release</option>`)
	if strings.Contains(body, `id="f-rollback-v1-description" name="description" value="x`) {
		t.Fatal("the typed note is shown on another row")
	}
	st, body = b.post("/console/services/"+svc+"/unpublish", url.Values{"environment": {"test"}, "description": {long}})
	if st != http.StatusBadRequest {
		t.Fatalf("a long unpublish note: %d", st)
	}
	mustContain(t, body, `<p class="err" id="f-unpublish-test-description-err">description must be at most 200 characters</p>`,
		`id="f-unpublish-test-description" name="description" value="`+long+`"`)

	// Unpublish test with a note.
	_, body = b.post("/console/services/"+svc+"/unpublish", url.Values{"environment": {"test"}, "description": {"maintenance"}})
	mustContain(t, body, "shop no longer serves in test")
	want := []string{
		"Unpublish | test | v1 → none | maintenance",
		"Roll back | test | v2 → v1 | v2 is slow",
		"Publish | test | v1 → v2 | second",
		"Promote | test | none → v1 | try it in test",
		"Publish | release | none → v1 | first",
	}
	wantRows(t, tableRows(t, body, "history", 1), want...)
	for _, r := range tableRows(t, body, "history", 0) {
		if s, _, _ := strings.Cut(r, " | "); !timeRe.MatchString(s) {
			t.Fatalf("a history row without its time: %q", r)
		}
	}
	// The notes reached the API's history.
	_, h := e.api("GET", "/api/v1/services/"+svc+"/history", "")
	if items := h["items"].([]any); len(items) != 5 || items[0].(map[string]any)["description"] != "maintenance" ||
		items[1].(map[string]any)["description"] != "v2 is slow" {
		t.Fatalf("API history: %v", h)
	}

	// In Chinese.
	b.get("/console/lang?to=zh&back=" + page)
	_, body = b.get(page)
	mustContain(t, body, "发布记录", "版本：变更前 → 变更后")
	wantRows(t, tableRows(t, body, "history", 1),
		"下线 | 测试 | v1 → 无 | maintenance",
		"回滚 | 测试 | v2 → v1 | v2 is slow",
		"发布 | 测试 | v1 → v2 | second",
		"推广 | 测试 | 无 → v1 | try it in test",
		"发布 | 线上 | 无 → v1 | first")
	b.get("/console/lang?to=en&back=" + page)

	// Paged by 20: 17 more publishes make 22 events and 19 versions.
	for i := range 17 {
		b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"prepub"}, "description": {"n" + strconv.Itoa(i)}})
	}
	_, body = b.get(page)
	if rows := tableRows(t, body, "history", 1); len(rows) != 20 || rows[0] != "Publish | pre-release | v18 → v19 | n16" {
		t.Fatalf("first page of the history: %d rows, first %q", len(rows), rows[0])
	}
	mustContain(t, body, `aria-label="Pages of the history"`, `href="`+page+`?history_page=2#history-heading"`)
	if strings.Contains(body, `aria-label="Pages of the versions"`) {
		t.Fatal("19 versions are paged")
	}
	_, body = b.get(page + "?history_page=2")
	wantRows(t, tableRows(t, body, "history", 1), want[3:]...)
	mustContain(t, body, `href="`+page+`?history_page=1#history-heading"`, "Page 2 of 2")
	// The versions' list is not moved by the history's page.
	mustContain(t, body, "<td class=\"mono\">v19</td>")
}

// TestAppBoundAPIs: an application's page lists the APIs it is bound to,
// each linking to the API's page, with its service and environment; a
// binding is removed from there; a binding whose draft API was deleted
// is shown and can be removed.
func TestAppBoundAPIs(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	_, m := e.api("POST", "/api/v1/apps", `{"name":"shop_web"}`)
	app := m["id"].(string)
	_, m = e.api("POST", "/api/v1/apps", `{"name":"other"}`)
	other := m["id"].(string)
	_, m = e.api("POST", "/api/v1/services", `{"name":"shop"}`)
	svc := m["id"].(string)
	newAPI := func(name, path string) string {
		_, m := e.api("POST", "/api/v1/services/"+svc+"/apis", `{"name":"`+name+`","frontend":{"path":"`+path+`","method":"GET"},
			"backend":{"type":"mock","mock":{"status":200}},"auth":{"type":"app"}}`)
		return m["id"].(string)
	}
	orders, users := newAPI("orders", "/orders"), newAPI("users", "/users")
	b := e.browser()
	b.signIn()
	appPage := "/console/apps/" + app

	_, body := b.get(appPage)
	mustContain(t, body, "APIs it may call", `id="app-apis-empty"`, "This application is not bound to any API.")

	// Bound on the APIs' pages, as before.
	b.get("/console/services/" + svc + "/apis/" + orders)
	b.post("/console/services/"+svc+"/apis/"+orders+"/apps", url.Values{"app_id": {app}, "environment": {"release"}})
	b.post("/console/services/"+svc+"/apis/"+users+"/apps", url.Values{"app_id": {app}, "environment": {"test"}})
	b.post("/console/services/"+svc+"/apis/"+users+"/apps", url.Values{"app_id": {other}, "environment": {"release"}})

	_, body = b.get(appPage)
	wantRows(t, tableRows(t, body, "app-apis", 0),
		"orders GET /orders | shop | release | "+cellTime(t, body, 0)+" | Remove",
		"users GET /users | shop | test | "+cellTime(t, body, 1)+" | Remove")
	mustContain(t, body, `<a href="/console/services/`+svc+`/apis/`+orders+`">orders</a>`,
		`<a href="/console/services/`+svc+`">shop</a>`, `aria-label="Unbind from users in test"`)

	// Unbind users from the application's page.
	_, l := e.api("GET", "/api/v1/apps/"+app+"/bindings", "")
	items := l["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("bindings: %v", l)
	}
	bUsers := items[1].(map[string]any)["id"].(string)
	_, body = b.post(appPage+"/bindings/"+bUsers+"/remove", url.Values{"service_id": {svc}, "api_id": {users}})
	mustContain(t, body, "Application unbound.")
	if rows := tableRows(t, body, "app-apis", 0); len(rows) != 1 || !strings.HasPrefix(rows[0], "orders GET /orders | shop | release") {
		t.Fatalf("after unbinding: %q", rows)
	}
	// The other application keeps its binding of users.
	_, body = b.get("/console/services/" + svc + "/apis/" + users)
	mustContain(t, body, `<a href="/console/apps/`+other+`">other</a>`)
	// Removing it again is the API's 404, shown on the page.
	st, body := b.post(appPage+"/bindings/"+bUsers+"/remove", url.Values{"service_id": {svc}, "api_id": {users}})
	if st != http.StatusNotFound {
		t.Fatalf("a second unbind: %d", st)
	}
	mustContain(t, body, `id="refusal"`, "not found", `id="app-apis"`)

	// The draft API is deleted: the binding stays, shown by its id, and
	// can be removed here (the API's page is gone).
	e.api("DELETE", "/api/v1/services/"+svc+"/apis/"+orders, "")
	_, body = b.get(appPage)
	if rows := tableRows(t, body, "app-apis", 0); len(rows) != 1 || !strings.HasPrefix(rows[0], orders+" (API deleted) | shop | release") {
		t.Fatalf("a deleted API: %q", rows)
	}
	_, l = e.api("GET", "/api/v1/apps/"+app+"/bindings", "")
	bOrders := l["items"].([]any)[0].(map[string]any)["id"].(string)
	_, body = b.post(appPage+"/bindings/"+bOrders+"/remove", url.Values{"service_id": {svc}, "api_id": {orders}})
	mustContain(t, body, "Application unbound.", `id="app-apis-empty"`)

	// In Chinese.
	b.get("/console/lang?to=zh&back=" + appPage)
	_, body = b.get(appPage)
	mustContain(t, body, "可调用的 API", "此应用尚未绑定任何 API。")
}

// cellTime is the time shown in the 4th cell of row i of the app's
// bindings table.
func cellTime(t *testing.T, body string, i int) string {
	t.Helper()
	rows := tableRows(t, body, "app-apis", 3)
	if i >= len(rows) {
		t.Fatalf("no row %d", i)
	}
	s, _, _ := strings.Cut(rows[i], " | ")
	if !timeRe.MatchString(s) {
		t.Fatalf("row %d has no time: %q", i, rows[i])
	}
	return s
}
