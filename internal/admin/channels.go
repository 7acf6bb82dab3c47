package admin

import (
	"net"
	"net/http"
	"strconv"

	"github.com/portico-gw/portico/internal/config"
)

// withWarnings adds what this instance sees of a channel: its warnings and
// each node's health. Both are computed on every read, never stored: the
// warnings depend on --networks, which may change between restarts while
// the stored channel does not, and health is this node's live view.
func (s *server) withWarnings(ch *config.Channel) *config.Channel {
	ch.Warnings = config.ChannelWarnings(ch, s.networks)
	var live map[string]config.NodeHealth
	if s.health != nil {
		live, _ = s.health(ch.ID)
	}
	hc := ch.HealthCheck
	for i := range ch.Nodes {
		n := &ch.Nodes[i]
		h, ok := live[net.JoinHostPort(n.Host, strconv.Itoa(n.Port))]
		off := config.OffReason(n.W(), hc != nil && !hc.EnableActiveCheck && !hc.EnablePassiveCheck)
		switch {
		case ok:
		case off != "":
			h = config.NodeHealth{State: config.HealthOff, Reason: off}
		default:
			h = config.NodeHealth{State: config.HealthNoData, Reason: "this gateway node does not serve the change yet"}
		}
		n.Health = &h
	}
	return ch
}

// nodeHealthView is one row of GET /channels/{id}/health.
type nodeHealthView struct {
	Host   string       `json:"host"`
	Port   int          `json:"port"`
	Weight int          `json:"weight"`
	State  string       `json:"state"`
	Reason string       `json:"reason,omitempty"`
	Since  *config.Time `json:"since,omitempty"`
}

// getChannelHealth answers the health of a channel's nodes as this gateway
// node sees them, with the checks that judge them.
func (s *server) getChannelHealth(w http.ResponseWriter, r *http.Request) {
	ch, err := s.store.GetChannel(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.withWarnings(ch)
	checks := map[string]bool{"active": false, "passive": true, "implicit": true}
	if hc := ch.HealthCheck; hc != nil {
		checks = map[string]bool{"active": hc.EnableActiveCheck, "passive": hc.EnablePassiveCheck, "implicit": false}
	}
	nodes := make([]nodeHealthView, len(ch.Nodes))
	for i, n := range ch.Nodes {
		nodes[i] = nodeHealthView{Host: n.Host, Port: n.Port, Weight: n.W(),
			State: n.Health.State, Reason: n.Health.Reason, Since: n.Health.Since}
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel_id": ch.ID, "checks": checks, "nodes": nodes})
}

func (s *server) channelView(ch *config.Channel) any { return s.withWarnings(ch) }

func (s *server) createChannel(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseChannel, nil, s.store.CreateChannel, s.channelView)
}

func (s *server) listChannels(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListChannels, func(ch *config.Channel) { s.withWarnings(ch) })
}

func (s *server) getChannel(w http.ResponseWriter, r *http.Request) {
	ch, err := s.store.GetChannel(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withWarnings(ch))
}

func (s *server) updateChannel(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parseChannel, func(ch *config.Channel) { ch.ID = r.PathValue("id") },
		s.store.UpdateChannel, s.channelView)
}

func (s *server) deleteChannel(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteChannel(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

// listChannelBindings pages in memory: the store returns a channel's
// bindings whole, and there are at most a few per API.
func (s *server) listChannelBindings(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all, err := s.store.ChannelBindings(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(pageSlice(all, p), len(all)))
}

// clampItems guards the page size against a store that reads Limit 0 as
// "no limit": limit=0 asks for the total only.
func clampItems[T any](items []T, limit int) []T {
	if len(items) > limit {
		return items[:limit]
	}
	return items
}
