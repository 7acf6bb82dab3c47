package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// wizard is the API wizard, for a new API and for an edit. Step 1 asks
// how the API is called (name, path, method, protocol, authentication),
// step 2 where it goes (a channel, a URL or a mock answer); the API is
// written at the end of step 2 (or, on an edit, from either step). What
// the other step asked travels in hidden fields, so the wizard keeps no
// state on the server, and the API's refusal sends the user back to the
// step that has the field at fault. The form's inputs are named after the
// API's fields.
type wizard struct {
	Step        int
	Edit        bool
	SID, AID    string
	ServiceName string
	Action      string
	F           simpleForm

	Channels  []config.Channel
	Methods   []string
	Auths     []string
	Types     []string
	Protocols []string
}

var (
	apiMethods   = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"}
	apiAuths     = []string{config.AuthNone, config.AuthKey, config.AuthApp, config.AuthJWT}
	apiTypes     = []string{config.BackendChannel, config.BackendURL, config.BackendMock}
	apiProtocols = []string{"http", "websocket"}

	step1Fields = []string{"name", "description", "protocol", "frontend.path", "frontend.method", "auth.type",
		"auth.jwt.public_key_pem", "auth.jwt.jwks_url", "auth.jwt.issuer", "auth.jwt.audience", "auth.jwt.claim_headers"}
	step2Fields = []string{"backend.type", "backend.channel_id", "backend.url", "backend.path", "backend.timeout",
		"backend.mock.status", "backend.mock.headers", "backend.mock.body",
		"backend.tls.insecure_skip_verify", "backend.tls.server_name", "backend.tls.ca_pem"}
)

// V is a field's value (for templates).
func (w *wizard) V(name string) string { return w.F[name] }

// hidden is one value of the other step, carried in a hidden field.
type hidden struct{ Name, Value string }

// Hidden lists the values of the step not shown.
func (w *wizard) Hidden() []hidden {
	names := step2Fields
	if w.Step == 2 {
		names = step1Fields
	}
	out := make([]hidden, len(names))
	for i, n := range names {
		out[i] = hidden{n, w.F[n]}
	}
	return out
}

// TLS is the URL backend's TLS section.
func (w *wizard) TLS() tlsForm {
	return tlsForm{Skip: w.F["backend.tls.insecure_skip_verify"] == "on", ServerName: w.F["backend.tls.server_name"],
		CA: w.F["backend.tls.ca_pem"]}
}

func newWizard(svc *config.Service) *wizard {
	return &wizard{Step: 1, SID: svc.ID, ServiceName: svc.Name, Action: "/console/services/" + svc.ID + "/apis/new",
		F: simpleForm{"frontend.method": "GET", "protocol": "http", "auth.type": config.AuthNone,
			"backend.type": config.BackendChannel, "backend.mock.status": "200", "backend.mock.headers": "Content-Type: text/plain"},
		Methods: apiMethods, Auths: apiAuths, Types: apiTypes, Protocols: apiProtocols}
}

// editWizard is the wizard filled with a stored API.
func editWizard(svc *config.Service, a *config.API) *wizard {
	w := newWizard(svc)
	w.Edit, w.AID, w.Action = true, a.ID, "/console/services/"+svc.ID+"/apis/"+a.ID+"/edit"
	b := &a.Backend
	f := simpleForm{"name": a.Name, "description": a.Description, "protocol": a.Protocol,
		"frontend.path": a.Frontend.Path, "frontend.method": a.Frontend.Method, "auth.type": a.Auth.Type,
		"backend.type": b.Type, "backend.channel_id": b.ChannelID, "backend.url": b.URL, "backend.path": b.Path,
		"backend.mock.status": "200"}
	if b.Timeout != nil {
		f["backend.timeout"] = strconv.Itoa(*b.Timeout)
	}
	if m := b.Mock; m != nil {
		f["backend.mock.status"], f["backend.mock.headers"], f["backend.mock.body"] = strconv.Itoa(m.Status), formatHeaders(m.Headers), m.Body
	}
	if t := b.TLS; t != nil {
		f["backend.tls.server_name"], f["backend.tls.ca_pem"] = t.ServerName, t.CAPEM
		if t.InsecureSkipVerify {
			f["backend.tls.insecure_skip_verify"] = "on"
		}
	}
	if j := a.Auth.JWT; j != nil {
		f["auth.jwt.public_key_pem"], f["auth.jwt.jwks_url"] = j.PublicKeyPEM, j.JWKSURL
		f["auth.jwt.issuer"], f["auth.jwt.audience"] = j.Issuer, j.Audience
		claims := make([]string, 0, len(j.ClaimHeaders))
		for c, h := range j.ClaimHeaders {
			claims = append(claims, c+": "+h)
		}
		slices.Sort(claims)
		f["auth.jwt.claim_headers"] = strings.Join(claims, "\n")
	}
	w.F = f
	return w
}

func (c *Console) apiWizardStart(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	q.render(http.StatusOK, "api_wizard", &page{Nav: "services", D: newWizard(svc)})
}

func (c *Console) apiEditStart(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	a, ok := q.apiOf(svc)
	if !ok {
		return
	}
	q.render(http.StatusOK, "api_wizard", &page{Nav: "services", D: editWizard(svc, a)})
}

// step1Field reports whether an API field is asked in step 1.
func step1Field(f string) bool {
	return f == "name" || f == "description" || f == "protocol" ||
		strings.HasPrefix(f, "frontend.") || strings.HasPrefix(f, "auth")
}

func (w *wizard) has(f string) bool {
	if f == "auth.jwt" || slices.Contains(step1Fields, f) {
		return w.Step == 1
	}
	if f == "backend.tls" || slices.Contains(step2Fields, f) {
		return w.Step == 2
	}
	return false
}

func (w *wizard) body() map[string]any {
	f := w.F
	backend := map[string]any{"type": f["backend.type"]}
	switch f["backend.type"] {
	case config.BackendChannel:
		backend["channel_id"] = f["backend.channel_id"]
	case config.BackendURL:
		backend["url"] = f["backend.url"]
		w.TLS().set(backend, "tls")
	case config.BackendMock:
		mock := map[string]any{"body": f["backend.mock.body"], "headers": headerLines(f["backend.mock.headers"])}
		setNumber(mock, "status", f["backend.mock.status"])
		backend["mock"] = mock
	}
	if f["backend.type"] != config.BackendMock {
		if f["backend.path"] != "" {
			backend["path"] = f["backend.path"]
		}
		setNumber(backend, "timeout", f["backend.timeout"])
	}
	auth := map[string]any{"type": f["auth.type"]}
	if f["auth.type"] == config.AuthJWT {
		jwt := map[string]any{}
		for _, k := range []string{"public_key_pem", "jwks_url", "issuer", "audience"} {
			if v := f["auth.jwt."+k]; v != "" {
				jwt[k] = v
			}
		}
		if claims := claimLines(f["auth.jwt.claim_headers"]); len(claims) > 0 {
			jwt["claim_headers"] = claims
		}
		auth["jwt"] = jwt
	}
	return map[string]any{
		"name": f["name"], "description": f["description"], "protocol": f["protocol"],
		"frontend": map[string]any{"path": f["frontend.path"], "method": f["frontend.method"]},
		"backend":  backend,
		"auth":     auth,
	}
}

// claimLines reads "claim: Header" lines. A claim name may hold colons
// (URL claims) and a header name cannot, so the last colon splits them.
func claimLines(s string) map[string]any {
	m := map[string]any{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		i := strings.LastIndex(l, ":")
		if i < 0 {
			m[l] = ""
			continue
		}
		m[strings.TrimSpace(l[:i])] = strings.TrimSpace(l[i+1:])
	}
	return m
}

// apiWizard handles both steps of the new-API and the edit wizard.
func (c *Console) apiWizard(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	w := newWizard(svc)
	var apiPath string
	if q.r.PathValue("aid") != "" {
		a, ok := q.apiOf(svc)
		if !ok {
			return
		}
		w = editWizard(svc, a)
		apiPath = "/api/v1/services/" + esc(svc.ID) + "/apis/" + esc(a.ID)
	}
	w.F = q.readForm(append(slices.Clone(step1Fields), step2Fields...)...)
	// The mock body is sent as typed: its spaces may matter.
	w.F["backend.mock.body"] = q.r.PostForm.Get("backend.mock.body")
	p := &page{Nav: "services", D: w}
	switch q.form("op") {
	case "next":
		w.Step = 2
	case "save", "create":
		c.apiSave(q, w, svc, apiPath, p)
		return
	default: // back
		w.Step = 1
	}
	if w.Step == 2 && !c.loadChannels(q, w) {
		return
	}
	q.render(http.StatusOK, "api_wizard", p)
}

// apiSave creates the API or, on an edit, writes the wizard onto the
// stored API (so that a field the wizard does not show goes back as it
// is) and replaces it.
func (c *Console) apiSave(q *req, w *wizard, svc *config.Service, apiPath string, p *page) {
	method, body := http.MethodPost, w.body()
	if w.Edit {
		base, e := stored(q, apiPath)
		if e != nil {
			q.failAPI(e)
			return
		}
		delete(base, "service_id")
		for k, v := range body {
			base[k] = v
		}
		method, body = http.MethodPut, base
	} else {
		apiPath = "/api/v1/services/" + esc(svc.ID) + "/apis"
	}
	var a config.API
	e := q.call(method, apiPath, nil, body, &a)
	if e == nil {
		if w.Edit {
			q.flash("flash.saved", q.t("kind.api"), a.Name)
			q.redirect("/console/services/" + svc.ID + "/apis/" + a.ID)
			return
		}
		q.flash("flash.created", q.t("kind.api"), a.Name)
		q.redirect("/console/services/" + svc.ID)
		return
	}
	e.Field = itemField(e.Field, "auth.jwt.claim_headers")
	w.Step = 2
	if step1Field(e.Field) {
		w.Step = 1
	}
	if w.Step == 2 && !c.loadChannels(q, w) {
		return
	}
	p.refuse(e, w.has)
	q.render(e.Status, "api_wizard", p)
}

// loadChannels reads the channels step 2 offers (the first 1000).
func (c *Console) loadChannels(q *req, w *wizard) bool {
	chs, e := allPages[config.Channel](q, "/api/v1/channels", maxFiltered)
	if e != nil {
		q.failAPI(e)
		return false
	}
	w.Channels = chs
	return true
}

// apiDetailData is the page of one API: what it is, and the applications
// that may call it.
type apiDetailData struct {
	serviceTab
	API         config.API
	ChannelName string
	Claims      []string // "claim → Header", sorted
	Bindings    []config.AppBinding
	BindTotal   int
	Apps        []config.App // all applications, for the bind form
	AppNames    map[string]string
	BindApp     string // the bind form, as typed
	BindEnv     string
}

func (c *Console) apiPage(q *req, p *page, status int) {
	svc, ok := q.service()
	if !ok {
		return
	}
	a, ok := q.apiOf(svc)
	if !ok {
		return
	}
	d := &apiDetailData{serviceTab: serviceTab{Svc: *svc, Tab: "apis"}, API: *a, BindEnv: "release"}
	if prev, ok := p.D.(*apiDetailData); ok {
		d.BindApp, d.BindEnv = prev.BindApp, prev.BindEnv
	}
	if id := a.Backend.ChannelID; id != "" {
		var ch config.Channel
		if q.get("/api/v1/channels/"+esc(id), nil, &ch) == nil {
			d.ChannelName = nameOr(ch.Name, ch.ID)
		}
	}
	if j := a.Auth.JWT; j != nil {
		for claim, h := range j.ClaimHeaders {
			d.Claims = append(d.Claims, claim+" → "+h)
		}
		slices.Sort(d.Claims)
	}
	var b list[config.AppBinding]
	if e := q.get("/api/v1/services/"+esc(svc.ID)+"/apis/"+esc(a.ID)+"/apps", pageQuery(100, 0), &b); e != nil {
		q.failAPI(e)
		return
	}
	apps, e := allPages[config.App](q, "/api/v1/apps", maxFiltered)
	if e != nil {
		q.failAPI(e)
		return
	}
	d.Bindings, d.BindTotal, d.Apps, d.AppNames = b.Items, b.Total, apps, map[string]string{}
	for _, x := range apps {
		d.AppNames[x.ID] = x.Name
	}
	p.Nav, p.D = "services", d
	q.render(status, "api", p)
}

func (c *Console) apiDetail(q *req) { c.apiPage(q, &page{}, http.StatusOK) }

func (c *Console) apiBindApp(q *req) {
	sid, ok := q.id("id")
	if !ok {
		return
	}
	aid, ok := q.id("aid")
	if !ok {
		return
	}
	d := &apiDetailData{BindApp: q.form("app_id"), BindEnv: q.form("environment")}
	body := map[string]any{"app_id": d.BindApp, "environment": d.BindEnv}
	if e := q.call(http.MethodPost, "/api/v1/services/"+esc(sid)+"/apis/"+esc(aid)+"/apps", nil, body, nil); e != nil {
		p := &page{D: d}
		p.refuse(e, fieldSet("app_id", "environment"))
		c.apiPage(q, p, e.Status)
		return
	}
	q.flash("flash.appbound")
	q.redirect("/console/services/" + sid + "/apis/" + aid)
}

func (c *Console) apiUnbindApp(q *req) {
	sid, ok := q.id("id")
	if !ok {
		return
	}
	aid, ok := q.id("aid")
	if !ok {
		return
	}
	bid, ok := q.id("bid")
	if !ok {
		return
	}
	if e := q.call(http.MethodDelete, "/api/v1/services/"+esc(sid)+"/apis/"+esc(aid)+"/apps/"+esc(bid), nil, nil, nil); e != nil {
		p := &page{}
		p.refuse(e, nil)
		c.apiPage(q, p, e.Status)
		return
	}
	q.flash("flash.appunbound")
	q.redirect("/console/services/" + sid + "/apis/" + aid)
}
