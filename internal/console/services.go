package console

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/portico-gw/portico/internal/config"
)

type serviceListData struct {
	Rows  []config.Service
	Pager pager
}

func (c *Console) serviceList(q *req) {
	pageNo, offset := q.pageOffset(listLimit)
	var l list[config.Service]
	if e := q.get("/api/v1/services", pageQuery(listLimit, offset), &l); e != nil {
		q.failAPI(e)
		return
	}
	q.render(http.StatusOK, "services", &page{Nav: "services",
		D: serviceListData{Rows: l.Items, Pager: newPager("/console/services", pageNo, listLimit, l.Total)}})
}

// serviceForm is the create form: name, description, protocols and one
// optional custom domain.
type serviceForm struct {
	Name, Description string
	HTTP, HTTPS       bool
	DomainHost        string
	DomainEnv         string
	Envs              []string
}

func (c *Console) serviceNew(q *req) {
	q.render(http.StatusOK, "service_form", &page{Nav: "services",
		D: &serviceForm{HTTP: true, HTTPS: true, Envs: config.Environments}})
}

func (c *Console) serviceCreate(q *req) {
	f := &serviceForm{Name: q.form("name"), Description: q.form("description"),
		HTTP: q.form("protocol_http") == "on", HTTPS: q.form("protocol_https") == "on",
		DomainHost: q.form("domains[0].host"), DomainEnv: q.form("domains[0].environment"), Envs: config.Environments}
	protocols := []string{}
	if f.HTTP {
		protocols = append(protocols, "http")
	}
	if f.HTTPS {
		protocols = append(protocols, "https")
	}
	body := map[string]any{"name": f.Name, "description": f.Description, "protocols": protocols}
	if f.DomainHost != "" {
		d := map[string]any{"host": f.DomainHost}
		if f.DomainEnv != "" {
			d["environment"] = f.DomainEnv
		}
		body["domains"] = []any{d}
	}
	var svc config.Service
	if e := q.call(http.MethodPost, "/api/v1/services", nil, body, &svc); e != nil {
		if len(e.Field) > 10 && e.Field[:10] == "protocols[" {
			e.Field = "protocols"
		}
		p := &page{Nav: "services", D: f}
		p.refuse(e, fieldSet("name", "description", "protocols", "domains[0].host", "domains[0].environment"))
		q.render(e.Status, "service_form", p)
		return
	}
	q.flash("flash.created", q.t("kind.service"), svc.Name)
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
	Current  []config.EnvironmentState
	Releases []config.Release
	Pager    pager
	Envs     []string
	// The publish form as typed.
	PublishEnv, PublishNote string
}

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
	d.Current, d.Releases = cur.Items, rel.Items
	d.Pager = newPager("/console/services/"+svc.ID+"/environments", pageNo, listLimit, rel.Total)
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

func (c *Console) serviceRollback(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	env, version := q.form("environment"), q.form("version")
	if !slices.Contains(config.Environments, env) {
		p := &page{}
		p.refuse(&apiError{Status: http.StatusBadRequest, Message: q.t("env.unknown")}, nil)
		c.environmentsPage(q, svc, p, http.StatusBadRequest)
		return
	}
	var st config.EnvironmentState
	if e := q.call(http.MethodPost, "/api/v1/services/"+esc(svc.ID)+"/environments/"+esc(env)+"/rollback", nil,
		map[string]any{"version": version}, &st); e != nil {
		p := &page{}
		p.refuse(e, nil)
		c.environmentsPage(q, svc, p, e.Status)
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
	env := q.form("environment")
	if !slices.Contains(config.Environments, env) {
		q.fail(http.StatusNotFound, q.t("env.unknown"))
		return
	}
	if e := q.call(http.MethodDelete, "/api/v1/services/"+esc(svc.ID)+"/environments/"+esc(env), nil, nil, nil); e != nil {
		p := &page{}
		p.refuse(e, nil)
		c.environmentsPage(q, svc, p, e.Status)
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
