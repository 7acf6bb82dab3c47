package console

import (
	"net/http"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// pluginForm is the create form: the config fields of both plugin types;
// only the chosen type's are sent.
type pluginForm struct {
	Name, Type                          string
	IPType, Blocks                      string
	Window, APILimit, AppLimit, IPLimit string
}

func (c *Console) pluginList(q *req) {
	listPage[config.Plugin](q, "plugins", "plugins", "/api/v1/plugins", "/console/plugins")
}

func (c *Console) pluginNew(q *req) {
	q.render(http.StatusOK, "plugin_form", &page{Nav: "plugins",
		D: &pluginForm{Type: config.PluginIPControl, IPType: "white_list", Window: "second"}})
}

func (f *pluginForm) body() map[string]any {
	cfg := map[string]any{}
	switch f.Type {
	case config.PluginIPControl:
		cfg["type"] = f.IPType
		blocks := []string{}
		for _, l := range strings.Split(f.Blocks, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				blocks = append(blocks, l)
			}
		}
		cfg["blocks"] = blocks
	case config.PluginTrafficControl:
		cfg["window"] = f.Window
		setNumber(cfg, "api_limit", f.APILimit)
		setNumber(cfg, "app_limit", f.AppLimit)
		setNumber(cfg, "ip_limit", f.IPLimit)
	}
	return map[string]any{"name": f.Name, "type": f.Type, "config": cfg}
}

var pluginFields = fieldSet("name", "type", "config.type", "config.blocks", "config.window",
	"config.api_limit", "config.app_limit", "config.ip_limit")

func (c *Console) pluginCreate(q *req) {
	f := &pluginForm{Name: q.form("name"), Type: q.form("type"), IPType: q.form("config.type"),
		Blocks: q.r.PostForm.Get("config.blocks"), Window: q.form("config.window"),
		APILimit: q.form("config.api_limit"), AppLimit: q.form("config.app_limit"), IPLimit: q.form("config.ip_limit")}
	var pl config.Plugin
	if e := q.call(http.MethodPost, "/api/v1/plugins", nil, f.body(), &pl); e != nil {
		if strings.HasPrefix(e.Field, "config.blocks[") {
			e.Field = "config.blocks"
		}
		p := &page{Nav: "plugins", D: f}
		p.refuse(e, pluginFields)
		q.render(e.Status, "plugin_form", p)
		return
	}
	q.flash("flash.created", q.t("kind.plugin"), pl.Name)
	q.redirect("/console/plugins/" + pl.ID)
}

type pluginDetailData struct {
	Plugin   config.Plugin
	Svcs     []config.Service
	Services map[string]string
	Bind     bindForm
}

func (c *Console) pluginPage(q *req, p *page, status int) {
	var d pluginDetailData
	if prev, ok := p.D.(*pluginDetailData); ok {
		d.Bind = prev.Bind
	}
	if _, ok := fetch(q, "/api/v1/plugins/", &d.Plugin); !ok {
		return
	}
	svcs, e := allPages[config.Service](q, "/api/v1/services", 1000)
	if e != nil {
		q.failAPI(e)
		return
	}
	d.Svcs, d.Services = svcs, map[string]string{}
	for _, s := range svcs {
		d.Services[s.ID] = s.Name
	}
	p.Nav, p.D = "plugins", &d
	q.render(status, "plugin", p)
}

func (c *Console) pluginDetail(q *req) { c.pluginPage(q, &page{}, http.StatusOK) }

func (c *Console) pluginBind(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	b := q.readBindForm()
	if e := q.call(http.MethodPost, "/api/v1/plugins/"+esc(id)+"/bindings", nil, b.body(), nil); e != nil {
		e.Field = bindField(e.Field)
		p := &page{D: &pluginDetailData{Bind: b}}
		p.refuse(e, bindFields)
		c.pluginPage(q, p, e.Status)
		return
	}
	q.flash("flash.bound")
	q.redirect("/console/plugins/" + id)
}

func (c *Console) pluginUnbind(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	bid, ok := q.id("bid")
	if !ok {
		return
	}
	if e := q.call(http.MethodDelete, "/api/v1/plugins/"+esc(id)+"/bindings/"+esc(bid), nil, nil, nil); e != nil {
		p := &page{}
		p.refuse(e, nil)
		c.pluginPage(q, p, e.Status)
		return
	}
	q.flash("flash.unbound")
	q.redirect("/console/plugins/" + id)
}

func pluginConfirm(p *config.Plugin) confirmData {
	return confirmData{Kind: "kind.plugin", Name: p.Name, Action: "/console/plugins/" + p.ID + "/delete", Back: "/console/plugins/" + p.ID}
}

func (c *Console) pluginDeletePage(q *req) {
	var p config.Plugin
	if _, ok := fetch(q, "/api/v1/plugins/", &p); ok {
		q.confirm("plugins", pluginConfirm(&p))
	}
}

func (c *Console) pluginDelete(q *req) {
	var p config.Plugin
	if _, ok := fetch(q, "/api/v1/plugins/", &p); ok {
		q.remove("plugins", "/api/v1/plugins/"+esc(p.ID), pluginConfirm(&p), "/console/plugins")
	}
}
