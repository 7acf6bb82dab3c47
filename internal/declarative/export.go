package declarative

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// ExportError says why a gateway cannot be written as a document: a draft
// API uses a channel that has no name, and a document refers to channels
// by name only. Naming the channels (PUT /api/v1/channels/{id}) fixes it.
type ExportError struct {
	// Problems are one line per API: "API shop/get_order uses channel
	// ch-…, which has no name".
	Problems []string
}

func (e *ExportError) Error() string {
	return "cannot export the configuration: " + strings.Join(e.Problems, "; ") +
		" (a document refers to channels by name: give those channels a name first)"
}

// Export reads the whole configuration of the gateway behind s as a
// canonical document (sorted by name, defaults filled in), secrets
// included: keys' secret_key and certificates' key_pem (see
// MarshalPlaceholders to write them as ${VAR} instead). Applications'
// app_key and app_secret are not part of a document.
//
// Each service lists the environments that serve a version of it. A
// document holds one set of APIs per service, its draft: when an
// environment serves a version that differs from the draft, the document
// cannot say so, and applying it publishes the draft there; Notes says
// which. Notes also lists the channels without a name (not exported) and
// the references to objects that no longer exist (dropped). A draft API
// that uses a channel without a name makes Export fail with an
// *ExportError.
func Export(ctx context.Context, s store.Store) (*Document, error) {
	g, err := readGateway(ctx, s)
	if err != nil {
		return nil, err
	}
	return g.export()
}

func (g *gateway) export() (*Document, error) {
	doc := &Document{}
	nm := g.namer()
	note := func(format string, args ...any) { doc.Notes = append(doc.Notes, fmt.Sprintf(format, args...)) }
	var unexportable []string

	for _, c := range g.channels {
		if c.Name == "" {
			note("channel %s has no name: a document cannot hold it, and applying it with prune deletes it", c.ID)
			continue
		}
		doc.Channels = append(doc.Channels, gatewayChannel(c))
	}
	for _, c := range g.certs {
		doc.Certificates = append(doc.Certificates, Certificate{Name: c.Name, CertPEM: c.CertPEM, KeyPEM: c.KeyPEM})
	}
	for _, svc := range g.services {
		var missing []string
		ds := gatewayService(svc, nm, &missing)
		if len(missing) > 0 {
			note("service %s: a domain names a %s that does not exist; the reference is dropped", svc.Name, missing[0])
			for i := range ds.Domains {
				if strings.HasPrefix(ds.Domains[i].Certificate, "\x00") {
					ds.Domains[i].Certificate = ""
				}
			}
		}
		for _, a := range g.drafts[svc.ID] {
			var missing []string
			da := gatewayAPI(a, nm, &missing)
			if len(missing) > 0 {
				unexportable = append(unexportable, fmt.Sprintf("API %s/%s uses channel %s, which has no name", svc.Name, a.Name, a.Backend.ChannelID))
				continue
			}
			ds.APIs = append(ds.APIs, da)
		}
		slices.SortFunc(ds.APIs, func(a, b API) int { return strings.Compare(a.Name, b.Name) })
		for _, env := range config.Environments {
			pub, ok := g.served[svc.ID][env]
			if !ok {
				continue
			}
			ds.Environments = append(ds.Environments, env)
			var served []API
			for _, a := range pub.APIs {
				served = append(served, gatewayAPI(a, nm, nil))
			}
			slices.SortFunc(served, func(a, b API) int { return strings.Compare(a.Name, b.Name) })
			if !equalJSON(served, ds.APIs) {
				note("service %s: %s serves version %s, which differs from the draft; applying this document publishes the draft there",
					svc.Name, env, pub.Version)
			}
		}
		doc.Services = append(doc.Services, ds)
	}
	for _, k := range g.keys {
		doc.Keys = append(doc.Keys, Key{Name: k.Name, SecretID: k.SecretID, SecretKey: k.SecretKey})
	}
	for _, p := range g.plans {
		n := clone(p)
		_ = config.ValidatePlan(&n)
		dp := UsagePlan{Name: p.Name, MaxRequestsPerSecond: n.MaxRequestsPerSecond, Quota: n.Quota}
		for _, kid := range p.KeyIDs {
			if name, ok := g.keyName[kid]; ok {
				dp.Keys = append(dp.Keys, name)
			}
		}
		for _, b := range p.Bindings {
			if db, ok := g.exportBinding("usage plan "+p.Name, b.ServiceID, b.Environment, b.APIIDs, note); ok {
				dp.Bindings = append(dp.Bindings, db)
			}
		}
		doc.UsagePlans = append(doc.UsagePlans, dp)
	}
	bindings := map[string][]config.AppBinding{}
	for _, b := range g.appBindings {
		bindings[b.AppID] = append(bindings[b.AppID], b)
	}
	for _, a := range g.apps {
		da := Application{Name: a.Name, Description: a.Description}
		for _, b := range bindings[a.ID] {
			svc, ok1 := g.serviceName[b.ServiceID]
			api, ok2 := g.apiName[b.ServiceID][b.APIID]
			if !ok1 || !ok2 {
				note("application %s: its binding to API %s in %s is dropped: the API is no longer in the draft", a.Name, b.APIID, b.Environment)
				continue
			}
			da.Bindings = append(da.Bindings, AppBinding{Service: svc, Environment: b.Environment, API: api})
		}
		doc.Applications = append(doc.Applications, da)
	}
	for _, p := range g.plugins {
		var missing []string
		dp := docPlugin(&p, nm, &missing)
		if len(missing) > 0 && p.Type == config.PluginTrafficControl {
			dp.Config = dropUnnamedApps(dp.Config)
			note("plugin %s: special_apps of applications that no longer exist are dropped (%s)", p.Name, strings.Join(missing, ", "))
		}
		for _, b := range p.Bindings {
			if db, ok := g.exportBinding("plugin "+p.Name, b.ServiceID, b.Environment, b.APIIDs, note); ok {
				dp.Bindings = append(dp.Bindings, db)
			}
		}
		doc.Plugins = append(doc.Plugins, dp)
	}
	if len(unexportable) > 0 {
		return nil, &ExportError{Problems: unexportable}
	}
	canonicalize(doc)
	// What is exported must read back: say so when it does not (a value
	// stored before a rule existed).
	if cp, err := copyDocument(doc); err == nil {
		if ps := validate(cp, ""); len(ps.list) > 0 {
			for _, p := range ps.list {
				note("the document does not pass validation as it is: %s", p)
			}
		}
	}
	return doc, nil
}

// exportBinding is a plugin or plan binding by names. API ids that are no
// longer in the draft are dropped (they match nothing); a binding left
// with none is dropped whole rather than widened to the whole service.
func (g *gateway) exportBinding(owner, serviceID, env string, apiIDs []string, note func(string, ...any)) (Binding, bool) {
	svc, ok := g.serviceName[serviceID]
	if !ok {
		note("%s: its binding to service %s is dropped: the service does not exist", owner, serviceID)
		return Binding{}, false
	}
	b := Binding{Service: svc, Environment: env}
	for _, id := range apiIDs {
		name, ok := g.apiName[serviceID][id]
		if !ok {
			note("%s: its binding to %s/%s names API %s, which is no longer in the draft; it is dropped", owner, svc, env, id)
			continue
		}
		b.APIs = append(b.APIs, name)
	}
	if len(apiIDs) > 0 && len(b.APIs) == 0 {
		note("%s: its binding to %s/%s is dropped: none of its APIs is in the draft any more", owner, svc, env)
		return Binding{}, false
	}
	slices.Sort(b.APIs)
	return b, true
}

// dropUnnamedApps removes the special_apps that name no application.
func dropUnnamedApps(raw []byte) []byte {
	var d trafficControl
	if err := jsonUnmarshal(raw, &d); err != nil {
		return raw
	}
	d.SpecialApps = slices.DeleteFunc(d.SpecialApps, func(s specialApp) bool { return strings.HasPrefix(s.App, "\x00") })
	d.SpecialApps = nilIfEmpty(d.SpecialApps)
	return mustJSON(d)
}
