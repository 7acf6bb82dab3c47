package snapshot

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/plugin/ipcontrol"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
)

// Policies are the plugins that apply to one served API, compiled: a
// binding to the API wins over a binding of the same type to its whole
// service in that environment. nil fields do not apply.
type Policies struct {
	IPControl *ipcontrol.Policy
	Traffic   *Traffic
	// AuthKey: callers must sign with a key pair held by Plan.
	AuthKey bool
	// Plan is the usage plan bound to the API (nil: none, and then no key
	// works on it).
	Plan *Plan
	// JWT checks bearer tokens when the API's auth type is jwt; JWTHeaders
	// are the headers its claims set, whose client copies are dropped.
	JWT        *jwtauth.Verifier
	JWTHeaders []string
	// AuthApp: callers sign as an application bound to the API in its
	// environment (Apps holds their ids).
	AuthApp bool
	Apps    map[string]bool
}

// Traffic is a compiled traffic_control plugin as it applies to one API:
// limits per window, and the prefix of its counter keys, which names the
// plugin, environment and API so that each API has counters of its own.
type Traffic struct {
	PluginID    string
	Window      time.Duration
	APILimit    int64 // 0: none
	AppLimit    int64
	IPLimit     int64
	SpecialIPs  map[netip.Addr]int64
	SpecialApps map[string]int64
	// KeyPrefix is "tc:<plugin>:<environment>:<api>:".
	KeyPrefix []byte
}

// IPLimitFor is the limit of one client address: its special limit, else
// ip_limit (0 when neither applies).
func (t *Traffic) IPLimitFor(a netip.Addr) int64 {
	if l, ok := t.SpecialIPs[a]; ok {
		return l
	}
	return t.IPLimit
}

// AppLimitFor is the limit of one application: its special limit, else
// app_limit (0 when neither applies).
func (t *Traffic) AppLimitFor(appID string) int64 {
	if l, ok := t.SpecialApps[appID]; ok {
		return l
	}
	return t.AppLimit
}

// pluginIndex finds the plugins bound to an API.
type pluginIndex struct {
	// by target: service, environment, API id ("" for the whole service),
	// then type
	bound    map[bindingTarget]map[string]*config.Plugin
	compiled map[string]any // by plugin id: *ipcontrol.Policy or *config.TrafficControl
	errs     map[string]error
}

type bindingTarget struct{ service, env, api string }

func newPluginIndex(ps []config.Plugin) *pluginIndex {
	ix := &pluginIndex{
		bound:    map[bindingTarget]map[string]*config.Plugin{},
		compiled: map[string]any{},
		errs:     map[string]error{},
	}
	for i := range ps {
		p := &ps[i]
		c, err := compilePlugin(p)
		if err != nil {
			ix.errs[p.ID] = fmt.Errorf("plugin %s (%s): %v", p.ID, p.Name, err)
		} else {
			ix.compiled[p.ID] = c
		}
		for _, b := range p.Bindings {
			targets := b.APIIDs
			if len(targets) == 0 {
				targets = []string{""}
			}
			for _, api := range targets {
				t := bindingTarget{b.ServiceID, b.Environment, api}
				if ix.bound[t] == nil {
					ix.bound[t] = map[string]*config.Plugin{}
				}
				ix.bound[t][p.Type] = p
			}
		}
	}
	return ix
}

func compilePlugin(p *config.Plugin) (any, error) {
	switch p.Type {
	case config.PluginIPControl:
		var c config.IPControl
		if err := json.Unmarshal(p.Config, &c); err != nil {
			return nil, err
		}
		return ipcontrol.New(c.Type, c.Blocks)
	case config.PluginTrafficControl:
		var c config.TrafficControl
		if err := json.Unmarshal(p.Config, &c); err != nil {
			return nil, err
		}
		if err := config.ValidateTrafficControl(&c); err != nil {
			return nil, err
		}
		return &c, nil
	}
	return nil, fmt.Errorf("unknown plugin type %q", p.Type)
}

// policies compiles what applies to one API. A plugin that cannot be
// compiled disables the API rather than serve it without the policy (an IP
// white list that fails open would be worse than a 404).
func (ix *pluginIndex) policies(service, env, api string) (Policies, error) {
	var pol Policies
	for _, typ := range []string{config.PluginIPControl, config.PluginTrafficControl} {
		p := ix.bound[bindingTarget{service, env, api}][typ]
		if p == nil {
			p = ix.bound[bindingTarget{service, env, ""}][typ]
		}
		if p == nil {
			continue
		}
		if err := ix.errs[p.ID]; err != nil {
			return pol, err
		}
		switch c := ix.compiled[p.ID].(type) {
		case *ipcontrol.Policy:
			pol.IPControl = c
		case *config.TrafficControl:
			pol.Traffic = compileTraffic(p.ID, env, api, c)
		}
	}
	return pol, nil
}

func compileTraffic(pluginID, env, api string, c *config.TrafficControl) *Traffic {
	t := &Traffic{
		PluginID:  pluginID,
		Window:    c.WindowDuration(),
		KeyPrefix: []byte("tc:" + pluginID + ":" + env + ":" + api + ":"),
	}
	if c.APILimit != nil {
		t.APILimit = *c.APILimit
	}
	if c.AppLimit != nil {
		t.AppLimit = *c.AppLimit
	}
	if c.IPLimit != nil {
		t.IPLimit = *c.IPLimit
	}
	if len(c.SpecialIPs) > 0 {
		t.SpecialIPs = make(map[netip.Addr]int64, len(c.SpecialIPs))
		for _, s := range c.SpecialIPs {
			if a, err := netip.ParseAddr(s.IP); err == nil {
				t.SpecialIPs[a.Unmap()] = s.Limit
			}
		}
	}
	if len(c.SpecialApps) > 0 {
		t.SpecialApps = make(map[string]int64, len(c.SpecialApps))
		for _, s := range c.SpecialApps {
			t.SpecialApps[s.AppID] = s.Limit
		}
	}
	return t
}

// KeyPair is a key as the data plane needs it: which key it is, and its
// secret.
type KeyPair struct {
	ID     string
	Secret []byte
}

// Plan is a usage plan as it applies to the APIs bound to it.
type Plan struct {
	ID    string
	RPS   int64 // -1: unlimited
	Quota int64 // -1: unlimited
	keys  map[string]bool
}

// Holds reports whether the plan holds the key.
func (p *Plan) Holds(keyID string) bool { return p.keys[keyID] }

// planIndex finds the usage plan bound to an API.
type planIndex struct {
	bound map[bindingTarget]*Plan
}

func newPlanIndex(ps []config.UsagePlan) *planIndex {
	ix := &planIndex{bound: map[bindingTarget]*Plan{}}
	for i := range ps {
		p := &ps[i]
		plan := &Plan{ID: p.ID, RPS: p.RPS(), Quota: p.QuotaLimit(), keys: make(map[string]bool, len(p.KeyIDs))}
		for _, k := range p.KeyIDs {
			plan.keys[k] = true
		}
		for _, b := range p.Bindings {
			targets := b.APIIDs
			if len(targets) == 0 {
				targets = []string{""}
			}
			for _, api := range targets {
				ix.bound[bindingTarget{b.ServiceID, b.Environment, api}] = plan
			}
		}
	}
	return ix
}

// plan is the plan bound to the API, else to its whole service in env.
func (ix *planIndex) plan(service, env, api string) *Plan {
	if p := ix.bound[bindingTarget{service, env, api}]; p != nil {
		return p
	}
	return ix.bound[bindingTarget{service, env, ""}]
}

func compileKeys(ks []config.Key) map[string]*KeyPair {
	m := make(map[string]*KeyPair, len(ks))
	for _, k := range ks {
		m[k.SecretID] = &KeyPair{ID: k.ID, Secret: []byte(k.SecretKey)}
	}
	return m
}

// AppKey is an application as the data plane needs it.
type AppKey struct {
	ID     string
	Secret []byte
}

func compileApps(as []config.App) map[string]*AppKey {
	m := make(map[string]*AppKey, len(as))
	for _, a := range as {
		m[a.AppKey] = &AppKey{ID: a.ID, Secret: []byte(a.AppSecret)}
	}
	return m
}

// appIndex lists the applications bound to each API and environment.
func appIndex(bs []config.AppBinding) map[bindingTarget]map[string]bool {
	ix := map[bindingTarget]map[string]bool{}
	for _, b := range bs {
		t := bindingTarget{b.ServiceID, b.Environment, b.APIID}
		if ix[t] == nil {
			ix[t] = map[string]bool{}
		}
		ix[t][b.AppID] = true
	}
	return ix
}
