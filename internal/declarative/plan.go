package declarative

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Options tune a plan.
type Options struct {
	// Prune deletes what the gateway has and the document does not name:
	// channels (unnamed ones too), certificates, services (unpublished
	// first), their APIs, the environments a service serves that its
	// environments do not list (unpublished), keys, usage plans,
	// applications and plugins, and the bindings and plan keys that refer
	// to those. Without it nothing the document does not name is deleted.
	Prune bool
}

// Op is what a change does.
type Op string

// Ops.
const (
	OpCreate    Op = "create"
	OpUpdate    Op = "update"
	OpDelete    Op = "delete"
	OpBind      Op = "bind"   // a binding, or a key put in a usage plan
	OpUnbind    Op = "unbind" // a binding removed, or a key taken out of a usage plan
	OpPublish   Op = "publish"
	OpUnpublish Op = "unpublish"
)

// declarativeNote is the note of the publishes and unpublishes an apply
// makes, as the release history shows them.
const declarativeNote = "declarative configuration"

// Change is one step of a plan.
type Change struct {
	Op Op `json:"op"`
	// Kind is channel, certificate, service, api, key, usage_plan,
	// application or plugin.
	Kind string `json:"kind"`
	// Name is the object's name (service/api for an API; the id of a
	// channel that has no name).
	Name string `json:"name"`
	// Target is what a binding binds to (shop/release [get_order]), the
	// key a plan gains or loses (key partner_a), or the environment of a
	// publish.
	Target string `json:"target,omitempty"`
	// Diff lists the fields an update changes, "path old -> new"; secrets
	// are only said to change.
	Diff []string `json:"diff,omitempty"`
	// Text is the change in one line: "+ channel orders_pool",
	// "~ channel orders_pool: nodes[0].weight 10 -> 20",
	// "- plugin old_one", "publish service shop to release".
	Text string `json:"text"`

	apply applyFunc
}

// applyFunc makes a change through the store.
type applyFunc func(ctx context.Context, s store.Store, st *applyState) error

func (c Change) String() string { return c.Text }

// Plan is the ordered list of changes that makes a gateway match a
// document. Changes run in this order: creates and updates of channels and
// certificates; removals of bindings and plan keys; unpublishes; deletes
// of plugins, usage plans, keys and applications; deletes of APIs and
// services; creates and updates of keys, applications, services and APIs;
// publishes; creates and updates of plugins and usage plans, plan keys and
// bindings; deletes of channels and certificates. Each step thus finds what
// it needs (a channel for an API) and frees what a later one takes (a
// domain, a route, a binding target, a secret_id) before it is taken;
// within a step, an object that takes what another gives up (a domain moved
// from one service to another, a route from one API or service to another)
// comes after it.
type Plan struct {
	Changes []Change `json:"changes"`
	// Kept lists what the gateway has, the document does not name, and
	// the plan leaves alone because Prune is off: "channel legacy (not in
	// the document)".
	Kept []string `json:"kept,omitempty"`
	// Revision is the store revision the plan was computed at. Apply
	// assumes the gateway is still at it: plan and apply in one store
	// transaction, or compare it first.
	Revision int64 `json:"revision"`

	ids map[string]string // the ids of what the gateway had, by refKey
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// String lists the changes, one per line.
func (p *Plan) String() string {
	var b strings.Builder
	for _, c := range p.Changes {
		b.WriteString(c.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Apply makes the changes through s, in order, and stops at the first one
// the store refuses, returning an *ApplyError. It does not undo what it did
// before: run it in one store transaction, so that a failure changes
// nothing. An empty plan writes nothing. Apply may be called again (in a
// new transaction, after one was rolled back): it keeps no state between
// calls.
func (p *Plan) Apply(ctx context.Context, s store.Store) error {
	st := &applyState{ids: maps.Clone(p.ids)}
	if st.ids == nil {
		st.ids = map[string]string{}
	}
	for _, c := range p.Changes {
		if err := c.apply(ctx, s, st); err != nil {
			return &ApplyError{Change: c, Err: err}
		}
	}
	return nil
}

// applyState is what Apply has learnt: the ids of the objects it created.
type applyState struct {
	ids map[string]string
}

func refKey(kind string, name ...string) string {
	return kind + "\x00" + strings.Join(name, "\x00")
}

func (st *applyState) id(kind string, name ...string) (string, error) {
	if id, ok := st.ids[refKey(kind, name...)]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%s %s has no id: it should have been created earlier in the plan", kind, strings.Join(name, "/"))
}

func (st *applyState) set(id, kind string, name ...string) { st.ids[refKey(kind, name...)] = id }

// NewPlan computes the changes that make the gateway behind s match doc.
// doc is checked again as Parse checks it (a document built in code gets
// the same validation) and may be nil for an empty document. Problems that
// only the gateway's state shows (a domain held by a service the document
// does not name) are a *DocumentError whose paths name objects by name:
// services[shop].domains[0].host. Plan only reads s.
//
// The comparison is between normalized values: the document's as Parse
// fills them, the gateway's validated again the same way, references by
// name, ids and timestamps ignored. A key whose secret_id or secret_key
// the document leaves out keeps the gateway's.
func NewPlan(ctx context.Context, s store.Store, doc *Document, opts Options) (*Plan, error) {
	d, err := copyDocument(doc)
	if err != nil {
		return nil, err
	}
	if ps := validate(d, ""); len(ps.list) > 0 {
		return nil, &DocumentError{Problems: ps.list}
	}
	g, err := readGateway(ctx, s)
	if err != nil {
		return nil, err
	}
	p := newPlanner(g, d, opts)
	p.run()
	if len(p.ps.list) > 0 {
		return nil, &DocumentError{Problems: p.ps.list}
	}
	plan := &Plan{Changes: []Change{}, Kept: p.kept, Revision: g.rev, ids: p.ids}
	for _, phase := range p.phases {
		plan.Changes = append(plan.Changes, phase...)
	}
	return plan, nil
}

// copyDocument returns a deep copy of doc, which NewPlan may then normalize.
func copyDocument(doc *Document) (*Document, error) {
	out := &Document{}
	if doc == nil {
		return out, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	return out, nil
}

// The phases of a plan, in order.
const (
	phBase           = iota // certificates, channels: created, updated
	phUnbind                // bindings and plan keys removed
	phUnpublish             // environments unpublished
	phDeleteOwners          // plugins, usage plans, applications, keys deleted
	phDeleteServices        // APIs, services deleted
	phOwners                // keys, applications: created, updated
	phServices              // services: created, updated
	phAPIs                  // APIs: created, updated
	phPublish               // services published
	phPolicies              // plugins, usage plans: created, updated; plan keys, bindings added
	phDeleteBase            // channels, certificates deleted
	nPhases
)

// planner builds a plan.
type planner struct {
	g    *gateway
	doc  *Document
	opts Options
	nm   namer

	phases [nPhases][]Change
	kept   []string
	ids    map[string]string
	ps     problems

	docServices map[string]*Service
	docAPIs     map[string]map[string]bool
	docKeys     map[string]bool
	// occupied maps the binding targets that bindings the plan leaves in
	// place hold (kind, service id, environment, API id) to who holds them.
	occupied map[string]string
	// gServiceByName and gAPIByName find the gateway's objects by name.
	gServiceByName map[string]*config.Service
	gAPIByName     map[string]map[string]*config.API
}

func newPlanner(g *gateway, doc *Document, opts Options) *planner {
	p := &planner{g: g, doc: doc, opts: opts, nm: g.namer(), ids: map[string]string{},
		docServices: map[string]*Service{}, docAPIs: map[string]map[string]bool{}, docKeys: map[string]bool{},
		occupied: map[string]string{}, gServiceByName: map[string]*config.Service{}, gAPIByName: map[string]map[string]*config.API{}}
	for i := range doc.Services {
		s := &doc.Services[i]
		p.docServices[s.Name] = s
		apis := map[string]bool{}
		for _, a := range s.APIs {
			apis[a.Name] = true
		}
		p.docAPIs[s.Name] = apis
	}
	for _, k := range doc.Keys {
		p.docKeys[k.Name] = true
	}
	for i := range g.services {
		s := &g.services[i]
		p.gServiceByName[s.Name] = s
		byName := map[string]*config.API{}
		for j := range g.drafts[s.ID] {
			a := &g.drafts[s.ID][j]
			byName[a.Name] = a
		}
		p.gAPIByName[s.Name] = byName
	}
	return p
}

func (p *planner) add(phase int, c Change) {
	if c.Text == "" {
		c.Text = changeText(c)
	}
	p.phases[phase] = append(p.phases[phase], c)
}

func (p *planner) keep(format string, args ...any) {
	p.kept = append(p.kept, fmt.Sprintf(format, args...))
}

// update records the id of an object that the document names and the
// gateway has, for Apply, and returns the update that makes it match the
// document: old is the gateway's object in the document's form, want the
// document's. It returns false when they are the same.
func (p *planner) update(kind, name, id string, old, want any, apply applyFunc) (Change, bool) {
	p.ids[refKey(kind, name)] = id
	if equalJSON(old, want) {
		return Change{}, false
	}
	return Change{Op: OpUpdate, Kind: kind, Name: name, Diff: diff(old, want), apply: apply}, true
}

// keepOrDelete plans an object of the gateway that the document does not
// name: without Prune it is kept, and Kept says so; with Prune del deletes
// it in phase. why says why the document does not name it, when that is
// more than its absence. It reports whether the object is deleted, for
// the caller to add what must go first (its bindings, its publishes).
func (p *planner) keepOrDelete(phase int, kind, name, why string, del func(ctx context.Context, s store.Store) error) bool {
	if !p.opts.Prune {
		if why == "" {
			why = "not in the document"
		}
		p.keep("%s %s (%s)", kind, name, why)
		return false
	}
	c := Change{Op: OpDelete, Kind: kind, Name: name,
		apply: func(ctx context.Context, s store.Store, _ *applyState) error { return del(ctx, s) }}
	if why != "" {
		c.Text = fmt.Sprintf("- %s %s (%s)", kind, name, why)
	}
	p.add(phase, c)
	return true
}

// changeText is the one-line form of a change.
func changeText(c Change) string {
	subject := c.Kind + " " + c.Name
	switch c.Op {
	case OpCreate:
		return "+ " + subject
	case OpDelete:
		return "- " + subject
	case OpUpdate:
		return "~ " + subject + ": " + strings.Join(c.Diff, "; ")
	case OpBind:
		return "+ " + subject + " " + c.Target
	case OpUnbind:
		return "- " + subject + " " + c.Target
	case OpPublish:
		return "publish service " + c.Name + " to " + c.Target
	case OpUnpublish:
		return "unpublish service " + c.Name + " from " + c.Target
	}
	return subject
}

func (p *planner) run() {
	p.channels()
	p.certificates()
	// Bindings left in place are known before any binding is added:
	// plugins and plans record them as they go, and check new bindings
	// after.
	pluginBinds := p.plugins()
	planBinds := p.plans()
	for _, b := range append(pluginBinds, planBinds...) {
		p.checkTargets(b)
	}
	p.keys()
	p.apps()
	p.services()
}

// --- channels and certificates

func (p *planner) channels() {
	byName := map[string]config.Channel{}
	for _, c := range p.g.channels {
		if c.Name != "" {
			byName[c.Name] = c
		}
	}
	inDoc := map[string]bool{}
	for _, c := range p.doc.Channels {
		inDoc[c.Name] = true
		gc, exists := byName[c.Name]
		if !exists {
			p.add(phBase, Change{Op: OpCreate, Kind: "channel", Name: c.Name,
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					cc := cfgChannel(c)
					if err := config.ValidateChannel(&cc); err != nil {
						return err
					}
					if err := s.CreateChannel(ctx, &cc); err != nil {
						return err
					}
					st.set(cc.ID, "channel", c.Name)
					return nil
				}})
			continue
		}
		updateChannel := func(ctx context.Context, s store.Store, _ *applyState) error {
			cc := cfgChannel(c)
			cc.ID = gc.ID
			if err := config.ValidateChannel(&cc); err != nil {
				return err
			}
			return s.UpdateChannel(ctx, &cc)
		}
		if u, ok := p.update("channel", c.Name, gc.ID, gatewayChannel(gc), c, updateChannel); ok {
			p.add(phBase, u)
		}
	}
	for _, gc := range p.g.channels {
		del := func(ctx context.Context, s store.Store) error { return s.DeleteChannel(ctx, gc.ID) }
		switch {
		case gc.Name == "":
			p.keepOrDelete(phDeleteBase, "channel", gc.ID, "unnamed: a document cannot name it", del)
		case !inDoc[gc.Name]:
			p.keepOrDelete(phDeleteBase, "channel", gc.Name, "", del)
		}
	}
}

func (p *planner) certificates() {
	byName := map[string]config.Certificate{}
	for _, c := range p.g.certs {
		byName[c.Name] = c
	}
	inDoc := map[string]bool{}
	for _, c := range p.doc.Certificates {
		inDoc[c.Name] = true
		gc, exists := byName[c.Name]
		save := func(id string) applyFunc {
			return func(ctx context.Context, s store.Store, st *applyState) error {
				cc := config.Certificate{ID: id, Name: c.Name, CertPEM: c.CertPEM, KeyPEM: c.KeyPEM}
				if err := config.ValidateCertificate(&cc); err != nil {
					return err
				}
				if id != "" {
					return s.UpdateCertificate(ctx, &cc)
				}
				if err := s.CreateCertificate(ctx, &cc); err != nil {
					return err
				}
				st.set(cc.ID, "certificate", c.Name)
				return nil
			}
		}
		if !exists {
			p.add(phBase, Change{Op: OpCreate, Kind: "certificate", Name: c.Name, apply: save("")})
			continue
		}
		old := Certificate{Name: gc.Name, CertPEM: gc.CertPEM, KeyPEM: gc.KeyPEM}
		if u, ok := p.update("certificate", c.Name, gc.ID, old, c, save(gc.ID)); ok {
			p.add(phBase, u)
		}
	}
	for _, gc := range p.g.certs {
		if !inDoc[gc.Name] {
			p.keepOrDelete(phDeleteBase, "certificate", gc.Name, "",
				func(ctx context.Context, s store.Store) error { return s.DeleteCertificate(ctx, gc.ID) })
		}
	}
}

// --- bindings of plugins and usage plans

// gatewayBinding is a plugin or plan binding of the gateway.
type gatewayBinding struct {
	id, serviceID, env string
	apiIDs             []string
}

// newBinding is a binding the plan adds, checked against the targets that
// bindings left in place hold once all are known.
type newBinding struct {
	kind, owner, path string
	b                 Binding
}

// nameable returns the document form of a gateway binding when the
// document can name it: its service is in the document, and so are its
// APIs. An API id that is no longer in the draft (the API was deleted)
// matches nothing: such a binding is nameable but differs from every
// binding of a document, so that it is replaced.
func (p *planner) nameable(b gatewayBinding) (Binding, bool) {
	svc, ok := p.g.serviceName[b.serviceID]
	if !ok || p.docServices[svc] == nil {
		return Binding{}, false
	}
	out := Binding{Service: svc, Environment: b.env}
	for _, id := range b.apiIDs {
		name, ok := p.g.apiName[b.serviceID][id]
		switch {
		case !ok:
			name = unnamed(id)
		case !p.docAPIs[svc][name]:
			return Binding{}, false
		}
		out.APIs = append(out.APIs, name)
	}
	slices.Sort(out.APIs)
	return out, true
}

// targetText names a gateway binding's target for a change or a note.
func (p *planner) targetText(b gatewayBinding) string {
	svc, ok := p.g.serviceName[b.serviceID]
	if !ok {
		svc = b.serviceID
	}
	var apis []string
	for _, id := range b.apiIDs {
		name, ok := p.g.apiName[b.serviceID][id]
		if !ok {
			name = id + " (deleted)"
		}
		apis = append(apis, name)
	}
	return bindingText(Binding{Service: svc, Environment: b.env, APIs: apis})
}

// bindingText is "binding shop/release" or "binding shop/release [a, b]".
func bindingText(b Binding) string {
	s := "binding " + b.Service + "/" + b.Environment
	if len(b.APIs) > 0 {
		s += " [" + strings.Join(b.APIs, ", ") + "]"
	}
	return s
}

// occupy records the targets of a gateway binding the plan leaves in place.
func (p *planner) occupy(kind string, b gatewayBinding, holder string) {
	for _, a := range targets(b.apiIDs) {
		p.occupied[kind+"\x00"+b.serviceID+"\x00"+b.env+"\x00"+a] = holder
	}
}

// checkTargets reports a new binding whose target a binding left in place
// holds: the store would refuse it.
func (p *planner) checkTargets(nb newBinding) {
	svc := p.gServiceByName[nb.b.Service]
	if svc == nil {
		return
	}
	for _, a := range targets(nb.b.APIs) {
		id := ""
		if a != "" {
			ga := p.gAPIByName[nb.b.Service][a]
			if ga == nil {
				continue
			}
			id = ga.ID
		}
		if holder, taken := p.occupied[nb.kind+"\x00"+svc.ID+"\x00"+nb.b.Environment+"\x00"+id]; taken {
			p.ps.add(nb.path, "%s is already bound to %s, which the document does not name (delete that binding, or apply with prune)",
				target(nb.b.Service, nb.b.Environment, a), holder)
			return
		}
	}
}

// ownerBindings plans the bindings of a plugin or plan of the document,
// given those the gateway has (none for one the plan creates): those the
// document does not list are removed when it can name them (or with
// Prune), kept otherwise; those it lists and the gateway lacks are added.
// bind and unbind make the changes.
func (p *planner) ownerBindings(kind, occKind, owner, path string, have []gatewayBinding, want []Binding,
	bind func(Binding) Change, unbind func(gatewayBinding) Change) []newBinding {
	matched := map[int]bool{}
	for _, gb := range have {
		if b, ok := p.nameable(gb); ok {
			i := slices.IndexFunc(want, func(w Binding) bool { return compareBindings(w, b) == 0 })
			if i >= 0 && !matched[i] {
				matched[i] = true
				continue
			}
		} else if !p.opts.Prune {
			p.keep("%s %s %s (the document cannot name it)", kind, owner, p.targetText(gb))
			p.occupy(occKind, gb, kind+" "+owner)
			continue
		}
		p.add(phUnbind, unbind(gb))
	}
	var added []newBinding
	for i, b := range want {
		if matched[i] {
			continue
		}
		p.add(phPolicies, bind(b))
		added = append(added, newBinding{kind: occKind, owner: owner, path: fmt.Sprintf("%s.bindings[%d]", path, i), b: b})
	}
	return added
}

// keepOrDeleteOwner plans a plugin or plan that the document does not
// name: kept, its bindings holding their targets, or with Prune deleted
// after its bindings are removed.
func (p *planner) keepOrDeleteOwner(kind, occKind, owner string, have []gatewayBinding,
	del func(ctx context.Context, s store.Store) error, unbind func(gatewayBinding) Change) {
	deleted := p.keepOrDelete(phDeleteOwners, kind, owner, "", del)
	for _, gb := range have {
		if deleted {
			p.add(phUnbind, unbind(gb))
		} else {
			p.occupy(occKind, gb, kind+" "+owner)
		}
	}
}

// --- plugins

func (p *planner) plugins() []newBinding {
	byName := map[string]config.Plugin{}
	for _, gp := range p.g.plugins {
		byName[gp.Name] = gp
	}
	unbind := func(gp config.Plugin, gb gatewayBinding) Change {
		return Change{Op: OpUnbind, Kind: "plugin", Name: gp.Name, Target: p.targetText(gb),
			apply: func(ctx context.Context, s store.Store, _ *applyState) error {
				return s.UnbindPlugin(ctx, gp.ID, gb.id)
			}}
	}
	inDoc := map[string]bool{}
	var added []newBinding
	for _, pl := range p.doc.Plugins {
		inDoc[pl.Name] = true
		path := "plugins[" + pl.Name + "]"
		gp, exists := byName[pl.Name]
		configOf := func(st *applyState) (json.RawMessage, error) {
			var err error
			raw := cfgPluginConfig(pl, func(app string) string {
				id, e := st.id("application", app)
				if e != nil {
					err = e
				}
				return id
			})
			return raw, err
		}
		bind := func(b Binding) Change {
			return Change{Op: OpBind, Kind: "plugin", Name: pl.Name, Target: bindingText(b),
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					pb, err := bindingIDs(st, b)
					if err != nil {
						return err
					}
					if pb.PluginID, err = st.id("plugin", pl.Name); err != nil {
						return err
					}
					return s.BindPlugin(ctx, &pb)
				}}
		}
		create := Change{Op: OpCreate, Kind: "plugin", Name: pl.Name,
			apply: func(ctx context.Context, s store.Store, st *applyState) error {
				raw, err := configOf(st)
				if err != nil {
					return err
				}
				cp := pluginConfig(pl.Name, pl.Type, raw)
				if err := s.CreatePlugin(ctx, &cp); err != nil {
					return err
				}
				st.set(cp.ID, "plugin", pl.Name)
				return nil
			}}
		// have is the gateway's bindings to compare with the document's:
		// none for a plugin that is created or replaced.
		var have, rebind []gatewayBinding
		switch {
		case !exists:
			p.add(phPolicies, create)
		case gp.Type != pl.Type:
			// The type of a plugin cannot change: it is replaced. What the
			// document cannot name is bound again to the new one.
			for _, gb := range pluginBindings(gp) {
				p.add(phUnbind, unbind(gp, gb))
				if _, ok := p.nameable(gb); !ok && !p.opts.Prune {
					rebind = append(rebind, gb)
				}
			}
			p.add(phDeleteOwners, Change{Op: OpDelete, Kind: "plugin", Name: pl.Name,
				Text:  fmt.Sprintf("- plugin %s (its type changes from %s to %s: it is replaced)", pl.Name, gp.Type, pl.Type),
				apply: func(ctx context.Context, s store.Store, _ *applyState) error { return s.DeletePlugin(ctx, gp.ID) }})
			p.add(phPolicies, create)
		default:
			updatePlugin := func(ctx context.Context, s store.Store, st *applyState) error {
				raw, err := configOf(st)
				if err != nil {
					return err
				}
				cp := pluginConfig(pl.Name, pl.Type, raw)
				cp.ID = gp.ID
				return s.UpdatePlugin(ctx, &cp)
			}
			want := Plugin{Name: pl.Name, Type: pl.Type, Config: pl.Config}
			if u, ok := p.update("plugin", pl.Name, gp.ID, docPlugin(&gp, p.nm, nil), want, updatePlugin); ok {
				p.add(phPolicies, u)
			}
			have = pluginBindings(gp)
		}
		added = append(added, p.ownerBindings("plugin", pl.Type, pl.Name, path, have, pl.Bindings, bind,
			func(gb gatewayBinding) Change { return unbind(gp, gb) })...)
		for _, gb := range rebind {
			p.add(phPolicies, Change{Op: OpBind, Kind: "plugin", Name: pl.Name, Target: p.targetText(gb) + " (kept from the replaced plugin)",
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					pb := config.PluginBinding{ServiceID: gb.serviceID, Environment: gb.env, APIIDs: gb.apiIDs}
					var err error
					if pb.PluginID, err = st.id("plugin", pl.Name); err != nil {
						return err
					}
					return s.BindPlugin(ctx, &pb)
				}})
		}
	}
	for _, gp := range p.g.plugins {
		if !inDoc[gp.Name] {
			p.keepOrDeleteOwner("plugin", gp.Type, gp.Name, pluginBindings(gp),
				func(ctx context.Context, s store.Store) error { return s.DeletePlugin(ctx, gp.ID) },
				func(gb gatewayBinding) Change { return unbind(gp, gb) })
		}
	}
	return added
}

// pluginConfig is a plugin to store: its config as the admin API stores it
// (decoded by type and encoded again).
func pluginConfig(name, typ string, raw json.RawMessage) config.Plugin {
	return config.Plugin{Name: name, Type: typ, Config: canonicalJSON(raw)}
}

func pluginBindings(gp config.Plugin) []gatewayBinding {
	out := make([]gatewayBinding, len(gp.Bindings))
	for i, b := range gp.Bindings {
		out[i] = gatewayBinding{id: b.ID, serviceID: b.ServiceID, env: b.Environment, apiIDs: b.APIIDs}
	}
	return out
}

// bindingIDs resolves a document binding to the ids it binds.
func bindingIDs(st *applyState, b Binding) (config.PluginBinding, error) {
	pb := config.PluginBinding{Environment: b.Environment}
	var err error
	if pb.ServiceID, err = st.id("service", b.Service); err != nil {
		return pb, err
	}
	for _, a := range b.APIs {
		id, err := st.id("api", b.Service, a)
		if err != nil {
			return pb, err
		}
		pb.APIIDs = append(pb.APIIDs, id)
	}
	return pb, nil
}

// --- usage plans

func (p *planner) plans() []newBinding {
	byName := map[string]config.UsagePlan{}
	for _, gp := range p.g.plans {
		byName[gp.Name] = gp
	}
	unbind := func(gp config.UsagePlan, gb gatewayBinding) Change {
		return Change{Op: OpUnbind, Kind: "usage_plan", Name: gp.Name, Target: p.targetText(gb),
			apply: func(ctx context.Context, s store.Store, _ *applyState) error {
				return s.UnbindPlan(ctx, gp.ID, gb.id)
			}}
	}
	inDoc := map[string]bool{}
	var added []newBinding
	for _, pl := range p.doc.UsagePlans {
		inDoc[pl.Name] = true
		path := "usage_plans[" + pl.Name + "]"
		gp, exists := byName[pl.Name]
		row := func() config.UsagePlan {
			return config.UsagePlan{Name: pl.Name, MaxRequestsPerSecond: pl.MaxRequestsPerSecond, Quota: pl.Quota}
		}
		bind := func(b Binding) Change {
			return Change{Op: OpBind, Kind: "usage_plan", Name: pl.Name, Target: bindingText(b),
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					ids, err := bindingIDs(st, b)
					if err != nil {
						return err
					}
					pb := config.PlanBinding{ServiceID: ids.ServiceID, Environment: ids.Environment, APIIDs: ids.APIIDs}
					if pb.PlanID, err = st.id("usage_plan", pl.Name); err != nil {
						return err
					}
					return s.BindPlan(ctx, &pb)
				}}
		}
		addKey := func(k string) Change {
			return Change{Op: OpBind, Kind: "usage_plan", Name: pl.Name, Target: "key " + k,
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					planID, err := st.id("usage_plan", pl.Name)
					if err != nil {
						return err
					}
					keyID, err := st.id("key", k)
					if err != nil {
						return err
					}
					return s.AddPlanKeys(ctx, planID, []string{keyID})
				}}
		}
		// held and have are the gateway's keys and bindings to compare with
		// the document's: none for a plan that is created.
		held := map[string]bool{}
		var have []gatewayBinding
		if !exists {
			p.add(phPolicies, Change{Op: OpCreate, Kind: "usage_plan", Name: pl.Name,
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					cp := row()
					if err := s.CreatePlan(ctx, &cp); err != nil {
						return err
					}
					st.set(cp.ID, "usage_plan", pl.Name)
					return nil
				}})
		} else {
			updatePlan := func(ctx context.Context, s store.Store, _ *applyState) error {
				cp := row()
				cp.ID = gp.ID
				return s.UpdatePlan(ctx, &cp)
			}
			normalized := clone(gp)
			_ = config.ValidatePlan(&normalized)
			old := UsagePlan{Name: gp.Name, MaxRequestsPerSecond: normalized.MaxRequestsPerSecond, Quota: normalized.Quota}
			want := UsagePlan{Name: pl.Name, MaxRequestsPerSecond: pl.MaxRequestsPerSecond, Quota: pl.Quota}
			if u, ok := p.update("usage_plan", pl.Name, gp.ID, old, want, updatePlan); ok {
				p.add(phPolicies, u)
			}
			for _, kid := range gp.KeyIDs {
				name, named := p.g.keyName[kid]
				switch {
				case named && p.docKeys[name]:
					held[name] = true
					if slices.Contains(pl.Keys, name) {
						continue
					}
				case !p.opts.Prune:
					p.keep("usage_plan %s key %s (not in the document)", pl.Name, name)
					continue
				}
				p.add(phUnbind, Change{Op: OpUnbind, Kind: "usage_plan", Name: pl.Name, Target: "key " + name,
					apply: func(ctx context.Context, s store.Store, _ *applyState) error {
						return s.RemovePlanKey(ctx, gp.ID, kid)
					}})
			}
			have = planBindings(gp)
		}
		for _, k := range pl.Keys {
			if !held[k] {
				p.add(phPolicies, addKey(k))
			}
		}
		added = append(added, p.ownerBindings("usage_plan", "", pl.Name, path, have, pl.Bindings, bind,
			func(gb gatewayBinding) Change { return unbind(gp, gb) })...)
	}
	for _, gp := range p.g.plans {
		if !inDoc[gp.Name] {
			// Deleting a plan releases its keys.
			p.keepOrDeleteOwner("usage_plan", "", gp.Name, planBindings(gp),
				func(ctx context.Context, s store.Store) error { return s.DeletePlan(ctx, gp.ID) },
				func(gb gatewayBinding) Change { return unbind(gp, gb) })
		}
	}
	return added
}

func planBindings(gp config.UsagePlan) []gatewayBinding {
	out := make([]gatewayBinding, len(gp.Bindings))
	for i, b := range gp.Bindings {
		out[i] = gatewayBinding{id: b.ID, serviceID: b.ServiceID, env: b.Environment, apiIDs: b.APIIDs}
	}
	return out
}

// --- applications

func (p *planner) apps() {
	byName := map[string]config.App{}
	for _, ga := range p.g.apps {
		byName[ga.Name] = ga
	}
	bindings := map[string][]config.AppBinding{}
	for _, b := range p.g.appBindings {
		bindings[b.AppID] = append(bindings[b.AppID], b)
	}
	appTarget := func(b config.AppBinding) string {
		svc, ok := p.g.serviceName[b.ServiceID]
		if !ok {
			svc = b.ServiceID
		}
		api, ok := p.g.apiName[b.ServiceID][b.APIID]
		if !ok {
			api = b.APIID + " (deleted)"
		}
		return bindingText(Binding{Service: svc, Environment: b.Environment, APIs: []string{api}})
	}
	unbind := func(name string, b config.AppBinding) Change {
		return Change{Op: OpUnbind, Kind: "application", Name: name, Target: appTarget(b),
			apply: func(ctx context.Context, s store.Store, _ *applyState) error {
				return s.UnbindApp(ctx, b.ServiceID, b.APIID, b.ID)
			}}
	}
	inDoc := map[string]bool{}
	for _, a := range p.doc.Applications {
		inDoc[a.Name] = true
		ga, exists := byName[a.Name]
		if !exists {
			p.add(phOwners, Change{Op: OpCreate, Kind: "application", Name: a.Name,
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					ca := config.App{Name: a.Name, Description: a.Description}
					if err := s.CreateApp(ctx, &ca); err != nil {
						return err
					}
					st.set(ca.ID, "application", a.Name)
					return nil
				}})
		} else {
			updateApp := func(ctx context.Context, s store.Store, _ *applyState) error {
				return s.UpdateApp(ctx, &config.App{ID: ga.ID, Name: a.Name, Description: a.Description})
			}
			old := Application{Name: ga.Name, Description: ga.Description}
			want := Application{Name: a.Name, Description: a.Description}
			if u, ok := p.update("application", a.Name, ga.ID, old, want, updateApp); ok {
				p.add(phOwners, u)
			}
		}
		matched := map[AppBinding]bool{}
		if exists {
			for _, gb := range bindings[ga.ID] {
				svc, ok1 := p.g.serviceName[gb.ServiceID]
				api, ok2 := p.g.apiName[gb.ServiceID][gb.APIID]
				if ok1 && !ok2 && p.docServices[svc] != nil {
					// The API was deleted: the binding matches nothing.
					p.add(phUnbind, unbind(a.Name, gb))
					continue
				}
				if ok1 && ok2 && p.docAPIs[svc][api] {
					b := AppBinding{Service: svc, Environment: gb.Environment, API: api}
					if slices.Contains(a.Bindings, b) && !matched[b] {
						matched[b] = true
						continue
					}
				} else if !p.opts.Prune {
					p.keep("application %s %s (the document cannot name it)", a.Name, appTarget(gb))
					continue
				}
				p.add(phUnbind, unbind(a.Name, gb))
			}
		}
		for _, b := range a.Bindings {
			if matched[b] {
				continue
			}
			p.add(phPolicies, Change{Op: OpBind, Kind: "application", Name: a.Name,
				Target: bindingText(Binding{Service: b.Service, Environment: b.Environment, APIs: []string{b.API}}),
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					ab := config.AppBinding{Environment: b.Environment}
					var err error
					if ab.AppID, err = st.id("application", a.Name); err != nil {
						return err
					}
					if ab.ServiceID, err = st.id("service", b.Service); err != nil {
						return err
					}
					if ab.APIID, err = st.id("api", b.Service, b.API); err != nil {
						return err
					}
					return s.BindApp(ctx, &ab)
				}})
		}
	}
	for _, ga := range p.g.apps {
		if inDoc[ga.Name] {
			continue
		}
		if p.keepOrDelete(phDeleteOwners, "application", ga.Name, "",
			func(ctx context.Context, s store.Store) error { return s.DeleteApp(ctx, ga.ID) }) {
			for _, gb := range bindings[ga.ID] {
				p.add(phUnbind, unbind(ga.Name, gb))
			}
		}
	}
}

// --- keys

func (p *planner) keys() {
	byName := map[string]*config.Key{}
	bySecretID := map[string]*config.Key{}
	for i := range p.g.keys {
		k := &p.g.keys[i]
		byName[k.Name] = k
		bySecretID[k.SecretID] = k
	}
	type item struct {
		change Change
		name   string
		after  string // the key whose secret_id this one takes
	}
	docSecretIDs := map[string]string{}
	for _, k := range p.doc.Keys {
		docSecretIDs[k.Name] = k.SecretID
	}
	var items []item
	for _, k := range p.doc.Keys {
		gk := byName[k.Name]
		var after string
		if holder := bySecretID[k.SecretID]; k.SecretID != "" && holder != nil && holder.Name != k.Name {
			switch {
			case p.docKeys[holder.Name] && docSecretIDs[holder.Name] == "":
				p.ps.add("keys["+k.Name+"].secret_id", "is the secret_id of key %q, which keeps it (the document gives it none)", holder.Name)
			case p.docKeys[holder.Name]:
				after = holder.Name
			case !p.opts.Prune:
				p.ps.add("keys["+k.Name+"].secret_id", "is the secret_id of key %q, which the document does not name (delete it, or apply with prune)", holder.Name)
			}
		}
		if gk == nil {
			items = append(items, item{name: k.Name, after: after, change: Change{Op: OpCreate, Kind: "key", Name: k.Name,
				apply: func(ctx context.Context, s store.Store, st *applyState) error {
					ck := config.Key{Name: k.Name, SecretID: k.SecretID, SecretKey: k.SecretKey}
					if err := s.CreateKey(ctx, &ck); err != nil {
						return err
					}
					st.set(ck.ID, "key", k.Name)
					return nil
				}}})
			continue
		}
		updateKey := func(ctx context.Context, s store.Store, _ *applyState) error {
			return s.UpdateKey(ctx, &config.Key{ID: gk.ID, Name: k.Name, SecretID: k.SecretID, SecretKey: k.SecretKey})
		}
		old := Key{Name: gk.Name, SecretID: gk.SecretID, SecretKey: gk.SecretKey}
		want := k
		if want.SecretID == "" {
			want.SecretID = old.SecretID
		}
		if want.SecretKey == "" {
			want.SecretKey = old.SecretKey
		}
		if u, ok := p.update("key", k.Name, gk.ID, old, want, updateKey); ok {
			items = append(items, item{name: k.Name, after: after, change: u})
		}
	}
	for _, i := range order(len(items), func(i int) []int {
		j := slices.IndexFunc(items, func(it item) bool { return it.name == items[i].after })
		if j < 0 {
			return nil
		}
		return []int{j}
	}) {
		p.add(phOwners, items[i].change)
	}
	for _, gk := range p.g.keys {
		if !p.docKeys[gk.Name] {
			p.keepOrDelete(phDeleteOwners, "key", gk.Name, "",
				func(ctx context.Context, s store.Store) error { return s.DeleteKey(ctx, gk.ID) })
		}
	}
}

// --- services, APIs, environments

// publish is a publish the plan makes, for ordering.
type publish struct {
	change    Change
	serviceID string // "" for a new service
	env       string
	apis      []API // what it will serve
}

func (p *planner) services() {
	hostHolder := map[string]*config.Service{}
	for i := range p.g.services {
		for _, d := range p.g.services[i].Domains {
			hostHolder[strings.ToLower(d.Host)] = &p.g.services[i]
		}
	}
	type item struct {
		change Change
		name   string
		after  []string // services that must give up a domain first
	}
	var items []item
	var pubs []publish
	for si := range p.doc.Services {
		s := &p.doc.Services[si]
		gs := p.gServiceByName[s.Name]
		core := Service{Name: s.Name, Description: s.Description, Protocols: s.Protocols, Domains: s.Domains}
		it := item{name: s.Name}
		for j, d := range s.Domains {
			holder := hostHolder[d.Host]
			if holder == nil || holder.Name == s.Name {
				continue
			}
			switch {
			case p.docServices[holder.Name] != nil:
				it.after = append(it.after, holder.Name)
			case !p.opts.Prune:
				p.ps.add(fmt.Sprintf("services[%s].domains[%d].host", s.Name, j),
					"%s is a domain of service %q, which the document does not name (remove it there, or apply with prune)", d.Host, holder.Name)
			}
		}
		save := func(id string) applyFunc {
			return func(ctx context.Context, st store.Store, as *applyState) error {
				var err error
				cs := cfgService(*s, func(name string) string {
					cid, e := as.id("certificate", name)
					if e != nil {
						err = e
					}
					return cid
				})
				if err != nil {
					return err
				}
				cs.ID = id
				if err := config.ValidateService(&cs); err != nil {
					return err
				}
				if id != "" {
					return st.UpdateService(ctx, &cs)
				}
				if err := st.CreateService(ctx, &cs); err != nil {
					return err
				}
				as.set(cs.ID, "service", s.Name)
				return nil
			}
		}
		if gs == nil {
			it.change = Change{Op: OpCreate, Kind: "service", Name: s.Name, apply: save("")}
			items = append(items, it)
		} else if u, ok := p.update("service", s.Name, gs.ID, gatewayService(*gs, p.nm, nil), core, save(gs.ID)); ok {
			it.change = u
			items = append(items, it)
		}
		draft := p.apis(s, gs)
		pubs = append(pubs, p.environments(s, gs, draft)...)
	}
	for _, i := range order(len(items), func(i int) []int {
		var out []int
		for _, name := range items[i].after {
			if j := slices.IndexFunc(items, func(it item) bool { return it.name == name }); j >= 0 {
				out = append(out, j)
			}
		}
		return out
	}) {
		p.add(phServices, items[i].change)
	}
	p.orderPublishes(pubs)
	for i := range p.g.services {
		gs := &p.g.services[i]
		if p.docServices[gs.Name] != nil {
			continue
		}
		if p.keepOrDelete(phDeleteServices, "service", gs.Name, "",
			func(ctx context.Context, s store.Store) error { return s.DeleteService(ctx, gs.ID) }) {
			for _, env := range config.Environments {
				if _, served := p.g.served[gs.ID][env]; served {
					p.add(phUnpublish, unpublish(gs, env))
				}
			}
		}
	}
}

func unpublish(gs *config.Service, env string) Change {
	return Change{Op: OpUnpublish, Kind: "service", Name: gs.Name, Target: env,
		apply: func(ctx context.Context, s store.Store, _ *applyState) error {
			return s.Unpublish(ctx, gs.ID, env, declarativeNote)
		}}
}

// apis plans the draft APIs of a service and returns what its draft will
// be, in the document's form, sorted by name.
func (p *planner) apis(s *Service, gs *config.Service) []API {
	var have map[string]*config.API
	if gs != nil {
		have = p.gAPIByName[s.Name]
	}
	type item struct {
		change Change
		new    config.API  // the route it will serve
		old    *config.API // the route it serves now (updates)
	}
	var updates, creates []item
	draft := slices.Clone(s.APIs)
	for _, a := range s.APIs {
		route := cfgAPI(a, "", func(string) string { return "" })
		save := func(ga *config.API) applyFunc {
			return func(ctx context.Context, st store.Store, as *applyState) error {
				svcID, err := as.id("service", s.Name)
				if err != nil {
					return err
				}
				ca := cfgAPI(a, svcID, func(name string) string {
					cid, e := as.id("channel", name)
					if e != nil {
						err = e
					}
					return cid
				})
				if err != nil {
					return err
				}
				if err := config.ValidateAPI(&ca); err != nil {
					return err
				}
				if ga != nil {
					ca.ID = ga.ID
					return st.UpdateAPI(ctx, &ca)
				}
				if err := st.CreateAPI(ctx, &ca); err != nil {
					return err
				}
				as.set(ca.ID, "api", s.Name, a.Name)
				return nil
			}
		}
		name := s.Name + "/" + a.Name
		ga := have[a.Name]
		if ga == nil {
			creates = append(creates, item{new: route, change: Change{Op: OpCreate, Kind: "api", Name: name, apply: save(nil)}})
			continue
		}
		p.ids[refKey("api", s.Name, a.Name)] = ga.ID
		old := gatewayAPI(*ga, p.nm, nil)
		if equalJSON(old, a) {
			continue
		}
		updates = append(updates, item{new: route, old: ga,
			change: Change{Op: OpUpdate, Kind: "api", Name: name, Diff: diff(old, a), apply: save(ga)}})
	}
	// An API takes a route another gives up only after it has.
	all := append(updates, creates...)
	for _, i := range order(len(all), func(i int) []int {
		var out []int
		for j, u := range updates {
			if j != i && config.RoutesCollide(&all[i].new, u.old) {
				out = append(out, j)
			}
		}
		return out
	}) {
		p.add(phAPIs, all[i].change)
	}
	if gs != nil {
		for _, ga := range p.g.drafts[gs.ID] {
			if p.docAPIs[s.Name][ga.Name] {
				continue
			}
			if !p.keepOrDelete(phDeleteServices, "api", s.Name+"/"+ga.Name, "",
				func(ctx context.Context, st store.Store) error { return st.DeleteAPI(ctx, gs.ID, ga.ID) }) {
				// A kept API stays in the draft.
				draft = append(draft, gatewayAPI(ga, p.nm, nil))
			}
		}
	}
	slices.SortFunc(draft, func(a, b API) int { return strings.Compare(a.Name, b.Name) })
	return draft
}

// environments plans where a service is served: each environment it lists
// serves the draft (published when what it serves differs); the others
// are unpublished with Prune.
func (p *planner) environments(s *Service, gs *config.Service, draft []API) []publish {
	var served map[string]config.Published
	if gs != nil {
		served = p.g.served[gs.ID]
	}
	var out []publish
	for _, env := range s.Environments {
		if cur, ok := served[env]; ok {
			var now []API
			for _, a := range cur.APIs {
				now = append(now, gatewayAPI(a, p.nm, nil))
			}
			slices.SortFunc(now, func(a, b API) int { return strings.Compare(a.Name, b.Name) })
			if equalJSON(now, draft) {
				continue
			}
		}
		pub := publish{env: env, apis: draft, change: Change{Op: OpPublish, Kind: "service", Name: s.Name, Target: env,
			apply: func(ctx context.Context, st store.Store, as *applyState) error {
				id, err := as.id("service", s.Name)
				if err != nil {
					return err
				}
				_, err = st.Publish(ctx, id, env, declarativeNote)
				return err
			}}}
		if gs != nil {
			pub.serviceID = gs.ID
		}
		out = append(out, pub)
	}
	if gs != nil {
		for _, env := range config.Environments {
			if _, ok := served[env]; !ok || slices.Contains(s.Environments, env) {
				continue
			}
			if !p.opts.Prune {
				p.keep("service %s in %s (not in its environments)", s.Name, env)
				continue
			}
			p.add(phUnpublish, unpublish(gs, env))
		}
	}
	return out
}

// orderPublishes adds the publishes so that a service that takes a route
// another serves in the same environment is published after the other
// (which gives it up by publishing its new draft).
func (p *planner) orderPublishes(pubs []publish) {
	collide := func(want []API, serving []config.API) bool {
		for _, a := range want {
			x := config.API{Frontend: a.Frontend}
			for _, o := range serving {
				if config.RoutesCollide(&x, &o) {
					return true
				}
			}
		}
		return false
	}
	for _, i := range order(len(pubs), func(i int) []int {
		var out []int
		for j, o := range pubs {
			if j == i || o.serviceID == "" || o.env != pubs[i].env {
				continue
			}
			if collide(pubs[i].apis, p.g.served[o.serviceID][o.env].APIs) {
				out = append(out, j)
			}
		}
		return out
	}) {
		p.add(phPublish, pubs[i].change)
	}
}

// order returns 0..n-1 so that each i comes after the items after(i) lists,
// otherwise in index order; a cycle is broken where it closes.
func order(n int, after func(i int) []int) []int {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, n)
	out := make([]int, 0, n)
	var visit func(i int)
	visit = func(i int) {
		if state[i] != unseen {
			return
		}
		state[i] = visiting
		for _, j := range after(i) {
			if j >= 0 && j < n && state[j] == unseen {
				visit(j)
			}
		}
		state[i] = done
		out = append(out, i)
	}
	for i := 0; i < n; i++ {
		visit(i)
	}
	return out
}
