package declarative

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
)

// Problem is one thing wrong with a document: the path of the field in the
// document ("services[0].apis[1].backend.channel"; "" for the document as a
// whole) and what is wrong with it. Line is the line of the field in the
// document's text when known (0 otherwise; Plan's problems have none).
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

// String returns "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// DocumentError is a document refused whole: every problem found, in the
// order of the document.
type DocumentError struct {
	Problems []Problem
}

// maxProblems bounds the problems reported for one document: past it, the
// rest is noise.
const maxProblems = 100

func (e *DocumentError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects the problems of a document.
type problems struct {
	list []Problem
}

func (ps *problems) add(path, format string, args ...any) {
	ps.addAt(path, 0, format, args...)
}

// addAt adds a problem at a known line.
func (ps *problems) addAt(path string, line int, format string, args ...any) {
	if len(ps.list) >= maxProblems {
		return
	}
	if len(ps.list) == maxProblems-1 {
		ps.list = append(ps.list, Problem{Message: "too many problems; fix these first"})
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...), Line: line})
}

// field adds a validation error of package config (or of the packages it
// uses), whose field is relative to the object at path. rename maps the
// admin API's field names to the document's (channel_id to channel, ...).
func (ps *problems) field(path string, err error, rename ...string) {
	field, msg := "", err.Error()
	var (
		fe  *config.FieldError
		je  *jwtauth.FieldError
		cfe *certs.FieldError
	)
	switch {
	case errors.As(err, &fe):
		field, msg = fe.Field, fe.Message
	case errors.As(err, &je):
		field, msg = je.Field, je.Message
	case errors.As(err, &cfe):
		field, msg = cfe.Field, cfe.Message
	}
	// The messages of package config start with the field ("nodes[0].port
	// must be 1-65535"); the path says it already.
	for _, sep := range []string{": ", " "} {
		if field != "" && strings.HasPrefix(msg, field+sep) {
			msg = msg[len(field)+len(sep):]
			break
		}
	}
	for i := 0; i+1 < len(rename); i += 2 {
		field = renameField(field, rename[i], rename[i+1])
		msg = strings.ReplaceAll(msg, rename[i], rename[i+1])
	}
	ps.add(join(path, field), "%s", msg)
}

// renameField replaces the last element from with to in a field path:
// "backend.channel_id" becomes "backend.channel", "api_ids[2]" "apis[2]".
func renameField(field, from, to string) string {
	for _, sep := range []string{"", "."} {
		p := sep + from
		if i := strings.LastIndex(field, p); i >= 0 && (sep != "" || i == 0) {
			rest := field[i+len(p):]
			if rest == "" || rest[0] == '[' || rest[0] == '.' {
				return field[:i] + sep + to + rest
			}
		}
	}
	return field
}

// join appends a field to an object path.
func join(path, field string) string {
	switch {
	case field == "":
		return path
	case path == "":
		return field
	case field[0] == '[':
		return path + field
	}
	return path + "." + field
}

// ApplyError is a change that the store refused. Err is the store's error
// (*store.ConflictError, *store.InvalidError, ...), so that a caller can
// map it as it maps the store's errors elsewhere.
type ApplyError struct {
	Change Change
	Err    error
}

func (e *ApplyError) Error() string { return e.Change.Text + ": " + e.Err.Error() }

func (e *ApplyError) Unwrap() error { return e.Err }
