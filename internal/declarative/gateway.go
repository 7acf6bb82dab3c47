package declarative

import (
	"context"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// gateway is everything a gateway holds, read at one revision.
type gateway struct {
	rev         int64
	channels    []config.Channel
	certs       []config.Certificate // keys included
	services    []config.Service
	drafts      map[string][]config.API                // service id -> draft APIs
	served      map[string]map[string]config.Published // service id -> environment -> what it serves
	keys        []config.Key
	plans       []config.UsagePlan // keys and bindings included
	apps        []config.App
	appBindings []config.AppBinding
	plugins     []config.Plugin // bindings included

	channelName map[string]string // id -> name ("" when unnamed)
	certName    map[string]string
	serviceName map[string]string
	apiName     map[string]map[string]string // service id -> API id -> name
	keyName     map[string]string
	appName     map[string]string
}

// pageSize is the page of the List calls.
const pageSize = 100

// readGateway reads everything: Load for most (one snapshot, with the
// bindings, the keys of certificates and what each environment serves),
// ListServices and ListAPIs for what Load does not hold (services that
// serve nothing, draft APIs). When the revision moves while it reads, it
// reads again: the parts must be of one configuration.
func readGateway(ctx context.Context, s store.Store) (*gateway, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		before, err := s.Revision(ctx)
		if err != nil {
			return nil, fmt.Errorf("read revision: %w", err)
		}
		g, err := readOnce(ctx, s)
		if err != nil {
			return nil, err
		}
		after, err := s.Revision(ctx)
		if err != nil {
			return nil, fmt.Errorf("read revision: %w", err)
		}
		if before == after {
			// The committed revision: inside a store batch, Load's may
			// count the batch's own pending revision.
			g.rev = before
			return g, nil
		}
		lastErr = fmt.Errorf("the configuration kept changing while it was read (revision %d, then %d): try again", before, after)
	}
	return nil, lastErr
}

func readOnce(ctx context.Context, s store.Store) (*gateway, error) {
	st, err := s.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	g := &gateway{
		rev: st.Revision, channels: st.Channels, certs: st.Certificates, keys: st.Keys, plans: st.Plans,
		apps: st.Apps, appBindings: st.AppBindings, plugins: st.Plugins,
		drafts: map[string][]config.API{}, served: map[string]map[string]config.Published{},
		channelName: map[string]string{}, certName: map[string]string{}, serviceName: map[string]string{},
		apiName: map[string]map[string]string{}, keyName: map[string]string{}, appName: map[string]string{},
	}
	if g.services, err = listAll(func(p store.Page) ([]config.Service, int, error) { return s.ListServices(ctx, p) }); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for _, svc := range g.services {
		apis, err := listAll(func(p store.Page) ([]config.API, int, error) { return s.ListAPIs(ctx, svc.ID, p) })
		if err != nil {
			return nil, fmt.Errorf("list APIs of service %s: %w", svc.Name, err)
		}
		g.drafts[svc.ID] = apis
		names := map[string]string{}
		for _, a := range apis {
			names[a.ID] = a.Name
		}
		g.apiName[svc.ID] = names
		g.serviceName[svc.ID] = svc.Name
	}
	for _, p := range st.Published {
		if g.served[p.Service.ID] == nil {
			g.served[p.Service.ID] = map[string]config.Published{}
		}
		g.served[p.Service.ID][p.Environment] = p
	}
	for _, c := range g.channels {
		g.channelName[c.ID] = c.Name
	}
	for _, c := range g.certs {
		g.certName[c.ID] = c.Name
	}
	for _, k := range g.keys {
		g.keyName[k.ID] = k.Name
	}
	for _, a := range g.apps {
		g.appName[a.ID] = a.Name
	}
	return g, nil
}

// listAll reads every page of a list.
func listAll[T any](list func(store.Page) ([]T, int, error)) ([]T, error) {
	var out []T
	for offset := 0; ; {
		items, total, err := list(store.Page{Limit: pageSize, Offset: offset})
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		offset += len(items)
		if len(items) == 0 || offset >= total {
			return out, nil
		}
	}
}

// namer names the gateway's references: a channel without a name, a
// deleted object, an API that is no longer in the draft cannot be named.
func (g *gateway) namer() namer {
	look := func(m map[string]string) func(string) (string, bool) {
		return func(id string) (string, bool) {
			name, ok := m[id]
			return name, ok && name != ""
		}
	}
	return namer{
		channel: look(g.channelName),
		cert:    look(g.certName),
		service: look(g.serviceName),
		api: func(serviceID, id string) (string, bool) {
			name, ok := g.apiName[serviceID][id]
			return name, ok
		},
		key: look(g.keyName),
		app: look(g.appName),
	}
}
