package console

import (
	"net/http"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// wizard is the new-API wizard. Step 1 asks how the API is called (name,
// path, method, authentication), step 2 where it goes (a channel, a URL or
// a mock answer); the API is created at the end of step 2. What step 1
// asked travels in hidden fields, so the wizard keeps no state on the
// server, and the API's refusal sends the user back to the step that has
// the field at fault.
type wizard struct {
	Step        int
	SID         string
	ServiceName string

	Name, Description, Path, Method, Auth string

	Type, ChannelID, URL, BackendPath, Timeout string
	MockStatus, MockType, MockBody             string

	Channels []config.Channel
	Methods  []string
	Auths    []string
	Types    []string
}

var (
	apiMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"}
	apiAuths   = []string{"none", "key", "app"}
	apiTypes   = []string{config.BackendChannel, config.BackendURL, config.BackendMock}
)

func newWizard(svc *config.Service) *wizard {
	return &wizard{Step: 1, SID: svc.ID, ServiceName: svc.Name, Method: "GET", Auth: "none",
		Type: config.BackendChannel, MockStatus: "200", MockType: "text/plain",
		Methods: apiMethods, Auths: apiAuths, Types: apiTypes}
}

func (c *Console) apiWizardStart(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	q.render(http.StatusOK, "api_wizard", &page{Nav: "services", D: newWizard(svc)})
}

// step1Field reports whether an API field is asked in step 1.
func step1Field(f string) bool {
	return f == "name" || f == "description" || f == "protocol" ||
		strings.HasPrefix(f, "frontend.") || strings.HasPrefix(f, "auth")
}

func (w *wizard) has(f string) bool {
	switch f {
	case "name", "description", "frontend.path", "frontend.method", "auth.type":
		return w.Step == 1
	case "backend.type", "backend.channel_id", "backend.url", "backend.path", "backend.timeout",
		"backend.mock.status", "backend.mock.body":
		return w.Step == 2
	}
	return false
}

func (w *wizard) body() map[string]any {
	backend := map[string]any{"type": w.Type}
	switch w.Type {
	case config.BackendChannel:
		backend["channel_id"] = w.ChannelID
	case config.BackendURL:
		backend["url"] = w.URL
	case config.BackendMock:
		mock := map[string]any{"body": w.MockBody}
		setNumber(mock, "status", w.MockStatus)
		if w.MockType != "" {
			mock["headers"] = map[string]any{"Content-Type": w.MockType}
		}
		backend["mock"] = mock
	}
	if w.Type != config.BackendMock {
		if w.BackendPath != "" {
			backend["path"] = w.BackendPath
		}
		setNumber(backend, "timeout", w.Timeout)
	}
	return map[string]any{
		"name": w.Name, "description": w.Description,
		"frontend": map[string]any{"path": w.Path, "method": w.Method},
		"backend":  backend,
		"auth":     map[string]any{"type": w.Auth},
	}
}

func (c *Console) apiWizard(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	w := newWizard(svc)
	w.Name, w.Description, w.Path = q.form("name"), q.form("description"), q.form("frontend.path")
	w.Method, w.Auth = q.form("frontend.method"), q.form("auth.type")
	w.Type, w.ChannelID, w.URL = q.form("backend.type"), q.form("backend.channel_id"), q.form("backend.url")
	w.BackendPath, w.Timeout = q.form("backend.path"), q.form("backend.timeout")
	w.MockStatus, w.MockType, w.MockBody = q.form("backend.mock.status"), q.form("backend.mock.content_type"), q.r.PostForm.Get("backend.mock.body")
	p := &page{Nav: "services", D: w}
	switch q.form("op") {
	case "next":
		w.Step = 2
	case "create":
		var a config.API
		e := q.call(http.MethodPost, "/api/v1/services/"+esc(svc.ID)+"/apis", nil, w.body(), &a)
		if e == nil {
			q.flash("flash.created", q.t("kind.api"), a.Name)
			q.redirect("/console/services/" + svc.ID)
			return
		}
		w.Step = 2
		if step1Field(e.Field) {
			w.Step = 1
		}
		if w.Step == 2 && !c.loadChannels(q, w) {
			return
		}
		p.refuse(e, w.has)
		q.render(e.Status, "api_wizard", p)
		return
	default: // back
		w.Step = 1
	}
	if w.Step == 2 && !c.loadChannels(q, w) {
		return
	}
	q.render(http.StatusOK, "api_wizard", p)
}

// loadChannels reads the channels step 2 offers (the first 1000).
func (c *Console) loadChannels(q *req, w *wizard) bool {
	chs, e := allPages[config.Channel](q, "/api/v1/channels", 1000)
	if e != nil {
		q.failAPI(e)
		return false
	}
	w.Channels = chs
	return true
}
