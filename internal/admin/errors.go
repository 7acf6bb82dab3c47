package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// apiError is an error that already knows its HTTP answer. Handlers return
// it for failures found in the request itself; store and validation errors
// keep their own types and are translated in writeError.
type apiError struct {
	status  int
	code    string
	message string
	field   string
	details []any
}

func (e *apiError) Error() string { return e.message }

var errUnauthorized = &apiError{
	status:  http.StatusUnauthorized,
	code:    "Unauthorized",
	message: "missing or wrong admin token: send Authorization: Bearer <token>",
}

// badRequest is a 400 InvalidParameter naming the field at fault.
func badRequest(field, message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidParameter", message: message, field: field}
}

// notFound is a 404 for an object named in the URL.
func notFound(kind, id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "NotFound", message: kind + " " + quote(id) + " not found"}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// errorBody is the one error shape of the admin API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Details []any  `json:"details,omitempty"`
}

// writeError is the only place where an error becomes a response, so that
// every handler answers the same status and shape for the same failure.
// Unknown errors are logged and answered with a generic 500: their text may
// carry SQL or file paths that a client has no use for.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae  *apiError
		fe  *config.FieldError
		ie  *store.InvalidError
		nfe *store.NotFoundError
		ce  *store.ConflictError
		mbe *http.MaxBytesError
	)
	e := &apiError{status: http.StatusInternalServerError, code: "InternalError", message: "internal error; see the server log"}
	switch {
	case errors.As(err, &ae):
		e = ae
	case errors.As(err, &fe):
		e = badRequest(fe.Field, fe.Message)
	case errors.As(err, &ie):
		e = badRequest(ie.Field, ie.Message)
	case errors.As(err, &nfe):
		e = &apiError{status: http.StatusNotFound, code: "NotFound", message: nfe.Error()}
	case errors.As(err, &ce):
		e = &apiError{status: http.StatusConflict, code: "Conflict", message: ce.Message, field: ce.Field, details: ce.Details}
	case store.IsUnavailable(err):
		// Said at once rather than after a long wait: the store's calls are
		// bounded, so a client learns within seconds that it may retry.
		s.log.Warn("admin request failed: the configuration store is unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		e = &apiError{status: http.StatusServiceUnavailable, code: "StoreUnavailable", message: unavailableMessage(err)}
	case errors.As(err, &mbe):
		e = &apiError{status: http.StatusRequestEntityTooLarge, code: "PayloadTooLarge",
			message: "request body is larger than " + maxBodyText}
	default:
		s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{
		Code:    e.code,
		Message: e.message,
		Field:   e.field,
		Details: e.details,
	}})
}

// unavailableMessage is the message of a StoreUnavailable answer: the
// store's own account of the failure when it gives one.
func unavailableMessage(err error) string {
	var ue *store.UnavailableError
	if errors.As(err, &ue) {
		return ue.Error()
	}
	return store.ErrUnavailable.Error() + ": " + err.Error()
}

// internalErrorBody is sent when a response cannot be encoded; it is fixed
// so that it cannot fail itself.
const internalErrorBody = `{"error":{"code":"InternalError","message":"internal error; see the server log"}}` + "\n"

// writeJSON answers v with status. It encodes before writing the header, so
// that a value that cannot be encoded still gets a well-formed 500 instead
// of a 200 with a truncated body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	w.Header().Set("Content-Type", "application/json")
	if err := enc.Encode(v); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, internalErrorBody)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeNoContent answers 204. Content-Type is still set so that every admin
// answer, even an empty one, declares JSON.
func writeNoContent(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNoContent)
}
