package admin

import (
	"net/http"

	"github.com/portico-gw/portico/internal/config"
)

func (s *server) createService(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseService, nil, s.store.CreateService, nil)
}

func (s *server) listServices(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListServices, nil)
}

func (s *server) getService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.store.GetService(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, svc)
}

func (s *server) updateService(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parseService, func(svc *config.Service) { svc.ID = r.PathValue("id") },
		s.store.UpdateService, nil)
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteService(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
