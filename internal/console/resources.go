package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// simpleList is a paged list page of one kind of object.
type simpleList[T any] struct {
	Rows  []T
	Pager pager
}

// simpleForm is a form of flat fields, as typed, named as the API names
// them.
type simpleForm map[string]string

// editForm is a create or edit form of a resource, as the templates see
// it.
type editForm struct {
	Edit   bool
	ID     string
	Action string // where the form posts
	Back   string // where Cancel goes
	F      simpleForm
}

// V is a field's value (for templates).
func (f *editForm) V(name string) string { return f.F[name] }

// readForm reads the named fields of a POST.
func (q *req) readForm(names ...string) simpleForm {
	f := simpleForm{}
	for _, n := range names {
		f[n] = q.form(n)
	}
	return f
}

// resource describes a kind of object whose pages are alike: a paged list
// with a filter, a create and an edit form of flat fields, a delete behind
// a confirmation. Channels and services, whose forms have tables, have
// their own handlers, as have the pages of bindings.
type resource[T any] struct {
	nav   string // the navigation entry; the pages are /console/<nav>/…
	api   string // the API's collection, "/api/v1/keys"
	kind  string // catalogue key of the kind, "kind.key"
	list  string // list template
	form  string // create and edit template
	limit int64  // the form's body limit
	// detail: each object has a page; else the list is its page.
	detail bool
	ident  func(*T) (id, name string)
	search func(*T) []string // what the list's filter matches
	// fields are the form's inputs; secret ones are never shown again,
	// not even when the API refuses the form.
	fields, secret []string
	defaults       simpleForm
	fill           func(*T) simpleForm // the edit form of a stored object
	// body writes the form onto base: an empty map on a create, the
	// stored object without its read-only fields on an edit (so that what
	// a form does not show goes back as it is).
	body func(f simpleForm, base map[string]any) map[string]any
	// field maps an API field onto the form input that shows it (nil: as
	// is).
	field func(string) string
}

// register adds the resource's list, create, edit and delete pages.
func register[T any](c *Console, r *resource[T]) {
	base := "/console/" + r.nav
	c.page(base, r.listPage)
	c.page(base+"/new", r.newPage)
	c.action(base+"/new", r.limit, r.create)
	c.page(base+"/{id}/edit", r.editPage)
	c.action(base+"/{id}/edit", r.limit, r.update)
	c.page(base+"/{id}/delete", r.deletePage)
	c.action(base+"/{id}/delete", smallForm, r.delete)
}

// page is where an object is shown.
func (r *resource[T]) page(id string) string {
	if r.detail {
		return "/console/" + r.nav + "/" + id
	}
	return "/console/" + r.nav
}

func (r *resource[T]) listPage(q *req) {
	rows, pg, e := listRows(q, r.api, "/console/"+r.nav, r.search)
	if e != nil {
		q.failAPI(e)
		return
	}
	q.render(http.StatusOK, r.list, &page{Nav: r.nav, D: simpleList[T]{Rows: rows, Pager: pg}})
}

func (r *resource[T]) newPage(q *req) {
	f := simpleForm{}
	for k, v := range r.defaults {
		f[k] = v
	}
	q.render(http.StatusOK, r.form, &page{Nav: r.nav,
		D: &editForm{Action: "/console/" + r.nav + "/new", Back: "/console/" + r.nav, F: f}})
}

// fetch reads the object the URL names; on failure it has answered.
func (r *resource[T]) fetch(q *req) (*T, bool) {
	var obj T
	if _, ok := fetch(q, r.api+"/", &obj); !ok {
		return nil, false
	}
	return &obj, true
}

func (r *resource[T]) editPage(q *req) {
	obj, ok := r.fetch(q)
	if !ok {
		return
	}
	id, _ := r.ident(obj)
	q.render(http.StatusOK, r.form, &page{Nav: r.nav, D: &editForm{Edit: true, ID: id,
		Action: "/console/" + r.nav + "/" + id + "/edit", Back: r.page(id), F: r.fill(obj)}})
}

func (r *resource[T]) create(q *req) {
	f := q.readForm(r.fields...)
	r.save(q, http.MethodPost, r.api, f, r.body(f, map[string]any{}), &editForm{
		Action: "/console/" + r.nav + "/new", Back: "/console/" + r.nav, F: f}, "flash.created")
}

func (r *resource[T]) update(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	base, e := stored(q, r.api+"/"+esc(id))
	if e != nil {
		q.failAPI(e)
		return
	}
	f := q.readForm(r.fields...)
	r.save(q, http.MethodPut, r.api+"/"+esc(id), f, r.body(f, base), &editForm{Edit: true, ID: id,
		Action: "/console/" + r.nav + "/" + id + "/edit", Back: r.page(id), F: f}, "flash.saved")
}

// save sends a create or an edit. On success it leaves a flash and goes
// to the object's page; a refusal shows the form again, as typed but for
// its secrets, with the error next to the field it names.
func (r *resource[T]) save(q *req, method, apiPath string, f simpleForm, body any, form *editForm, flashKey string) {
	var obj T
	if e := q.call(method, apiPath, nil, body, &obj); e != nil {
		for _, k := range r.secret {
			delete(f, k)
		}
		if r.field != nil {
			e.Field = r.field(e.Field)
		}
		p := &page{Nav: r.nav, D: form}
		p.refuse(e, fieldSet(r.fields...))
		q.render(e.Status, r.form, p)
		return
	}
	id, name := r.ident(&obj)
	q.flash(flashKey, q.t(r.kind), name)
	q.redirect(r.page(id))
}

func (r *resource[T]) confirm(obj *T) confirmData {
	id, name := r.ident(obj)
	return confirmData{Kind: r.kind, Name: name, Action: "/console/" + r.nav + "/" + id + "/delete", Back: r.page(id)}
}

func (r *resource[T]) deletePage(q *req) {
	if obj, ok := r.fetch(q); ok {
		q.confirm(r.nav, r.confirm(obj))
	}
}

func (r *resource[T]) delete(q *req) {
	if obj, ok := r.fetch(q); ok {
		id, _ := r.ident(obj)
		q.remove(r.nav, r.api+"/"+esc(id), r.confirm(obj), "/console/"+r.nav)
	}
}

// detailPage shows one object with template tmpl.
func (r *resource[T]) detailPage(tmpl string) handler {
	return func(q *req) {
		if obj, ok := r.fetch(q); ok {
			q.render(http.StatusOK, tmpl, &page{Nav: r.nav, D: obj})
		}
	}
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

var keys = &resource[config.Key]{
	nav: "keys", api: "/api/v1/keys", kind: "kind.key", list: "keys", form: "key_form", limit: mediumForm, detail: true,
	ident:  func(k *config.Key) (string, string) { return k.ID, k.Name },
	search: func(k *config.Key) []string { return []string{k.Name, k.ID, k.SecretID} },
	fields: []string{"name", "secret_id", "secret_key"}, secret: []string{"secret_key"},
	fill: func(k *config.Key) simpleForm { return simpleForm{"name": k.Name, "secret_id": k.SecretID} },
	// An empty secret is generated on a create and kept on an edit.
	body: func(f simpleForm, base map[string]any) map[string]any {
		base["name"], base["secret_id"], base["secret_key"] = f["name"], f["secret_id"], f["secret_key"]
		return base
	},
}

// --- usage plans ---

var plans = &resource[config.UsagePlan]{
	nav: "plans", api: "/api/v1/usage-plans", kind: "kind.plan", list: "plans", form: "plan_form", limit: mediumForm, detail: true,
	ident:  func(p *config.UsagePlan) (string, string) { return p.ID, p.Name },
	search: func(p *config.UsagePlan) []string { return []string{p.Name, p.ID} },
	fields: []string{"name", "max_requests_per_second", "quota"},
	fill: func(p *config.UsagePlan) simpleForm {
		return simpleForm{"name": p.Name, "max_requests_per_second": strconv.FormatInt(p.RPS(), 10),
			"quota": strconv.FormatInt(p.QuotaLimit(), 10)}
	},
	body: func(f simpleForm, base map[string]any) map[string]any {
		// The plan's keys and bindings have forms of their own.
		delete(base, "key_ids")
		delete(base, "bindings")
		base["name"] = f["name"]
		for _, k := range []string{"max_requests_per_second", "quota"} {
			delete(base, k)
			setNumber(base, k, f[k])
		}
		return base
	},
}

// --- applications ---

var apps = &resource[config.App]{
	nav: "apps", api: "/api/v1/apps", kind: "kind.app", list: "apps", form: "app_form", limit: mediumForm, detail: true,
	ident:  func(a *config.App) (string, string) { return a.ID, a.Name },
	search: func(a *config.App) []string { return []string{a.Name, a.ID, a.Description, a.AppKey} },
	fields: []string{"name", "description"},
	fill:   func(a *config.App) simpleForm { return simpleForm{"name": a.Name, "description": a.Description} },
	body: func(f simpleForm, base map[string]any) map[string]any {
		base["name"], base["description"] = f["name"], f["description"]
		return base
	},
}

// appDetailData is the page of an application: what it is, and the APIs
// it may call.
type appDetailData struct {
	App      config.App
	Bindings []appBindingRow
	Pager    pager
}

// appBindingRow is one binding of the application with the names of its
// service and API.
type appBindingRow struct {
	config.AppBinding
	ServiceName           string
	APIName, Method, Path string
	Gone                  bool // the draft API was deleted; the binding stays until removed
}

func (c *Console) appPage(q *req, p *page, status int) {
	var d appDetailData
	if _, ok := fetch(q, "/api/v1/apps/", &d.App); !ok {
		return
	}
	pageNo, offset := q.pageOffset(listLimit)
	var l list[config.AppBinding]
	if e := q.get("/api/v1/apps/"+esc(d.App.ID)+"/bindings", pageQuery(listLimit, offset), &l); e != nil {
		q.failAPI(e)
		return
	}
	d.Pager = newPager("/console/apps/"+d.App.ID, pageNo, listLimit, l.Total)
	d.Pager.Anchor, d.Pager.Label = "#app-apis-heading", "app.apis.pages"
	services := map[string]string{}
	apis := map[string]*config.API{}
	for _, b := range l.Items {
		row := appBindingRow{AppBinding: b}
		name, ok := services[b.ServiceID]
		if !ok {
			var svc config.Service
			if q.get("/api/v1/services/"+esc(b.ServiceID), nil, &svc) == nil {
				name = svc.Name
			}
			services[b.ServiceID] = name
		}
		row.ServiceName = nameOr(name, b.ServiceID)
		key := b.ServiceID + "/" + b.APIID
		a, ok := apis[key]
		if !ok {
			var x config.API
			if e := q.get("/api/v1/services/"+esc(b.ServiceID)+"/apis/"+esc(b.APIID), nil, &x); e == nil {
				a = &x
			}
			apis[key] = a
		}
		if a != nil {
			row.APIName, row.Method, row.Path = a.Name, a.Frontend.Method, a.Frontend.Path
		} else {
			row.Gone = true
		}
		d.Bindings = append(d.Bindings, row)
	}
	p.Nav, p.D = "apps", &d
	q.render(status, "app", p)
}

func (c *Console) appDetail(q *req) { c.appPage(q, &page{}, http.StatusOK) }

// appUnbind removes one binding of the application; the form names the
// binding's service and API, which the API's URL needs.
func (c *Console) appUnbind(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	bid, ok := q.id("bid")
	if !ok {
		return
	}
	sid, aid := q.form("service_id"), q.form("api_id")
	if !idPattern.MatchString(sid) || !idPattern.MatchString(aid) {
		q.fail(http.StatusBadRequest, q.t("err.form"))
		return
	}
	if e := q.call(http.MethodDelete, "/api/v1/services/"+esc(sid)+"/apis/"+esc(aid)+"/apps/"+esc(bid), nil, nil, nil); e != nil {
		p := &page{}
		p.refuse(e, nil)
		c.appPage(q, p, e.Status)
		return
	}
	q.flash("flash.appunbound")
	q.redirect("/console/apps/" + id)
}

// --- certificates ---

// certificates replace their chain and key together: the API takes both
// on an edit, and never shows the key.
var certificates = &resource[config.Certificate]{
	nav: "certificates", api: "/api/v1/certificates", kind: "kind.certificate", list: "certificates",
	form: "certificate_form", limit: largeForm,
	ident:  func(c *config.Certificate) (string, string) { return c.ID, c.Name },
	search: func(c *config.Certificate) []string { return append([]string{c.Name, c.ID}, c.Hosts...) },
	fields: []string{"name", "cert_pem", "key_pem"}, secret: []string{"key_pem"},
	fill: func(c *config.Certificate) simpleForm { return simpleForm{"name": c.Name, "cert_pem": c.CertPEM} },
	body: func(f simpleForm, base map[string]any) map[string]any {
		for _, k := range []string{"hosts", "not_before", "not_after"} {
			delete(base, k)
		}
		base["name"], base["cert_pem"], base["key_pem"] = f["name"], f["cert_pem"], f["key_pem"]
		return base
	},
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
