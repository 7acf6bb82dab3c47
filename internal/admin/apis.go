package admin

import (
	"net/http"
)

func (s *server) createAPI(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := parseAPI(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a.ServiceID = r.PathValue("sid")
	if err := s.store.CreateAPI(r.Context(), a); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (s *server) listAPIs(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sid := r.PathValue("sid")
	items, total, err := s.store.ListAPIs(r.Context(), sid, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(clampItems(items, p.Limit), total))
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
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := parseAPI(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a.ServiceID, a.ID = r.PathValue("sid"), r.PathValue("id")
	if err := s.store.UpdateAPI(r.Context(), a); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *server) deleteAPI(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteAPI(r.Context(), r.PathValue("sid"), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
