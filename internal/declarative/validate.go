package declarative

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// maxFileSize bounds a file named by cert_file or key_file (certificates
// and keys are at most 64 KiB; more is a mistake).
const maxFileSize = 1 << 20

// validator checks a decoded document, fills its defaults and makes it
// canonical. Paths are those of the document as written (file order).
type validator struct {
	doc *Document
	dir string
	ps  problems

	channels map[string]int
	certs    map[string]int
	services map[string]map[string]bool // service -> its API names
	keys     map[string]int
	apps     map[string]int
}

// validate checks doc and, when it has no problem, makes it canonical.
func validate(doc *Document, dir string) problems {
	v := &validator{doc: doc, dir: dir,
		channels: map[string]int{}, certs: map[string]int{}, services: map[string]map[string]bool{},
		keys: map[string]int{}, apps: map[string]int{}}
	v.checkChannels()
	v.checkCertificates()
	v.checkServices()
	v.checkKeys()
	v.checkPlans()
	v.checkApps()
	v.checkPlugins()
	if len(v.ps.list) == 0 {
		canonicalize(doc)
	}
	return v.ps
}

// name checks that an object's name is not the name of an earlier one of
// its section; the name's own rules are config's.
func (v *validator) name(seen map[string]int, section string, i int, name string) bool {
	if name == "" {
		return true
	}
	if j, dup := seen[name]; dup {
		v.ps.add(fmt.Sprintf("%s[%d].name", section, i), "%q is already the name of %s[%d]", name, section, j)
		return false
	}
	seen[name] = i
	return true
}

func (v *validator) checkChannels() {
	for i := range v.doc.Channels {
		c := &v.doc.Channels[i]
		p := fmt.Sprintf("channels[%d]", i)
		if c.Name == "" {
			v.ps.add(p+".name", "is required: a channel in a document must have a name, by which APIs refer to it")
			continue
		}
		if !v.name(v.channels, "channels", i, c.Name) {
			continue
		}
		cc := cfgChannel(*c)
		if err := config.ValidateChannel(&cc); err != nil {
			v.ps.field(p, err)
			continue
		}
		*c = docChannel(&cc)
	}
}

func (v *validator) checkCertificates() {
	for i := range v.doc.Certificates {
		c := &v.doc.Certificates[i]
		p := fmt.Sprintf("certificates[%d]", i)
		if !v.name(v.certs, "certificates", i, c.Name) {
			continue
		}
		certPEM, ok1 := v.pem(p, "cert_pem", c.CertPEM, "cert_file", c.CertFile)
		keyPEM, ok2 := v.pem(p, "key_pem", c.KeyPEM, "key_file", c.KeyFile)
		if !ok1 || !ok2 {
			continue
		}
		cc := config.Certificate{Name: c.Name, CertPEM: certPEM, KeyPEM: keyPEM}
		if err := config.ValidateCertificate(&cc); err != nil {
			var rename []string
			if c.CertFile != "" {
				rename = append(rename, "cert_pem", "cert_file")
			}
			if c.KeyFile != "" {
				rename = append(rename, "key_pem", "key_file")
			}
			v.ps.field(p, err, rename...)
			continue
		}
		*c = Certificate{Name: c.Name, CertPEM: certPEM, KeyPEM: keyPEM}
	}
}

// pem returns the PEM text given inline or read from a file.
func (v *validator) pem(p, inline, text, file, path string) (string, bool) {
	switch {
	case text != "" && path != "":
		v.ps.add(p+"."+file, "give %s or %s, not both", inline, file)
		return "", false
	case path == "":
		if text == "" {
			v.ps.add(p+"."+inline, "is required (or %s)", file)
			return "", false
		}
		return text, true
	case v.dir == "":
		v.ps.add(p+"."+file, "no file can be read here (the document was not read from a file); put the PEM text in %s", inline)
		return "", false
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(v.dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		v.ps.add(p+"."+file, "%v", err)
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		v.ps.add(p+"."+file, "%v", err)
		return "", false
	}
	if len(b) > maxFileSize {
		v.ps.add(p+"."+file, "%s is larger than %d bytes", path, maxFileSize)
		return "", false
	}
	return string(b), true
}

func (v *validator) checkServices() {
	names := map[string]int{}
	hosts := map[string]string{} // host -> path of the domain that has it
	for i := range v.doc.Services {
		s := &v.doc.Services[i]
		p := fmt.Sprintf("services[%d]", i)
		if !v.name(names, "services", i, s.Name) {
			continue
		}
		apis := map[string]bool{}
		v.services[s.Name] = apis
		ok := true
		for j, d := range s.Domains {
			if _, found := v.certs[d.Certificate]; d.Certificate != "" && !found {
				v.ps.add(fmt.Sprintf("%s.domains[%d].certificate", p, j), "no certificate %q", d.Certificate)
				ok = false
			}
		}
		cs := cfgService(*s, func(name string) string { return "cert-" + name })
		if err := config.ValidateService(&cs); err != nil {
			v.ps.field(p, err, "certificate_id", "certificate")
			ok = false
		} else if ok {
			core := docService(&cs, docNamer, nil)
			s.Protocols, s.Domains = core.Protocols, core.Domains
			for j, d := range s.Domains {
				dp := fmt.Sprintf("%s.domains[%d].host", p, j)
				if other, taken := hosts[d.Host]; taken {
					v.ps.add(dp, "%s is already a domain at %s", d.Host, other)
				}
				hosts[d.Host] = dp
			}
		}
		envs := map[string]int{}
		for j, e := range s.Environments {
			ep := fmt.Sprintf("%s.environments[%d]", p, j)
			if !config.IsEnvironment(e) {
				v.ps.add(ep, "must be one of %s", strings.Join(config.Environments, ", "))
			} else if k, dup := envs[e]; dup {
				v.ps.add(ep, "repeats environments[%d] (%s)", k, e)
			}
			envs[e] = j
		}
		if len(s.Environments) > 0 && len(s.APIs) == 0 {
			v.ps.add(p+".environments", "a service is published with its APIs: list at least one in apis")
		}
		var valid []config.API
		var validAt []int
		for j := range s.APIs {
			a := &s.APIs[j]
			ap := fmt.Sprintf("%s.apis[%d]", p, j)
			if a.Name != "" {
				if apis[a.Name] {
					v.ps.add(ap+".name", "%q is already the name of another API of the service", a.Name)
					continue
				}
				apis[a.Name] = true
			}
			if c := a.Backend.Channel; c != "" {
				if _, found := v.channels[c]; !found {
					v.ps.add(ap+".backend.channel", "no channel %q", c)
					continue
				}
			}
			ca := cfgAPI(*a, s.Name, func(name string) string { return name })
			if err := config.ValidateAPI(&ca); err != nil {
				v.ps.field(ap, err, "channel_id", "channel")
				continue
			}
			for k, o := range valid {
				if config.RoutesCollide(&ca, &o) {
					v.ps.add(ap+".frontend.path", "%s %s serves the same requests as apis[%d] (%s %s)",
						ca.Frontend.Method, ca.Frontend.Path, validAt[k], o.Frontend.Method, o.Frontend.Path)
					break
				}
			}
			valid, validAt = append(valid, ca), append(validAt, j)
			*a = docAPI(&ca, docNamer, nil)
		}
	}
}

func (v *validator) checkKeys() {
	secretIDs := map[string]int{}
	for i := range v.doc.Keys {
		k := &v.doc.Keys[i]
		p := fmt.Sprintf("keys[%d]", i)
		if !v.name(v.keys, "keys", i, k.Name) {
			continue
		}
		if err := config.ValidateKey(&config.Key{Name: k.Name, SecretID: k.SecretID, SecretKey: k.SecretKey}); err != nil {
			v.ps.field(p, err)
			continue
		}
		if k.SecretID != "" {
			if j, dup := secretIDs[k.SecretID]; dup {
				v.ps.add(p+".secret_id", "is already the secret_id of keys[%d]", j)
			}
			secretIDs[k.SecretID] = i
		}
	}
}

func (v *validator) checkPlans() {
	names := map[string]int{}
	bound := map[string]string{}
	for i := range v.doc.UsagePlans {
		pl := &v.doc.UsagePlans[i]
		p := fmt.Sprintf("usage_plans[%d]", i)
		if !v.name(names, "usage_plans", i, pl.Name) {
			continue
		}
		cp := config.UsagePlan{Name: pl.Name, MaxRequestsPerSecond: pl.MaxRequestsPerSecond, Quota: pl.Quota}
		if err := config.ValidatePlan(&cp); err != nil {
			v.ps.field(p, err)
		} else {
			pl.MaxRequestsPerSecond, pl.Quota = cp.MaxRequestsPerSecond, cp.Quota
		}
		held := map[string]int{}
		for j, k := range pl.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", p, j)
			if _, found := v.keys[k]; !found {
				v.ps.add(kp, "no key %q", k)
			} else if o, dup := held[k]; dup {
				v.ps.add(kp, "repeats keys[%d] (%s)", o, k)
			}
			held[k] = j
		}
		v.bindings(p, pl.Bindings, bound, "")
	}
}

// bindings checks the bindings of the plan or plugin at p. bound maps each
// target (kind, service, environment, API or "" for the whole service) to
// the binding that has it: a target takes one plan, one plugin of a type.
func (v *validator) bindings(p string, bs []Binding, bound map[string]string, kind string) {
	for j := range bs {
		b := &bs[j]
		bp := fmt.Sprintf("%s.bindings[%d]", p, j)
		apis, found := v.services[b.Service]
		if b.Service != "" && !found {
			v.ps.add(bp+".service", "no service %q", b.Service)
			continue
		}
		cb := config.PluginBinding{ServiceID: b.Service, Environment: b.Environment, APIIDs: b.APIs}
		if err := config.ValidatePluginBinding(&cb); err != nil {
			v.ps.field(bp, err, "service_id", "service", "api_ids", "apis", "API id", "API name")
			continue
		}
		ok := true
		for k, a := range b.APIs {
			if !apis[a] {
				v.ps.add(fmt.Sprintf("%s.apis[%d]", bp, k), "service %q has no API %q", b.Service, a)
				ok = false
			}
		}
		if !ok {
			continue
		}
		b.APIs = nilIfEmpty(b.APIs)
		for _, a := range targets(b.APIs) {
			t := kind + "\x00" + b.Service + "\x00" + b.Environment + "\x00" + a
			if other, taken := bound[t]; taken {
				v.ps.add(bp, "%s is already bound at %s%s", target(b.Service, b.Environment, a), other, sameKind(kind))
				break
			}
			bound[t] = bp
		}
	}
}

func sameKind(kind string) string {
	if kind == "" {
		return " (one usage plan per API)"
	}
	return fmt.Sprintf(" (one %s plugin per API)", kind)
}

// targets are the APIs of a binding, "" for the whole service.
func targets(apis []string) []string {
	if len(apis) == 0 {
		return []string{""}
	}
	return apis
}

// target names a binding target for messages: shop/release, or
// shop/release/get_order.
func target(service, env, api string) string {
	if api == "" {
		return service + "/" + env
	}
	return service + "/" + env + "/" + api
}

func (v *validator) checkApps() {
	for i := range v.doc.Applications {
		a := &v.doc.Applications[i]
		p := fmt.Sprintf("applications[%d]", i)
		if !v.name(v.apps, "applications", i, a.Name) {
			continue
		}
		if err := config.ValidateApp(&config.App{Name: a.Name, Description: a.Description}); err != nil {
			v.ps.field(p, err)
		}
		seen := map[AppBinding]int{}
		for j, b := range a.Bindings {
			bp := fmt.Sprintf("%s.bindings[%d]", p, j)
			apis, found := v.services[b.Service]
			switch {
			case b.Service == "":
				v.ps.add(bp+".service", "is required")
				continue
			case !found:
				v.ps.add(bp+".service", "no service %q", b.Service)
				continue
			case b.API == "":
				v.ps.add(bp+".api", "is required")
				continue
			case !apis[b.API]:
				v.ps.add(bp+".api", "service %q has no API %q", b.Service, b.API)
				continue
			}
			if err := config.ValidateAppBinding(&config.AppBinding{AppID: a.Name + "-", Environment: b.Environment}); err != nil {
				v.ps.field(bp, err)
				continue
			}
			if k, dup := seen[b]; dup {
				v.ps.add(bp, "repeats bindings[%d]", k)
			}
			seen[b] = j
		}
	}
}

func (v *validator) checkPlugins() {
	names := map[string]int{}
	bound := map[string]string{}
	for i := range v.doc.Plugins {
		pl := &v.doc.Plugins[i]
		p := fmt.Sprintf("plugins[%d]", i)
		if !v.name(names, "plugins", i, pl.Name) {
			continue
		}
		if err := config.ValidatePlugin(&config.Plugin{Name: pl.Name, Type: pl.Type, Config: pl.Config}); err != nil {
			v.ps.field(p, err)
			continue
		}
		switch pl.Type {
		case config.PluginIPControl:
			var c config.IPControl
			if !v.strict(p+".config", pl.Config, &c) {
				continue
			}
			if err := config.ValidateIPControl(&c); err != nil {
				v.ps.field(p, err)
				continue
			}
			pl.Config = mustJSON(c)
		case config.PluginTrafficControl:
			var d trafficControl
			if !v.strict(p+".config", pl.Config, &d) {
				continue
			}
			ok := true
			for k, s := range d.SpecialApps {
				if _, found := v.apps[s.App]; s.App != "" && !found {
					v.ps.add(fmt.Sprintf("%s.config.special_apps[%d].app", p, k), "no application %q", s.App)
					ok = false
				}
			}
			if !ok {
				continue
			}
			var c config.TrafficControl
			_ = json.Unmarshal(cfgPluginConfig(Plugin{Type: pl.Type, Config: pl.Config}, func(n string) string { return n }), &c)
			if err := config.ValidateTrafficControl(&c); err != nil {
				v.ps.field(p, err, "app_id", "app")
				continue
			}
			d.SpecialIPs = nilIfEmpty(d.SpecialIPs)
			pl.Config = mustJSON(d)
		}
		v.bindings(p, pl.Bindings, bound, pl.Type)
	}
}

// strict decodes a plugin's config refusing unknown fields (Parse has
// checked them with their paths already; this guards documents built in
// code).
func (v *validator) strict(p string, raw json.RawMessage, out any) bool {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(out); err != nil {
		v.ps.add(p, "%v", strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}

// canonicalize sorts what a document holds by name, and the lists that are
// sets by value, and drops empty lists.
func canonicalize(doc *Document) {
	slices.SortFunc(doc.Channels, func(a, b Channel) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Certificates, func(a, b Certificate) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Services, func(a, b Service) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Keys, func(a, b Key) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.UsagePlans, func(a, b UsagePlan) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Applications, func(a, b Application) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Plugins, func(a, b Plugin) int { return cmp.Compare(a.Name, b.Name) })
	for i := range doc.Services {
		s := &doc.Services[i]
		s.Environments = sortEnvironments(s.Environments)
		s.Domains = nilIfEmpty(s.Domains)
		s.APIs = nilIfEmpty(s.APIs)
		slices.SortFunc(s.APIs, func(a, b API) int { return cmp.Compare(a.Name, b.Name) })
	}
	for i := range doc.UsagePlans {
		p := &doc.UsagePlans[i]
		p.Keys = nilIfEmpty(p.Keys)
		slices.Sort(p.Keys)
		p.Bindings = sortBindings(p.Bindings)
	}
	for i := range doc.Applications {
		a := &doc.Applications[i]
		a.Bindings = nilIfEmpty(a.Bindings)
		slices.SortFunc(a.Bindings, compareAppBindings)
	}
	for i := range doc.Plugins {
		doc.Plugins[i].Bindings = sortBindings(doc.Plugins[i].Bindings)
	}
	doc.Channels = nilIfEmpty(doc.Channels)
	doc.Certificates = nilIfEmpty(doc.Certificates)
	doc.Services = nilIfEmpty(doc.Services)
	doc.Keys = nilIfEmpty(doc.Keys)
	doc.UsagePlans = nilIfEmpty(doc.UsagePlans)
	doc.Applications = nilIfEmpty(doc.Applications)
	doc.Plugins = nilIfEmpty(doc.Plugins)
}

// sortEnvironments sorts environments in their display order.
func sortEnvironments(envs []string) []string {
	envs = nilIfEmpty(envs)
	slices.SortFunc(envs, func(a, b string) int {
		return cmp.Compare(slices.Index(config.Environments, a), slices.Index(config.Environments, b))
	})
	return envs
}

func sortBindings(bs []Binding) []Binding {
	bs = nilIfEmpty(bs)
	for i := range bs {
		bs[i].APIs = nilIfEmpty(bs[i].APIs)
		slices.Sort(bs[i].APIs)
	}
	slices.SortFunc(bs, compareBindings)
	return bs
}

func compareBindings(a, b Binding) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Environment, b.Environment),
		slices.Compare(a.APIs, b.APIs))
}

func compareAppBindings(a, b AppBinding) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Environment, b.Environment),
		cmp.Compare(a.API, b.API))
}
