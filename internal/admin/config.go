package admin

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/internal/declarative"
	"github.com/portico-gw/portico/internal/store"
)

// maxDocument bounds a whole configuration document (PUT /api/v1/config):
// larger than one object's 1 MiB, since it holds every object.
const maxDocument = 32 << 20

// getConfig answers the whole configuration as one document, YAML when
// the Accept field asks for it (or ?format=yaml), JSON otherwise. With
// ?secrets=placeholders the secrets are ${VAR} placeholders.
func (s *server) getConfig(w http.ResponseWriter, r *http.Request) {
	doc, err := declarative.Export(r.Context(), s.store)
	var ee *declarative.ExportError
	if errors.As(err, &ee) {
		details := make([]any, len(ee.Problems))
		for i, p := range ee.Problems {
			details[i] = p
		}
		s.writeError(w, r, &apiError{status: http.StatusConflict, code: "Conflict", message: err.Error(), details: details})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format, ctype := declarative.JSON, "application/json"
	if f := r.URL.Query().Get("format"); f == "yaml" || f == "" && strings.Contains(r.Header.Get("Accept"), "yaml") {
		format, ctype = declarative.YAML, "application/yaml"
	}
	var b []byte
	if r.URL.Query().Get("secrets") == "placeholders" {
		b, _, err = declarative.MarshalPlaceholders(doc, format)
	} else {
		b, err = declarative.Marshal(doc, format)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// errNothingToWrite ends a batch that must not commit (a dry run, or a
// document the gateway already matches), so the revision stays.
var errNothingToWrite = errors.New("nothing to write")

// putConfig makes the gateway match a whole document, in one transaction:
// one revision, all or nothing. ?prune=true deletes what the document does
// not name; ?dry_run=true only answers what would change.
func (s *server) putConfig(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prune, dry := q.Get("prune") == "true", q.Get("dry_run") == "true"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDocument))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, &apiError{status: http.StatusRequestEntityTooLarge, code: "PayloadTooLarge", message: "the document is larger than 32 MiB"})
			return
		}
		s.writeError(w, r, badRequest("", "could not read the request body: "+err.Error()))
		return
	}
	// The server reads neither files nor its own environment for a
	// document: the command line substitutes ${VAR} and inlines files.
	doc, err := declarative.Parse(body, "", func(string) (string, bool) { return "", false })
	if err != nil {
		s.writeDocumentError(w, r, err, http.StatusBadRequest)
		return
	}
	b, ok := s.store.(store.Batcher)
	if !ok {
		s.writeError(w, r, &apiError{status: http.StatusNotImplemented, code: "NotImplemented", message: "this store cannot apply a document in one transaction"})
		return
	}
	var plan *declarative.Plan
	err = b.Batch(r.Context(), func(in store.Store) error {
		p, err := declarative.NewPlan(r.Context(), in, doc, declarative.Options{Prune: prune})
		if err != nil {
			return err
		}
		plan = p
		if dry || p.Empty() {
			return errNothingToWrite
		}
		return p.Apply(r.Context(), in)
	})
	if errors.Is(err, errNothingToWrite) {
		err = nil
	}
	var ae *declarative.ApplyError
	switch {
	case err == nil:
	case errors.As(err, &ae):
		s.writeError(w, r, ae.Err)
		return
	default:
		s.writeDocumentError(w, r, err, http.StatusConflict)
		return
	}
	changes := plan.Changes
	if changes == nil {
		changes = []declarative.Change{}
	}
	kept := plan.Kept
	if kept == nil {
		kept = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": changes, "kept": kept, "dry_run": dry, "prune": prune})
}

// writeDocumentError answers the problems of a document, each with its
// object path, as details; other errors as usual.
func (s *server) writeDocumentError(w http.ResponseWriter, r *http.Request, err error, status int) {
	var de *declarative.DocumentError
	if !errors.As(err, &de) {
		s.writeError(w, r, err)
		return
	}
	details := make([]any, len(de.Problems))
	field := ""
	for i, p := range de.Problems {
		details[i] = p
		if i == 0 {
			field = p.Path
		}
	}
	code := "InvalidParameter"
	if status == http.StatusConflict {
		code = "Conflict"
	}
	s.writeError(w, r, &apiError{status: status, code: code, message: err.Error(), field: field, details: details})
}
