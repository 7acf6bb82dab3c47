package console

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"

	"github.com/portico-gw/portico/internal/config"
)

type serviceListData struct {
	Rows  []config.Service
	Pager pager
}

func (c *Console) serviceList(q *req) {
	rows, pg, e := listRows(q, "/api/v1/services", "/console/services", func(s *config.Service) []string {
		out := []string{s.Name, s.ID, s.Description}
		for _, d := range s.Domains {
			out = append(out, d.Host)
		}
		return out
	})
	if e != nil {
		q.failAPI(e)
		return
	}
	q.render(http.StatusOK, "services", &page{Nav: "services", D: serviceListData{Rows: rows, Pager: pg}})
}

// serviceForm is the create and edit form: name, description, protocols
// and a table of custom domains.
type serviceForm struct {
	Edit              bool
	ID, Action, Back  string
	Name, Description string
	HTTP, HTTPS       bool
	Domains           []domainRow
	Certs             []config.Certificate // for each domain's certificate
	Envs              []string
}

type domainRow struct {
	Host, Env, Cert string
	ForceHTTPS      bool
}

// maxDomainRows bounds the domain table the console reads from a form.
const maxDomainRows = 100

func (d domainRow) empty() bool { return d.Host == "" && d.Env == "" && d.Cert == "" && !d.ForceHTTPS }

func (c *Console) serviceNew(q *req) {
	f := &serviceForm{Action: "/console/services/new", Back: "/console/services", HTTP: true, HTTPS: true,
		Domains: []domainRow{{}}}
	c.serviceForm(q, f, &page{}, http.StatusOK)
}

func (c *Console) serviceEdit(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	f := &serviceForm{Edit: true, ID: svc.ID, Action: "/console/services/" + svc.ID + "/edit",
		Back: "/console/services/" + svc.ID, Name: svc.Name, Description: svc.Description,
		HTTP: slices.Contains(svc.Protocols, "http"), HTTPS: slices.Contains(svc.Protocols, "https")}
	for _, d := range svc.Domains {
		f.Domains = append(f.Domains, domainRow{Host: d.Host, Env: d.Environment, Cert: d.CertificateID, ForceHTTPS: d.ForceHTTPS})
	}
	f.Domains = append(f.Domains, domainRow{})
	c.serviceForm(q, f, &page{}, http.StatusOK)
}

// serviceForm renders the form, with the certificates its domains may
// name.
func (c *Console) serviceForm(q *req, f *serviceForm, p *page, status int) {
	certs, e := allPages[config.Certificate](q, "/api/v1/certificates", maxFiltered)
	if e != nil {
		q.failAPI(e)
		return
	}
	f.Certs, f.Envs = certs, config.Environments
	p.Nav, p.D = "services", f
	q.render(status, "service_form", p)
}

func readServiceForm(q *req) *serviceForm {
	f := &serviceForm{Name: q.form("name"), Description: q.form("description"),
		HTTP: q.form("protocol_http") == "on", HTTPS: q.form("protocol_https") == "on"}
	rows, _ := strconv.Atoi(q.form("domain_rows"))
	for i := range max(0, min(rows, maxDomainRows)) {
		p := "domains[" + strconv.Itoa(i) + "]."
		f.Domains = append(f.Domains, domainRow{Host: q.form(p + "host"), Env: q.form(p + "environment"),
			Cert: q.form(p + "certificate_id"), ForceHTTPS: q.form(p+"force_https") == "on"})
	}
	return f
}

// body writes the form onto base; index maps each domain sent to its row.
func (f *serviceForm) body(base map[string]any) (map[string]any, []int) {
	protocols := []string{}
	if f.HTTP {
		protocols = append(protocols, "http")
	}
	if f.HTTPS {
		protocols = append(protocols, "https")
	}
	domains := []any{}
	var index []int
	for i, d := range f.Domains {
		if d.empty() {
			continue
		}
		m := map[string]any{"host": d.Host}
		if d.Env != "" {
			m["environment"] = d.Env
		}
		if d.Cert != "" {
			m["certificate_id"] = d.Cert
		}
		if d.ForceHTTPS {
			m["force_https"] = true
		}
		domains = append(domains, m)
		index = append(index, i)
	}
	base["name"], base["description"], base["protocols"], base["domains"] = f.Name, f.Description, protocols, domains
	return base, index
}

var domainField = regexp.MustCompile(`^domains\[([0-9]+)\]\.(host|environment|certificate_id|force_https)$`)

func (f *serviceForm) has(field string) bool {
	switch field {
	case "name", "description", "protocols", "domains":
		return true
	}
	m := domainField.FindStringSubmatch(field)
	if m == nil {
		return false
	}
	k, err := strconv.Atoi(m[1])
	return err == nil && k < len(f.Domains)
}

func (c *Console) serviceCreate(q *req) {
	f := readServiceForm(q)
	f.Action, f.Back = "/console/services/new", "/console/services"
	c.serviceSave(q, f, http.MethodPost, "/api/v1/services", map[string]any{}, "flash.created")
}

func (c *Console) serviceUpdate(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	base, e := stored(q, "/api/v1/services/"+esc(id))
	if e != nil {
		q.failAPI(e)
		return
	}
	f := readServiceForm(q)
	f.Edit, f.ID, f.Action, f.Back = true, id, "/console/services/"+id+"/edit", "/console/services/"+id
	c.serviceSave(q, f, http.MethodPut, "/api/v1/services/"+esc(id), base, "flash.saved")
}

// serviceSave applies the domain table's buttons, or sends the form.
func (c *Console) serviceSave(q *req, f *serviceForm, method, apiPath string, base map[string]any, flashKey string) {
	p := &page{}
	if op, full := rowOp(q, &f.Domains, maxDomainRows, domainRow{}); op {
		if full {
			p.Errors = map[string]string{"domains": q.t("domain.max", maxDomainRows)}
		}
		c.serviceForm(q, f, p, http.StatusOK)
		return
	}
	body, index := f.body(base)
	var svc config.Service
	if e := q.call(method, apiPath, nil, body, &svc); e != nil {
		remapRows(e, "domains", index)
		e.Field = itemField(e.Field, "protocols")
		p.refuse(e, f.has)
		c.serviceForm(q, f, p, e.Status)
		return
	}
	q.flash(flashKey, q.t("kind.service"), svc.Name)
	q.redirect("/console/services/" + svc.ID)
}

// serviceTab is what every tab of a service page shows above its content.
type serviceTab struct {
	Svc config.Service
	Tab string
}

// service reads the service named in the URL; on failure it has answered.
func (q *req) service() (*config.Service, bool) {
	id, ok := q.id("id")
	if !ok {
		return nil, false
	}
	var svc config.Service
	if e := q.get("/api/v1/services/"+esc(id), nil, &svc); e != nil {
		q.failAPI(e)
		return nil, false
	}
	return &svc, true
}

type serviceAPIsData struct {
	serviceTab
	APIs     []config.API
	Total    int
	Channels map[string]string // id -> name, for the backend column
}

func (c *Console) serviceAPIs(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	d := serviceAPIsData{serviceTab: serviceTab{Svc: *svc, Tab: "apis"}, Channels: map[string]string{}}
	var l list[config.API]
	if e := q.get("/api/v1/services/"+esc(svc.ID)+"/apis", pageQuery(100, 0), &l); e != nil {
		q.failAPI(e)
		return
	}
	d.APIs, d.Total = l.Items, l.Total
	for _, a := range l.Items {
		if id := a.Backend.ChannelID; id != "" && d.Channels[id] == "" {
			var ch config.Channel
			if q.get("/api/v1/channels/"+esc(id), nil, &ch) == nil {
				d.Channels[id] = nameOr(ch.Name, ch.ID)
			}
		}
	}
	q.render(http.StatusOK, "service_apis", &page{Nav: "services", D: d})
}

// environmentsData is the environments and versions tab.
type environmentsData struct {
	serviceTab
	Current      []config.EnvironmentState
	Releases     []config.Release
	Pager        pager
	History      []config.ReleaseEvent
	HistoryPager pager
	Envs         []string
	// The publish form as typed.
	PublishEnv, PublishNote string
	// The refused switch-version or unpublish form, as typed: the row of
	// RollbackVersion (or of UnpublishEnv) shows them again.
	RollbackVersion, RollbackEnv, RollbackNote string
	UnpublishEnv, UnpublishNote                string
}

// historyParam is the query parameter of the history's page on the
// environments tab (?page= is the versions').
const historyParam = "history_page"

func (c *Console) environmentsPage(q *req, svc *config.Service, p *page, status int) {
	d, ok := p.D.(*environmentsData)
	if !ok {
		d = &environmentsData{PublishEnv: "test"}
	}
	d.serviceTab = serviceTab{Svc: *svc, Tab: "environments"}
	d.Envs = config.Environments
	var cur list[config.EnvironmentState]
	if e := q.get("/api/v1/services/"+esc(svc.ID)+"/environments", nil, &cur); e != nil {
		q.failAPI(e)
		return
	}
	pageNo, offset := q.pageOffset(listLimit)
	var rel list[config.Release]
	if e := q.get("/api/v1/services/"+esc(svc.ID)+"/releases", pageQuery(listLimit, offset), &rel); e != nil {
		q.failAPI(e)
		return
	}
	histNo, histOffset := q.pageParam(historyParam, listLimit)
	var hist list[config.ReleaseEvent]
	if e := q.get("/api/v1/services/"+esc(svc.ID)+"/history", pageQuery(listLimit, histOffset), &hist); e != nil {
		q.failAPI(e)
		return
	}
	d.Current, d.Releases, d.History = cur.Items, rel.Items, hist.Items
	// Each list's page links keep the other list's page.
	base := "/console/services/" + svc.ID + "/environments"
	d.Pager = newPager(base, pageNo, listLimit, rel.Total)
	if histNo > 1 {
		d.Pager.Base += "?" + historyParam + "=" + strconv.Itoa(histNo)
	}
	d.Pager.Anchor, d.Pager.Label = "#versions-heading", "env.versions.pages"
	d.HistoryPager = newPager(base, histNo, listLimit, hist.Total)
	if pageNo > 1 {
		d.HistoryPager.Base += "?page=" + strconv.Itoa(pageNo)
	}
	d.HistoryPager.Param, d.HistoryPager.Anchor, d.HistoryPager.Label = historyParam, "#history-heading", "history.pages"
	p.Nav, p.D = "services", d
	q.render(status, "service_environments", p)
}

func (c *Console) serviceEnvironments(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	c.environmentsPage(q, svc, &page{}, http.StatusOK)
}

func (c *Console) servicePublish(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	d := &environmentsData{PublishEnv: q.form("environment"), PublishNote: q.form("description")}
	var rel config.Release
	body := map[string]any{"environment": d.PublishEnv, "description": d.PublishNote}
	if e := q.call(http.MethodPost, "/api/v1/services/"+esc(svc.ID)+"/releases", nil, body, &rel); e != nil {
		p := &page{D: d}
		p.refuse(e, fieldSet("environment", "description"))
		c.environmentsPage(q, svc, p, e.Status)
		return
	}
	q.flash("flash.published", svc.Name, rel.Version, q.t(envKey(rel.Environment)))
	q.redirect("/console/services/" + svc.ID + "/environments")
}

func envKey(env string) string { return "env." + env }

// rowNoteField is the input of a note in one row of the tab
// (rollback.v3.description, unpublish.test.description): the API's
// "description" of that row's form.
func rowNoteField(form, row string) string { return form + "." + row + ".description" }

// refuseRow shows a refusal of a row's form, with an error about the note
// under that row's note input.
func (c *Console) refuseRow(q *req, svc *config.Service, d *environmentsData, e *apiError, noteField string) {
	if e.Field == "description" {
		e.Field = noteField
	}
	p := &page{D: d}
	p.refuse(e, fieldSet(noteField))
	c.environmentsPage(q, svc, p, e.Status)
}

func (c *Console) serviceRollback(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	env, version, note := q.form("environment"), q.form("version"), q.form("description")
	d := &environmentsData{PublishEnv: "test", RollbackVersion: version, RollbackEnv: env, RollbackNote: note}
	if !slices.Contains(config.Environments, env) {
		p := &page{D: d}
		p.refuse(&apiError{Status: http.StatusBadRequest, Message: q.t("env.unknown")}, nil)
		c.environmentsPage(q, svc, p, http.StatusBadRequest)
		return
	}
	var st config.EnvironmentState
	if e := q.call(http.MethodPost, "/api/v1/services/"+esc(svc.ID)+"/environments/"+esc(env)+"/rollback", nil,
		map[string]any{"version": version, "description": note}, &st); e != nil {
		c.refuseRow(q, svc, d, e, rowNoteField("rollback", version))
		return
	}
	q.flash("flash.served", svc.Name, st.Version, q.t(envKey(st.Environment)))
	q.redirect("/console/services/" + svc.ID + "/environments")
}

func (c *Console) serviceUnpublish(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	env, note := q.form("environment"), q.form("description")
	if !slices.Contains(config.Environments, env) {
		q.fail(http.StatusNotFound, q.t("env.unknown"))
		return
	}
	d := &environmentsData{PublishEnv: "test", UnpublishEnv: env, UnpublishNote: note}
	if e := q.call(http.MethodDelete, "/api/v1/services/"+esc(svc.ID)+"/environments/"+esc(env), nil,
		map[string]any{"description": note}, nil); e != nil {
		c.refuseRow(q, svc, d, e, rowNoteField("unpublish", env))
		return
	}
	q.flash("flash.unpublished", svc.Name, q.t(envKey(env)))
	q.redirect("/console/services/" + svc.ID + "/environments")
}

func serviceConfirm(svc *config.Service) confirmData {
	return confirmData{Kind: "kind.service", Name: svc.Name, Action: "/console/services/" + svc.ID + "/delete",
		Back: "/console/services/" + svc.ID, Note: "service.delete.note"}
}

func (c *Console) serviceDeletePage(q *req) {
	if svc, ok := q.service(); ok {
		q.confirm("services", serviceConfirm(svc))
	}
}

func (c *Console) serviceDelete(q *req) {
	if svc, ok := q.service(); ok {
		q.remove("services", "/api/v1/services/"+esc(svc.ID), serviceConfirm(svc), "/console/services")
	}
}

// apiOf reads the API named in the URL of a service page.
func (q *req) apiOf(svc *config.Service) (*config.API, bool) {
	aid, ok := q.id("aid")
	if !ok {
		return nil, false
	}
	var a config.API
	if e := q.get("/api/v1/services/"+esc(svc.ID)+"/apis/"+esc(aid), nil, &a); e != nil {
		q.failAPI(e)
		return nil, false
	}
	return &a, true
}

func apiConfirm(svc *config.Service, a *config.API) confirmData {
	return confirmData{Kind: "kind.api", Name: a.Name, Action: "/console/services/" + svc.ID + "/apis/" + a.ID + "/delete",
		Back: "/console/services/" + svc.ID, Note: "api.delete.note"}
}

func (c *Console) apiDeletePage(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	if a, ok := q.apiOf(svc); ok {
		q.confirm("services", apiConfirm(svc, a))
	}
}

func (c *Console) apiDelete(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	if a, ok := q.apiOf(svc); ok {
		q.remove("services", "/api/v1/services/"+esc(svc.ID)+"/apis/"+esc(a.ID), apiConfirm(svc, a), "/console/services/"+svc.ID)
	}
}

// logsQuery is the log search form of a service, as typed.
type logsQuery struct {
	RequestID, APIID, Keyword, Status string
}

func (l logsQuery) values(serviceID string) url.Values {
	v := url.Values{"service_id": {serviceID}}
	for k, x := range map[string]string{"request_id": l.RequestID, "api_id": l.APIID, "q": l.Keyword, "status": l.Status} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}
