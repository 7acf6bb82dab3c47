package admin

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

type appBody struct {
	config.App
	ID        json.RawMessage `json:"id"`
	AppKey    json.RawMessage `json:"app_key"`
	AppSecret json.RawMessage `json:"app_secret"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

type appBindingBody struct {
	config.AppBinding
	ID        json.RawMessage `json:"id"`
	ServiceID json.RawMessage `json:"service_id"`
	APIID     json.RawMessage `json:"api_id"`
	CreatedAt json.RawMessage `json:"created_at"`
}

func parseApp(b []byte) (*config.App, error) {
	var body appBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	a := body.App
	a.AppKey, a.AppSecret = "", ""
	if err := config.ValidateApp(&a); err != nil {
		return nil, err
	}
	return &a, nil
}

func parseAppBinding(b []byte) (*config.AppBinding, error) {
	var body appBindingBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	ab := body.AppBinding
	if err := config.ValidateAppBinding(&ab); err != nil {
		return nil, err
	}
	return &ab, nil
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseApp, nil, s.store.CreateApp, nil)
}

func (s *server) listApps(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListApps, nil)
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.GetApp(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *server) updateApp(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parseApp, func(a *config.App) { a.ID = r.PathValue("id") }, s.store.UpdateApp, nil)
}

func (s *server) deleteApp(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteApp(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

func (s *server) bindApp(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseAppBinding, func(b *config.AppBinding) {
		b.ServiceID, b.APIID = r.PathValue("sid"), r.PathValue("aid")
	}, s.store.BindApp, nil)
}

func (s *server) listAppBindings(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all, err := s.store.AppBindings(r.Context(), r.PathValue("sid"), r.PathValue("aid"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(pageSlice(all, p), len(all)))
}

// listBindingsOfApp is the APIs an application may call: its bindings,
// oldest first.
func (s *server) listBindingsOfApp(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	listPage(s, w, r, func(ctx context.Context, p store.Page) ([]config.AppBinding, int, error) {
		return s.store.ListAppBindings(ctx, id, p)
	}, nil)
}

func (s *server) unbindApp(w http.ResponseWriter, r *http.Request) {
	if err := s.store.UnbindApp(r.Context(), r.PathValue("sid"), r.PathValue("aid"), r.PathValue("bid")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
