package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// plugins have one form for both types: every config field is shown, and
// only the chosen type's are sent.
var plugins = &resource[config.Plugin]{
	nav: "plugins", api: "/api/v1/plugins", kind: "kind.plugin", list: "plugins", form: "plugin_form", limit: mediumForm,
	detail: true,
	ident:  func(p *config.Plugin) (string, string) { return p.ID, p.Name },
	search: func(p *config.Plugin) []string { return []string{p.Name, p.ID, p.Type} },
	fields: []string{"name", "type", "config.type", "config.blocks", "config.window", "config.api_limit",
		"config.app_limit", "config.ip_limit", "config.special_apps", "config.special_ips"},
	defaults: simpleForm{"type": config.PluginIPControl, "config.type": "white_list", "config.window": "second"},
	fill:     pluginFill,
	body:     pluginBody,
	field: func(f string) string {
		return itemField(f, "config.blocks", "config.special_apps", "config.special_ips")
	},
}

// pluginFill is the form of a stored plugin.
func pluginFill(p *config.Plugin) simpleForm {
	f := simpleForm{"name": p.Name, "type": p.Type, "config.type": "white_list", "config.window": "second"}
	switch p.Type {
	case config.PluginIPControl:
		var c config.IPControl
		if json.Unmarshal(p.Config, &c) == nil {
			f["config.type"], f["config.blocks"] = c.Type, strings.Join(c.Blocks, "\n")
		}
	case config.PluginTrafficControl:
		var c config.TrafficControl
		if json.Unmarshal(p.Config, &c) == nil {
			f["config.window"] = c.Window
			for k, v := range map[string]*int64{"config.api_limit": c.APILimit, "config.app_limit": c.AppLimit, "config.ip_limit": c.IPLimit} {
				if v != nil {
					f[k] = strconv.FormatInt(*v, 10)
				}
			}
			var apps, ips []string
			for _, a := range c.SpecialApps {
				apps = append(apps, a.AppID+" "+strconv.FormatInt(a.Limit, 10))
			}
			for _, x := range c.SpecialIPs {
				ips = append(ips, x.IP+" "+strconv.FormatInt(x.Limit, 10))
			}
			f["config.special_apps"], f["config.special_ips"] = strings.Join(apps, "\n"), strings.Join(ips, "\n")
		}
	}
	return f
}

// pluginBody writes the form onto base; the config is the form's whole.
func pluginBody(f simpleForm, base map[string]any) map[string]any {
	cfg := map[string]any{}
	switch f["type"] {
	case config.PluginIPControl:
		cfg["type"] = f["config.type"]
		blocks := []string{}
		for _, l := range strings.Split(f["config.blocks"], "\n") {
			if l = strings.TrimSpace(l); l != "" {
				blocks = append(blocks, l)
			}
		}
		cfg["blocks"] = blocks
	case config.PluginTrafficControl:
		cfg["window"] = f["config.window"]
		setNumber(cfg, "api_limit", f["config.api_limit"])
		setNumber(cfg, "app_limit", f["config.app_limit"])
		setNumber(cfg, "ip_limit", f["config.ip_limit"])
		if l := specials(f["config.special_apps"], "app_id"); len(l) > 0 {
			cfg["special_apps"] = l
		}
		if l := specials(f["config.special_ips"], "ip"); len(l) > 0 {
			cfg["special_ips"] = l
		}
	}
	delete(base, "bindings") // bindings have forms of their own
	base["name"], base["type"], base["config"] = f["name"], f["type"], cfg
	return base
}

// specials reads "<name> <limit>" lines into traffic_control's special
// entries; a line without a limit is sent without one, for the API to
// refuse.
func specials(s, key string) []any {
	var out []any
	for _, l := range strings.Split(s, "\n") {
		fields := strings.Fields(l)
		if len(fields) == 0 {
			continue
		}
		m := map[string]any{key: fields[0]}
		if len(fields) > 1 {
			setNumber(m, "limit", strings.Join(fields[1:], " "))
		}
		out = append(out, m)
	}
	return out
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
