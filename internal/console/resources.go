package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// simpleList is a paged list page of one kind of object.
type simpleList[T any] struct {
	Rows  []T
	Pager pager
}

func listPage[T any](q *req, nav, tmpl, apiPath, consolePath string) {
	pageNo, offset := q.pageOffset(listLimit)
	var l list[T]
	if e := q.get(apiPath, pageQuery(listLimit, offset), &l); e != nil {
		q.failAPI(e)
		return
	}
	q.render(http.StatusOK, tmpl, &page{Nav: nav,
		D: simpleList[T]{Rows: l.Items, Pager: newPager(consolePath, pageNo, listLimit, l.Total)}})
}

// simpleForm is a create form of flat fields, as typed.
type simpleForm map[string]string

// V is a field's value (for templates).
func (f simpleForm) V(name string) string { return f[name] }

// readForm reads the named fields of a POST.
func (q *req) readForm(names ...string) simpleForm {
	f := simpleForm{}
	for _, n := range names {
		f[n] = q.form(n)
	}
	return f
}

// create POSTs body to apiPath; on success it leaves a flash and goes to
// the new object's page (next gets the created object's id and name); a
// refusal shows the form again with the error next to its field.
func create[T any](q *req, nav, tmpl, apiPath string, body any, form any, has func(string) bool,
	kind string, next func(*T) (id, name, path string)) {
	var obj T
	if e := q.call(http.MethodPost, apiPath, nil, body, &obj); e != nil {
		p := &page{Nav: nav, D: form}
		p.refuse(e, has)
		q.render(e.Status, tmpl, p)
		return
	}
	_, name, path := next(&obj)
	q.flash("flash.created", q.t(kind), name)
	q.redirect(path)
}

// fetch reads the object the URL names into out; on failure it has
// answered.
func fetch(q *req, apiPrefix string, out any) (id string, ok bool) {
	if id, ok = q.id("id"); !ok {
		return "", false
	}
	if e := q.get(apiPrefix+esc(id), nil, out); e != nil {
		q.failAPI(e)
		return "", false
	}
	return id, true
}

// --- keys ---

func (c *Console) keyList(q *req) {
	listPage[config.Key](q, "keys", "keys", "/api/v1/keys", "/console/keys")
}

func (c *Console) keyNew(q *req) {
	q.render(http.StatusOK, "key_form", &page{Nav: "keys", D: simpleForm{}})
}

func (c *Console) keyCreate(q *req) {
	f := q.readForm("name", "secret_id", "secret_key")
	body := map[string]any{"name": f["name"]}
	for _, k := range []string{"secret_id", "secret_key"} {
		if f[k] != "" {
			body[k] = f[k]
		}
	}
	create(q, "keys", "key_form", "/api/v1/keys", body, f, fieldSet("name", "secret_id", "secret_key"), "kind.key",
		func(k *config.Key) (string, string, string) { return k.ID, k.Name, "/console/keys/" + k.ID })
}

func (c *Console) keyDetail(q *req) {
	var k config.Key
	if _, ok := fetch(q, "/api/v1/keys/", &k); ok {
		q.render(http.StatusOK, "key", &page{Nav: "keys", D: k})
	}
}

func keyConfirm(k *config.Key) confirmData {
	return confirmData{Kind: "kind.key", Name: k.Name, Action: "/console/keys/" + k.ID + "/delete", Back: "/console/keys/" + k.ID}
}

func (c *Console) keyDeletePage(q *req) {
	var k config.Key
	if _, ok := fetch(q, "/api/v1/keys/", &k); ok {
		q.confirm("keys", keyConfirm(&k))
	}
}

func (c *Console) keyDelete(q *req) {
	var k config.Key
	if _, ok := fetch(q, "/api/v1/keys/", &k); ok {
		q.remove("keys", "/api/v1/keys/"+esc(k.ID), keyConfirm(&k), "/console/keys")
	}
}

// --- usage plans ---

func (c *Console) planList(q *req) {
	listPage[config.UsagePlan](q, "plans", "plans", "/api/v1/usage-plans", "/console/plans")
}

func (c *Console) planNew(q *req) {
	q.render(http.StatusOK, "plan_form", &page{Nav: "plans", D: simpleForm{}})
}

func (c *Console) planCreate(q *req) {
	f := q.readForm("name", "max_requests_per_second", "quota")
	body := map[string]any{"name": f["name"]}
	setNumber(body, "max_requests_per_second", f["max_requests_per_second"])
	setNumber(body, "quota", f["quota"])
	create(q, "plans", "plan_form", "/api/v1/usage-plans", body, f, fieldSet("name", "max_requests_per_second", "quota"),
		"kind.plan", func(p *config.UsagePlan) (string, string, string) { return p.ID, p.Name, "/console/plans/" + p.ID })
}

// bindForm is the form that binds a plan or a plugin to a service in one
// environment, to all its APIs or to the listed ones.
type bindForm struct {
	ServiceID, Environment, APIIDs string
}

func (q *req) readBindForm() bindForm {
	return bindForm{ServiceID: q.form("service_id"), Environment: q.form("environment"), APIIDs: q.form("api_ids")}
}

func (b bindForm) body() map[string]any {
	m := map[string]any{"service_id": b.ServiceID, "environment": b.Environment}
	if ids := strings.FieldsFunc(b.APIIDs, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }); len(ids) > 0 {
		m["api_ids"] = ids
	}
	return m
}

// bindField maps the API's field of a binding error onto the form.
func bindField(f string) string {
	if strings.HasPrefix(f, "api_ids[") {
		return "api_ids"
	}
	return f
}

var bindFields = fieldSet("service_id", "environment", "api_ids")

type planDetailData struct {
	Plan     config.UsagePlan
	Keys     []config.Key // all keys, for the add form
	KeyNames map[string]string
	Services map[string]string
	Svcs     []config.Service
	Quota    []quotaRow
	Bind     bindForm
	AddKey   string
}

type quotaRow struct {
	KeyID string `json:"key_id"`
	Used  int64  `json:"used"`
	Quota int64  `json:"quota"`
}

func (c *Console) planPage(q *req, p *page, status int) {
	var d planDetailData
	if prev, ok := p.D.(*planDetailData); ok {
		d.Bind, d.AddKey = prev.Bind, prev.AddKey
	}
	if _, ok := fetch(q, "/api/v1/usage-plans/", &d.Plan); !ok {
		return
	}
	keys, e := allPages[config.Key](q, "/api/v1/keys", 1000)
	if e != nil {
		q.failAPI(e)
		return
	}
	svcs, e := allPages[config.Service](q, "/api/v1/services", 1000)
	if e != nil {
		q.failAPI(e)
		return
	}
	var ql list[quotaRow]
	if e := q.get("/api/v1/usage-plans/"+esc(d.Plan.ID)+"/quota", nil, &ql); e == nil {
		d.Quota = ql.Items
	}
	d.Keys, d.Svcs, d.KeyNames, d.Services = keys, svcs, map[string]string{}, map[string]string{}
	for _, k := range keys {
		d.KeyNames[k.ID] = k.Name
	}
	for _, s := range svcs {
		d.Services[s.ID] = s.Name
	}
	p.Nav, p.D = "plans", &d
	q.render(status, "plan", p)
}

func (c *Console) planDetail(q *req) { c.planPage(q, &page{}, http.StatusOK) }

// planWrite sends one write about a plan and shows the plan page again
// with the refusal, or redirects to it with a flash.
func (c *Console) planWrite(q *req, method, apiPath string, body any, prev *planDetailData, has func(string) bool,
	fieldMap func(string) string, flashKey string) {
	id := q.r.PathValue("id")
	if e := q.call(method, apiPath, nil, body, nil); e != nil {
		if fieldMap != nil {
			e.Field = fieldMap(e.Field)
		}
		p := &page{D: prev}
		p.refuse(e, has)
		c.planPage(q, p, e.Status)
		return
	}
	q.flash(flashKey)
	q.redirect("/console/plans/" + id)
}

func (c *Console) planAddKey(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	kid := q.form("key_id")
	c.planWrite(q, http.MethodPost, "/api/v1/usage-plans/"+esc(id)+"/keys", map[string]any{"key_ids": []string{kid}},
		&planDetailData{AddKey: kid}, fieldSet("key_id"),
		func(f string) string {
			if strings.HasPrefix(f, "key_ids") {
				return "key_id"
			}
			return f
		}, "flash.keyadded")
}

func (c *Console) planRemoveKey(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	kid, ok := q.id("kid")
	if !ok {
		return
	}
	c.planWrite(q, http.MethodDelete, "/api/v1/usage-plans/"+esc(id)+"/keys/"+esc(kid), nil, nil, nil, nil, "flash.keyremoved")
}

func (c *Console) planBind(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	b := q.readBindForm()
	c.planWrite(q, http.MethodPost, "/api/v1/usage-plans/"+esc(id)+"/bindings", b.body(), &planDetailData{Bind: b},
		bindFields, bindField, "flash.bound")
}

func (c *Console) planUnbind(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	bid, ok := q.id("bid")
	if !ok {
		return
	}
	c.planWrite(q, http.MethodDelete, "/api/v1/usage-plans/"+esc(id)+"/bindings/"+esc(bid), nil, nil, nil, nil, "flash.unbound")
}

func planConfirm(p *config.UsagePlan) confirmData {
	return confirmData{Kind: "kind.plan", Name: p.Name, Action: "/console/plans/" + p.ID + "/delete", Back: "/console/plans/" + p.ID}
}

func (c *Console) planDeletePage(q *req) {
	var p config.UsagePlan
	if _, ok := fetch(q, "/api/v1/usage-plans/", &p); ok {
		q.confirm("plans", planConfirm(&p))
	}
}

func (c *Console) planDelete(q *req) {
	var p config.UsagePlan
	if _, ok := fetch(q, "/api/v1/usage-plans/", &p); ok {
		q.remove("plans", "/api/v1/usage-plans/"+esc(p.ID), planConfirm(&p), "/console/plans")
	}
}

// --- applications ---

func (c *Console) appList(q *req) {
	listPage[config.App](q, "apps", "apps", "/api/v1/apps", "/console/apps")
}

func (c *Console) appNew(q *req) {
	q.render(http.StatusOK, "app_form", &page{Nav: "apps", D: simpleForm{}})
}

func (c *Console) appCreate(q *req) {
	f := q.readForm("name", "description")
	create(q, "apps", "app_form", "/api/v1/apps", map[string]any{"name": f["name"], "description": f["description"]}, f,
		fieldSet("name", "description"), "kind.app",
		func(a *config.App) (string, string, string) { return a.ID, a.Name, "/console/apps/" + a.ID })
}

func (c *Console) appDetail(q *req) {
	var a config.App
	if _, ok := fetch(q, "/api/v1/apps/", &a); ok {
		q.render(http.StatusOK, "app", &page{Nav: "apps", D: a})
	}
}

func appConfirm(a *config.App) confirmData {
	return confirmData{Kind: "kind.app", Name: a.Name, Action: "/console/apps/" + a.ID + "/delete", Back: "/console/apps/" + a.ID}
}

func (c *Console) appDeletePage(q *req) {
	var a config.App
	if _, ok := fetch(q, "/api/v1/apps/", &a); ok {
		q.confirm("apps", appConfirm(&a))
	}
}

func (c *Console) appDelete(q *req) {
	var a config.App
	if _, ok := fetch(q, "/api/v1/apps/", &a); ok {
		q.remove("apps", "/api/v1/apps/"+esc(a.ID), appConfirm(&a), "/console/apps")
	}
}

// --- certificates ---

func (c *Console) certList(q *req) {
	listPage[config.Certificate](q, "certificates", "certificates", "/api/v1/certificates", "/console/certificates")
}

func (c *Console) certNew(q *req) {
	q.render(http.StatusOK, "certificate_form", &page{Nav: "certificates", D: simpleForm{}})
}

func (c *Console) certCreate(q *req) {
	// PEM is sent as typed (line breaks matter); the key is never shown
	// again, not even on a refusal.
	f := simpleForm{"name": q.form("name"), "cert_pem": q.r.PostForm.Get("cert_pem")}
	body := map[string]any{"name": f["name"], "cert_pem": f["cert_pem"], "key_pem": q.r.PostForm.Get("key_pem")}
	create(q, "certificates", "certificate_form", "/api/v1/certificates", body, f, fieldSet("name", "cert_pem", "key_pem"),
		"kind.certificate", func(c *config.Certificate) (string, string, string) { return c.ID, c.Name, "/console/certificates" })
}

func certConfirm(ct *config.Certificate) confirmData {
	return confirmData{Kind: "kind.certificate", Name: ct.Name, Action: "/console/certificates/" + ct.ID + "/delete", Back: "/console/certificates"}
}

func (c *Console) certDeletePage(q *req) {
	var ct config.Certificate
	if _, ok := fetch(q, "/api/v1/certificates/", &ct); ok {
		q.confirm("certificates", certConfirm(&ct))
	}
}

func (c *Console) certDelete(q *req) {
	var ct config.Certificate
	if _, ok := fetch(q, "/api/v1/certificates/", &ct); ok {
		q.remove("certificates", "/api/v1/certificates/"+esc(ct.ID), certConfirm(&ct), "/console/certificates")
	}
}

// --- status ---

// statusData is GET /api/v1/status as the console reads it, and the
// cluster's nodes (GET /api/v1/nodes).
type statusData struct {
	Revision     int64     `json:"revision"`
	BuiltAt      time.Time `json:"built_at"`
	APIs         int       `json:"apis"`
	DisabledAPIs []struct {
		ServiceID   string `json:"service_id"`
		APIID       string `json:"api_id"`
		Environment string `json:"environment"`
		Version     string `json:"version"`
		Message     string `json:"message"`
	} `json:"disabled_apis"`
	UnhealthyNodes []struct {
		ChannelID string     `json:"channel_id"`
		Addr      string     `json:"addr"`
		Weight    int        `json:"weight"`
		State     string     `json:"state"`
		Reason    string     `json:"reason"`
		Since     *time.Time `json:"since"`
	} `json:"unhealthy_nodes"`
	BuildError *struct {
		Revision int64     `json:"revision"`
		At       time.Time `json:"at"`
		Message  string    `json:"message"`
	} `json:"build_error"`
	Stale      bool       `json:"stale"`
	StaleSince *time.Time `json:"stale_since"`
	StaleError string     `json:"stale_error"`

	Nodes []clusterNode `json:"-"`
}

// clusterNode is one gateway node of GET /api/v1/nodes.
type clusterNode struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	Version   string    `json:"version"`
	ProxyAddr string    `json:"proxy_addr"`
	Revision  int64     `json:"revision"`
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
}

func (c *Console) statusPage(q *req) {
	var d statusData
	if e := q.get("/api/v1/status", nil, &d); e != nil {
		q.failAPI(e)
		return
	}
	var nodes struct {
		Items []clusterNode `json:"items"`
	}
	if e := q.get("/api/v1/nodes", nil, &nodes); e == nil {
		d.Nodes = nodes.Items
	}
	q.render(http.StatusOK, "status", &page{Nav: "status", D: d})
}
