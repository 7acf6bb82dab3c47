package admin

import (
	"context"
	"net/http"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func (s *server) createAPI(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseAPI, func(a *config.API) { a.ServiceID = r.PathValue("sid") },
		s.store.CreateAPI, nil)
}

func (s *server) listAPIs(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	listPage(s, w, r, func(ctx context.Context, p store.Page) ([]config.API, int, error) {
		return s.store.ListAPIs(ctx, sid, p)
	}, nil)
}

func (s *server) getAPI(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.GetAPI(r.Context(), r.PathValue("sid"), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *server) updateAPI(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parseAPI, func(a *config.API) { a.ServiceID, a.ID = r.PathValue("sid"), r.PathValue("id") },
		s.store.UpdateAPI, nil)
}

func (s *server) deleteAPI(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteAPI(r.Context(), r.PathValue("sid"), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
