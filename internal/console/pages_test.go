package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/console"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/store"
)

// noMissingKeys fails the test if any page it renders looks up a key the
// catalogue lacks.
func noMissingKeys(t *testing.T) {
	console.SetOnMissing(func(k string) { t.Errorf("catalogue has no key %q", k) })
	t.Cleanup(func() { console.SetOnMissing(nil) })
}

var idRe = regexp.MustCompile(`/console/(channels|services|keys|plans|apps|plugins)/((?:ch|svc|key|plan|app|plg|api)-[0-9a-f]+)`)

// lastID is the id of the first object of kind linked from body.
func lastID(t *testing.T, body, kind string) string {
	t.Helper()
	for _, m := range idRe.FindAllStringSubmatch(body, -1) {
		if m[1] == kind {
			return m[2]
		}
	}
	t.Fatalf("no %s id in page:\n%s", kind, body)
	return ""
}

// TestWholeFlow drives the console as an operator would: a channel, a
// service, an API on the channel through the wizard, a publish, the
// channel's associated APIs, a refused delete, an edit, monitoring and
// logs, in both languages.
func TestWholeFlow(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()

	_, body := b.post("/console/channels/new", channelForm("pool", "10.0.0.1:8080:1", "10.0.0.2:8080:1", "10.0.0.3:8080:1"))
	mustContain(t, body, "Created channel pool")
	ch := lastID(t, body, "channels")

	st, body := b.post("/console/services/new", url.Values{"name": {"shop"}, "protocol_http": {"on"}, "protocol_https": {"on"}})
	if st != http.StatusOK {
		t.Fatalf("service: %d %s", st, body)
	}
	mustContain(t, body, "Created service shop", "No APIs yet.")
	svc := lastID(t, body, "services")

	// The wizard: step 1, next, step 2 (the channel is offered), create.
	_, body = b.get("/console/services/" + svc + "/apis/new")
	mustContain(t, body, `name="frontend.path"`, `aria-current="step"`)
	step1 := url.Values{"name": {"orders"}, "frontend.path": {"/orders"}, "frontend.method": {"GET"}, "auth.type": {"none"},
		"backend.type": {"channel"}, "op": {"next"}}
	_, body = b.post("/console/services/"+svc+"/apis/new", step1)
	mustContain(t, body, `value="`+ch+`"`, "pool (default, 3 nodes)")
	// Back keeps what step 1 had.
	back := url.Values{"name": {"orders"}, "frontend.path": {"/orders"}, "frontend.method": {"GET"}, "auth.type": {"none"},
		"backend.type": {"channel"}, "backend.channel_id": {ch}, "op": {"back"}}
	_, body = b.post("/console/services/"+svc+"/apis/new", back)
	mustContain(t, body, `value="/orders"`, `name="backend.channel_id" value="`+ch+`"`)
	// A refusal of a step-1 field sends the user back to step 1 with the
	// error next to the field.
	bad := url.Values{"name": {"orders"}, "frontend.path": {"orders"}, "frontend.method": {"GET"}, "auth.type": {"none"},
		"backend.type": {"channel"}, "backend.channel_id": {ch}, "op": {"create"}}
	st, body = b.post("/console/services/"+svc+"/apis/new", bad)
	if st != http.StatusBadRequest {
		t.Fatalf("bad path: %d", st)
	}
	mustContain(t, body, `id="f-frontend-path-err"`, `aria-invalid="true"`, `href="#f-frontend-path"`)
	// A step-2 field: the channel left out.
	bad.Set("frontend.path", "/orders")
	bad.Set("backend.channel_id", "")
	st, body = b.post("/console/services/"+svc+"/apis/new", bad)
	if st != http.StatusBadRequest {
		t.Fatalf("no channel: %d", st)
	}
	mustContain(t, body, `id="f-backend-channel-id-err"`, "backend.channel_id")
	bad.Set("backend.channel_id", ch)
	st, body = b.post("/console/services/"+svc+"/apis/new", bad)
	if st != http.StatusOK {
		t.Fatalf("create API: %d\n%s", st, body)
	}
	mustContain(t, body, "Created API orders", "/orders", `href="/console/channels/`+ch+`">pool</a>`)

	// Publish, then the channel lists the API in the draft and in release.
	_, body = b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"release"}, "description": {"first"}})
	mustContain(t, body, "Published shop as v1 to release", `id="unpublish-release"`, "first")
	_, body = b.get("/console/channels/" + ch)
	mustContain(t, body, `id="channel-apis"`, ">orders<", ">draft<", ">release<")

	// Deleting the channel is refused with what holds it.
	_, body = b.get("/console/channels/" + ch + "/delete")
	mustContain(t, body, `id="confirm-delete"`)
	st, body = b.post("/console/channels/"+ch+"/delete", url.Values{})
	if st != http.StatusConflict {
		t.Fatalf("delete used channel: %d", st)
	}
	mustContain(t, body, "is used by 2 API binding(s)", "What stands in the way", ">shop<", ">orders<")
	if _, err := e.store.GetChannel(t.Context(), ch); err != nil {
		t.Fatalf("channel gone after a refused delete: %v", err)
	}

	// Environments: publish to test, roll release back to v1 from the
	// versions list, unpublish test.
	_, body = b.post("/console/services/"+svc+"/publish", url.Values{"environment": {"test"}})
	mustContain(t, body, "as v2 to test")
	_, body = b.post("/console/services/"+svc+"/rollback", url.Values{"environment": {"prepub"}, "version": {"v1"}})
	mustContain(t, body, "shop now serves v1 in pre-release", `id="unpublish-prepub"`)
	st, body = b.post("/console/services/"+svc+"/rollback", url.Values{"environment": {"prepub"}, "version": {"v9"}})
	if st != http.StatusBadRequest {
		t.Fatalf("rollback to a missing version: %d", st)
	}
	mustContain(t, body, `version &#34;v9&#34; is not a release of this service`)
	_, body = b.post("/console/services/"+svc+"/unpublish", url.Values{"environment": {"test"}})
	mustContain(t, body, "shop no longer serves in test")
	if strings.Contains(body, `id="unpublish-test"`) {
		t.Fatal("test still served after unpublish")
	}

	// Monitoring: traffic recorded by the data plane shows as SVG.
	var api config.API
	{
		apis, _, err := e.store.ListAPIs(t.Context(), svc, storePage())
		if err != nil || len(apis) != 1 {
			t.Fatalf("ListAPIs: %v %d", err, len(apis))
		}
		api = apis[0]
	}
	for i := range 5 {
		status := 200
		if i == 4 {
			status = 502
		}
		e.stats.ForAPI(svc, "release", api.ID).Record(status, 3*time.Millisecond, 10, 20)
	}
	_, body = b.get("/console/services/" + svc + "/monitoring")
	mustContain(t, body, "<svg", "<rect", "<polyline", "5 requests, 0 client errors, 1 server errors.", `id="chart-latency"`)
	if st, _ = b.get("/console/services/" + svc + "/monitoring?window=2h"); st != http.StatusBadRequest {
		t.Fatalf("bad window: %d", st)
	}

	// Logs: search by request id, API and keyword.
	e.logs.Add(observe.LogEntry{Time: time.Now(), Service: svc, Env: "release", API: api.ID, Status: 502,
		Line: []byte(`{"time":"2026-11-30T10:00:00Z","request_id":"req-abc","service_id":"` + svc + `","environment":"release","api_id":"` + api.ID + `","method":"GET","uri":"/orders","status":502,"request_time":0.004,"upstream_addr":"10.0.0.1:8080","error":"connect refused"}`)})
	_, body = b.get("/console/services/" + svc + "/logs?request_id=req-abc&api_id=" + api.ID + "&q=refused")
	mustContain(t, body, "req-abc", "GET /orders", "connect refused", "4 ms")
	_, body = b.get("/console/services/" + svc + "/logs?request_id=other")
	mustContain(t, body, `id="logs-empty"`)

	// Edit the channel: the form holds the nodes; a fourth is added.
	_, body = b.get("/console/channels/" + ch + "/edit")
	mustContain(t, body, `value="10.0.0.3"`)
	v := channelForm("pool", "10.0.0.1:8080:1", "10.0.0.2:8080:1", "10.0.0.3:8080:1", "10.0.0.4:8080:5")
	_, body = b.post("/console/channels/"+ch+"/edit", v)
	mustContain(t, body, "Saved channel pool", "10.0.0.4")

	// Every other page renders, in both languages.
	for _, lang := range []string{"en", "zh"} {
		b.get("/console/lang?to=" + lang + "&back=/console/channels")
		for _, p := range []string{"/console/channels", "/console/channels/new", "/console/channels/" + ch,
			"/console/channels/" + ch + "/edit", "/console/channels/" + ch + "/delete",
			"/console/services", "/console/services/new", "/console/services/" + svc,
			"/console/services/" + svc + "/environments", "/console/services/" + svc + "/monitoring",
			"/console/services/" + svc + "/logs", "/console/services/" + svc + "/apis/new",
			"/console/services/" + svc + "/delete", "/console/services/" + svc + "/apis/" + api.ID + "/delete",
			"/console/services/" + svc + "/edit", "/console/services/" + svc + "/apis/" + api.ID,
			"/console/services/" + svc + "/apis/" + api.ID + "/edit", "/console/services?q=sh", "/console/channels?q=none",
			"/console/keys", "/console/keys/new", "/console/plans", "/console/plans/new", "/console/apps", "/console/apps/new",
			"/console/plugins", "/console/plugins/new", "/console/certificates", "/console/certificates/new", "/console/status"} {
			if st, body := b.get(p); st != http.StatusOK {
				t.Fatalf("%s (%s): %d\n%s", p, lang, st, body)
			}
		}
	}
}

func storePage() store.Page { return store.Page{Limit: 100} }

// TestChannelPortError: port 70000 on the third row, after an empty
// second row, is shown next to the third row's port input.
func TestChannelPortError(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	v := channelForm("p", "10.0.0.1:80:1", "::", "10.0.0.3:70000:1")
	st, body := b.post("/console/channels/new", v)
	if st != http.StatusBadRequest {
		t.Fatalf("status %d", st)
	}
	mustContain(t, body, `id="f-nodes-2-port" name="nodes[2].port" type="text" inputmode="numeric" value="70000"`,
		`aria-invalid="true" aria-describedby="f-nodes-2-port-err"`,
		`<p class="err" id="f-nodes-2-port-err">nodes[2].port must be 1-65535</p>`, `href="#f-nodes-2-port"`)
	// A port that is not a number is the API's type error, on the field.
	v = channelForm("p", "10.0.0.1:eighty:1")
	_, body = b.post("/console/channels/new", v)
	mustContain(t, body, `id="f-nodes-0-port-err">nodes[0].port must be an integer, not string`)
	// Nothing was saved.
	if _, n, _ := e.store.ListChannels(t.Context(), storePage()); n != 0 {
		t.Fatalf("%d channels saved", n)
	}
}
