package admin

import (
	"net/http"

	"github.com/portico-gw/portico/internal/config"
)

// withWarnings adds the warnings of a channel as this instance sees it.
// They are computed on every read, never stored: they depend on --networks,
// which may change between restarts while the stored channel does not.
func (s *server) withWarnings(ch *config.Channel) *config.Channel {
	ch.Warnings = config.ChannelWarnings(ch, s.networks)
	return ch
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
