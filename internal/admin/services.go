package admin

import (
	"net/http"
)

func (s *server) createService(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	svc, err := parseService(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.CreateService(r.Context(), svc); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, svc)
}

func (s *server) listServices(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, total, err := s.store.ListServices(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(clampItems(items, p.Limit), total))
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
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	svc, err := parseService(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	svc.ID = r.PathValue("id")
	if err := s.store.UpdateService(r.Context(), svc); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, svc)
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteService(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
