package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func (s *server) createRelease(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := parseRelease(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rel, err := s.store.Publish(r.Context(), r.PathValue("sid"), body.Environment, body.Description)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rel)
}

func (s *server) listReleases(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	listPage(s, w, r, func(ctx context.Context, p store.Page) ([]config.Release, int, error) {
		return s.store.ListReleases(ctx, sid, p)
	}, nil)
}

func (s *server) listHistory(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	listPage(s, w, r, func(ctx context.Context, p store.Page) ([]config.ReleaseEvent, int, error) {
		return s.store.History(ctx, sid, p)
	}, nil)
}

// environmentList is {"items": [...]} without a total: there are at most
// three environments, so the list is never paged.
type environmentList struct {
	Items []config.EnvironmentState `json:"items"`
}

func (s *server) listEnvironments(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	items, err := s.store.Environments(r.Context(), sid)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if items == nil {
		items = []config.EnvironmentState{}
	}
	writeJSON(w, http.StatusOK, environmentList{Items: items})
}

// envFromURL checks {env} before anything else: an environment that does
// not exist is an unknown id in the URL, hence a 404 and not a 400.
func envFromURL(r *http.Request) (string, error) {
	env := r.PathValue("env")
	if !config.IsEnvironment(env) {
		return "", notFound("environment", env)
	}
	return env, nil
}

func (s *server) rollback(w http.ResponseWriter, r *http.Request) {
	env, err := envFromURL(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := parseRollback(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.store.Rollback(r.Context(), r.PathValue("sid"), env, body.Version, body.Description)
	if err != nil {
		s.writeError(w, r, versionRefError(err, body.Version))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// versionRefError turns "release not found" from a rollback into a 400 on
// the body's version field: the version is a reference inside the body, not
// an id in the URL (SPEC 2), so only an unknown service stays a 404.
func versionRefError(err error, version string) error {
	var nfe *store.NotFoundError
	if errors.As(err, &nfe) && nfe.Kind == "release" {
		return badRequest("version", "version "+quote(version)+" is not a release of this service")
	}
	return err
}

func (s *server) unpublish(w http.ResponseWriter, r *http.Request) {
	env, err := envFromURL(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := parseUnpublish(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.Unpublish(r.Context(), r.PathValue("sid"), env, body.Description); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
