package declarative

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// The same functions turn the gateway's objects and a document's objects
// into the document's form, so that both sides of a comparison are
// normalized alike: a document's object is first converted to the admin
// API's type (with names standing for ids), validated (which fills the
// defaults), and converted back.

// namer names the objects that a gateway object refers to by id. A lookup
// that fails means the reference cannot be named in a document (an unnamed
// channel, a deleted API).
type namer struct {
	channel func(id string) (string, bool)
	cert    func(id string) (string, bool)
	service func(id string) (string, bool)
	api     func(serviceID, id string) (string, bool)
	key     func(id string) (string, bool)
	app     func(id string) (string, bool)
}

// docNamer is the namer of a document under validation, where the ids are
// the names (certificates: "cert-" and the name, the shape config checks).
var docNamer = namer{
	channel: func(id string) (string, bool) { return id, true },
	cert:    func(id string) (string, bool) { return strings.TrimPrefix(id, "cert-"), true },
	service: func(id string) (string, bool) { return id, true },
	api:     func(_, id string) (string, bool) { return id, true },
	key:     func(id string) (string, bool) { return id, true },
	app:     func(id string) (string, bool) { return id, true },
}

// unnamed is what stands for a reference that cannot be named, in the
// forms that are only compared, never shown: it equals no name a document
// can hold, and two references to the same object are equal.
func unnamed(id string) string { return "\x00" + id }

// ref names id with look, or records it in missing and returns unnamed(id).
func ref(look func(string) (string, bool), id string, missing *[]string, what string) string {
	if name, ok := look(id); ok {
		return name
	}
	if missing != nil {
		*missing = append(*missing, what+" "+id)
	}
	return unnamed(id)
}

// clone deep-copies a value of the admin API's types.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out T
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func docChannel(c *config.Channel) Channel {
	out := Channel{
		Name: c.Name, Network: c.Network, Description: c.Description, Algorithm: c.Algorithm,
		Scheme: c.Scheme, HostHeader: c.HostHeader, Retries: c.Retries, TLS: c.TLS, HealthCheck: c.HealthCheck,
	}
	for _, n := range c.Nodes {
		out.Nodes = append(out.Nodes, Node{Host: n.Host, Port: n.Port, Weight: n.Weight})
	}
	return out
}

func cfgChannel(c Channel) config.Channel {
	out := config.Channel{
		Name: c.Name, Network: c.Network, Description: c.Description, Algorithm: c.Algorithm,
		Scheme: c.Scheme, HostHeader: c.HostHeader, Retries: c.Retries, TLS: c.TLS, HealthCheck: c.HealthCheck,
	}
	for _, n := range c.Nodes {
		out.Nodes = append(out.Nodes, config.Node{Host: n.Host, Port: n.Port, Weight: n.Weight})
	}
	return clone(out)
}

// gatewayChannel is a stored channel in the document's form, normalized as
// validation normalizes it (a channel stored by an older version may lack
// a default added since).
func gatewayChannel(c config.Channel) Channel {
	c = clone(c)
	_ = config.ValidateChannel(&c)
	return docChannel(&c)
}

// docService is a service's own fields (not its APIs and environments).
func docService(s *config.Service, nm namer, missing *[]string) Service {
	out := Service{Name: s.Name, Description: s.Description, Protocols: nilIfEmpty(s.Protocols)}
	for _, d := range s.Domains {
		dd := Domain{Host: d.Host, Environment: d.Environment, ForceHTTPS: d.ForceHTTPS}
		if d.CertificateID != "" {
			dd.Certificate = ref(nm.cert, d.CertificateID, missing, "certificate")
		}
		out.Domains = append(out.Domains, dd)
	}
	return out
}

func cfgService(s Service, certID func(string) string) config.Service {
	out := config.Service{Name: s.Name, Description: s.Description, Protocols: slices.Clone(s.Protocols)}
	for _, d := range s.Domains {
		dd := config.Domain{Host: d.Host, Environment: d.Environment, ForceHTTPS: d.ForceHTTPS}
		if d.Certificate != "" {
			dd.CertificateID = certID(d.Certificate)
		}
		out.Domains = append(out.Domains, dd)
	}
	return out
}

func gatewayService(s config.Service, nm namer, missing *[]string) Service {
	s = clone(s)
	_ = config.ValidateService(&s)
	return docService(&s, nm, missing)
}

func docAPI(a *config.API, nm namer, missing *[]string) API {
	out := API{
		Name: a.Name, Description: a.Description, Protocol: a.Protocol, Frontend: a.Frontend, Auth: a.Auth,
		Backend: Backend{
			Type: a.Backend.Type, URL: a.Backend.URL, Path: a.Backend.Path, Timeout: a.Backend.Timeout,
			Mock: a.Backend.Mock, TLS: a.Backend.TLS,
		},
	}
	if a.Backend.ChannelID != "" {
		out.Backend.Channel = ref(nm.channel, a.Backend.ChannelID, missing, "channel")
	}
	if m := out.Backend.Mock; m != nil && len(m.Headers) == 0 {
		c := *m
		c.Headers = nil
		out.Backend.Mock = &c
	}
	if j := out.Auth.JWT; j != nil && len(j.ClaimHeaders) == 0 {
		c := *j
		c.ClaimHeaders = nil
		out.Auth.JWT = &c
	}
	return out
}

func cfgAPI(a API, serviceID string, channelID func(string) string) config.API {
	out := config.API{
		ServiceID: serviceID, Name: a.Name, Description: a.Description, Protocol: a.Protocol,
		Frontend: a.Frontend, Auth: a.Auth,
		Backend: config.Backend{
			Type: a.Backend.Type, URL: a.Backend.URL, Path: a.Backend.Path, Timeout: a.Backend.Timeout,
			Mock: a.Backend.Mock, TLS: a.Backend.TLS,
		},
	}
	if a.Backend.Channel != "" {
		out.Backend.ChannelID = channelID(a.Backend.Channel)
	}
	return clone(out)
}

func gatewayAPI(a config.API, nm namer, missing *[]string) API {
	a = clone(a)
	_ = config.ValidateAPI(&a)
	return docAPI(&a, nm, missing)
}

// docPlugin is a plugin's own fields (not its bindings), its config in
// the document's form: canonical JSON, applications by name.
func docPlugin(p *config.Plugin, nm namer, missing *[]string) Plugin {
	out := Plugin{Name: p.Name, Type: p.Type, Config: canonicalJSON(p.Config)}
	switch p.Type {
	case config.PluginIPControl:
		var c config.IPControl
		if json.Unmarshal(p.Config, &c) == nil {
			out.Config = mustJSON(c)
		}
	case config.PluginTrafficControl:
		var c config.TrafficControl
		if json.Unmarshal(p.Config, &c) == nil {
			d := trafficControl{Window: c.Window, APILimit: c.APILimit, AppLimit: c.AppLimit, IPLimit: c.IPLimit,
				SpecialIPs: nilIfEmpty(c.SpecialIPs)}
			for _, s := range c.SpecialApps {
				d.SpecialApps = append(d.SpecialApps, specialApp{App: ref(nm.app, s.AppID, missing, "application"), Limit: s.Limit})
			}
			out.Config = mustJSON(d)
		}
	}
	return out
}

// cfgPluginConfig is a document plugin's config in the admin API's form.
func cfgPluginConfig(p Plugin, appID func(string) string) json.RawMessage {
	if p.Type != config.PluginTrafficControl {
		return slices.Clone(p.Config)
	}
	var d trafficControl
	if json.Unmarshal(p.Config, &d) != nil {
		return slices.Clone(p.Config)
	}
	c := config.TrafficControl{Window: d.Window, APILimit: d.APILimit, AppLimit: d.AppLimit, IPLimit: d.IPLimit,
		SpecialIPs: d.SpecialIPs}
	for _, s := range d.SpecialApps {
		c.SpecialApps = append(c.SpecialApps, config.SpecialApp{AppID: appID(s.App), Limit: s.Limit})
	}
	return mustJSON(c)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// canonicalJSON is b compacted (b as it is when it is not JSON).
func canonicalJSON(b json.RawMessage) json.RawMessage {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return slices.Clone(b)
	}
	return out.Bytes()
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// equalJSON reports whether a and b have the same JSON form.
func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
