package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portico-gw/portico/internal/config"
)

// maxBody is the largest admin request body (SPEC 2: 413 past 1 MiB).
const (
	maxBody     = 1 << 20
	maxBodyText = "1 MiB"
)

// readBody reads the whole request body, at most maxBody bytes. Reading it
// whole (rather than streaming it into the decoder) makes an oversized body
// a 413 whatever its content, instead of a 400 for a syntax error that
// happens to come before the limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBody {
		return nil, &http.MaxBytesError{Limit: maxBody}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, mbe
		}
		return nil, badRequest("", "could not read the request body: "+err.Error())
	}
	return b, nil
}

// decodeBody decodes one JSON object from b into v, rejecting unknown
// fields and trailing data. Its errors are *apiError 400s that name the
// field at fault with its path in the body ("nodes[0].port").
func decodeBody(b []byte, v any) error {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return badRequest("", "request body is empty: send a JSON object")
	}
	// A valid non-object (null, [], "x") would otherwise decode as a no-op
	// or as a type error with no field; say what is expected instead.
	if trimmed[0] != '{' && json.Valid(b) {
		return badRequest("", "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(b, v, err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", fmt.Sprintf("unexpected data after the JSON object at byte offset %d", end))
	}
	// encoding/json lets the last of two equal keys win; a body that says
	// two things about one field is refused instead. The body is known to
	// be valid JSON here, nested at most as deep as encoding/json allows,
	// which bounds the walk's recursion.
	if err := duplicateKey(b[:end], reflect.TypeOf(v)); err != nil {
		return err
	}
	return nil
}

// decodeError translates an encoding/json error into a 400 that names the
// field. encoding/json reports type errors with a dotted path without array
// indexes (and with embedded struct names), and unknown fields by name
// only, so the path is recomputed from the body.
func decodeError(b []byte, v any, err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return badRequest("", fmt.Sprintf("malformed JSON at byte offset %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", fmt.Sprintf("malformed JSON at byte offset %d: unexpected end of body", len(b)))
	case errors.As(err, &te):
		field, ok := pathAtOffset(b, te.Offset)
		if !ok {
			field = goFieldPath(te.Field)
		}
		if field == "" {
			return badRequest("", "request body must be a JSON object")
		}
		return badRequest(field, fmt.Sprintf("%s must be %s, not %s", field, jsonKind(te.Type), te.Value))
	}
	if name, ok := unknownFieldName(err); ok {
		field := unknownFieldPath(b, reflect.TypeOf(v), name)
		if field == "" {
			field = name
		}
		return badRequest(field, fmt.Sprintf("unknown field %s", field))
	}
	return badRequest("", "malformed JSON: "+strings.TrimPrefix(err.Error(), "json: "))
}

// unknownFieldName extracts the name from encoding/json's untyped
// `json: unknown field "x"` error.
func unknownFieldName(err error) (string, bool) {
	rest, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, uerr := strconv.Unquote(rest)
	if uerr != nil {
		return "", false
	}
	return name, true
}

// goFieldPath drops the embedded struct names (upper case, e.g.
// "Channel.nodes.port") that encoding/json puts in UnmarshalTypeError.Field.
func goFieldPath(f string) string {
	parts := strings.Split(f, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && p[0] >= 'A' && p[0] <= 'Z' {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a valid value"
}

// pathFrame is one open object or array while walking a body.
type pathFrame struct {
	array   bool
	index   int
	key     string
	wantKey bool
}

func renderPath(stack []pathFrame) string {
	var sb strings.Builder
	for _, f := range stack {
		if f.array {
			sb.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(f.key)
	}
	return sb.String()
}

// pathAtOffset returns the path of the first value in b whose first token
// ends at or after off. encoding/json reports a type error at the end of a
// scalar and just after the opening delimiter of an object or array, which
// in both cases is the end of the value's first token.
func pathAtOffset(b []byte, off int64) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // a number too large for float64 must not stop the walk
	var stack []pathFrame
	advance := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = key, false
				continue
			}
			stack = stack[:n-1] // '}'
			advance()
			continue
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			stack = stack[:len(stack)-1]
			advance()
			continue
		}
		if dec.InputOffset() >= off {
			return renderPath(stack), true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, pathFrame{wantKey: true})
		case json.Delim('['):
			stack = append(stack, pathFrame{array: true})
		default:
			advance()
		}
	}
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// unknownFieldPath walks b alongside the Go type t, as encoding/json does,
// and returns the path of the first object key that t does not know and
// that is called name. "" when it cannot tell.
func unknownFieldPath(b []byte, t reflect.Type, name string) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	path, _ := findUnknown(dec, t, "", name)
	return path
}

// findUnknown consumes one value from dec; t is its Go type, or nil when
// the value is opaque (skipped). It returns the path of the unknown key
// when found.
func findUnknown(dec *json.Decoder, t reflect.Type, path, name string) (string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return "", true // give up: the decoder already reported the error
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t == rawMessageType || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", true
			}
			key, _ := kt.(string)
			var ft reflect.Type
			child := key
			if path != "" {
				child = path + "." + key
			}
			switch {
			case t == nil:
			case t.Kind() == reflect.Struct:
				var ok bool
				if ft, _, ok = structField(t, key); !ok {
					if key == name {
						return child, true
					}
				}
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if p, done := findUnknown(dec, ft, child, name); done {
				return p, true
			}
		}
		if _, err := dec.Token(); err != nil {
			return "", true
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if p, done := findUnknown(dec, et, path+"["+strconv.Itoa(i)+"]", name); done {
				return p, true
			}
		}
		if _, err := dec.Token(); err != nil {
			return "", true
		}
	}
	return "", false
}

// structField finds the type and the JSON name of the field that
// encoding/json would fill for key: an exact name match first, then a
// case-insensitive one, shallower fields (the admin body wrappers' read-only
// fields) before promoted ones.
func structField(t reflect.Type, key string) (reflect.Type, string, bool) {
	for _, exact := range []bool{true, false} {
		level := []reflect.Type{t}
		for depth := 0; len(level) > 0 && depth < 8; depth++ {
			var next []reflect.Type
			for _, st := range level {
				for i := 0; i < st.NumField(); i++ {
					f := st.Field(i)
					tag := f.Tag.Get("json")
					jname, _, _ := strings.Cut(tag, ",")
					if tag == "-" {
						continue
					}
					if f.Anonymous && jname == "" {
						et := f.Type
						if et.Kind() == reflect.Pointer {
							et = et.Elem()
						}
						if et.Kind() == reflect.Struct {
							next = append(next, et)
							continue
						}
					}
					if !f.IsExported() {
						continue
					}
					if jname == "" {
						jname = f.Name
					}
					if jname == key || (!exact && strings.EqualFold(jname, key)) {
						return f.Type, jname, true
					}
				}
			}
			level = next
		}
	}
	return nil, "", false
}

// duplicateKey walks b (one valid JSON value) alongside the Go type t, as
// encoding/json decodes it, and returns a 400 naming the first key that
// repeats an earlier key of the same object, at any depth: in a struct, two
// keys that fill the same field (encoding/json matches field names without
// regard to case, so "port" and "Port" are one field); anywhere else, in
// maps and in the opaque values of read-only fields, two equal keys.
func duplicateKey(b []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // a number too large for float64 must not stop the walk
	_, err := findDuplicate(dec, t, nil)
	return err
}

// keyPath is the path of a value as a list from the value up to the body,
// so that going one level down costs no copy; it is rendered only for an
// error.
type keyPath struct {
	up    *keyPath
	array bool
	index int    // in an array
	key   string // in an object
}

func (p *keyPath) child(key string) *keyPath { return &keyPath{up: p, key: key} }

func (p *keyPath) String() string {
	var frames []pathFrame
	for ; p != nil; p = p.up {
		frames = append(frames, pathFrame{array: p.array, index: p.index, key: p.key})
	}
	slices.Reverse(frames)
	return renderPath(frames)
}

// findDuplicate consumes one value from dec; t is its Go type, or nil when
// the value is opaque. done reports that the walk is over: a duplicate was
// found (err) or the body could not be read (nil; decodeBody has already
// decoded it, so this does not happen).
func findDuplicate(dec *json.Decoder, t reflect.Type, path *keyPath) (done bool, err error) {
	tok, terr := dec.Token()
	if terr != nil {
		return true, nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t == rawMessageType || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil
	}
	switch tok {
	case json.Delim('{'):
		// seen maps what a key fills (a struct field, or the key itself) to
		// the key as sent.
		seen := map[string]string{}
		for dec.More() {
			kt, terr := dec.Token()
			if terr != nil {
				return true, nil
			}
			key, _ := kt.(string)
			id := "key:" + key
			var ft reflect.Type
			switch {
			case t == nil:
			case t.Kind() == reflect.Struct:
				if typ, name, ok := structField(t, key); ok {
					id, ft = "field:"+name, typ
				}
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if first, dup := seen[id]; dup {
				field := path.child(key).String()
				msg := field + ": duplicate key"
				if first != key {
					msg += fmt.Sprintf(" (%s and %s name the same field)", quote(first), quote(key))
				}
				return true, badRequest(field, msg)
			}
			seen[id] = key
			if done, err := findDuplicate(dec, ft, path.child(key)); done {
				return true, err
			}
		}
		if _, terr := dec.Token(); terr != nil {
			return true, nil
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if done, err := findDuplicate(dec, et, &keyPath{up: path, array: true, index: i}); done {
				return true, err
			}
		}
		if _, terr := dec.Token(); terr != nil {
			return true, nil
		}
	}
	return false, nil
}

// The body types below embed a resource and shadow its read-only fields
// with json.RawMessage: encoding/json fills the shallower field, so a
// client may send back whatever it got from a GET (ids, timestamps,
// warnings) and it is accepted whatever its type, then dropped.

type channelBody struct {
	config.Channel
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	Warnings  json.RawMessage `json:"warnings"`
}

type serviceBody struct {
	config.Service
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

type apiBody struct {
	config.API
	ID        json.RawMessage `json:"id"`
	ServiceID json.RawMessage `json:"service_id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

// releaseBody is the publish request; version, service_id and created_at
// are the read-only fields of a release.
type releaseBody struct {
	Environment string          `json:"environment"`
	Description string          `json:"description"`
	Version     json.RawMessage `json:"version"`
	ServiceID   json.RawMessage `json:"service_id"`
	CreatedAt   json.RawMessage `json:"created_at"`
}

// rollbackBody is the rollback request; environment (taken from the URL)
// and published_at are the read-only fields of an environment item, so an
// item from GET .../environments can be edited and sent back.
type rollbackBody struct {
	Version     string          `json:"version"`
	Description string          `json:"description"`
	Environment json.RawMessage `json:"environment"`
	PublishedAt json.RawMessage `json:"published_at"`
}

// parseChannel is the whole body-to-channel path of the handlers: decode,
// then validate and fill defaults. The fuzz targets call it directly.
func parseChannel(b []byte) (*config.Channel, error) {
	var body channelBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	ch := body.Channel
	if err := config.ValidateChannel(&ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// parseService decodes and validates a service body.
func parseService(b []byte) (*config.Service, error) {
	var body serviceBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	svc := body.Service
	if err := config.ValidateService(&svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// parseAPI decodes and validates an API body. Whether backend.channel_id
// exists is checked by the store, inside the write's transaction.
func parseAPI(b []byte) (*config.API, error) {
	var body apiBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	a := body.API
	if err := config.ValidateAPI(&a); err != nil {
		return nil, err
	}
	return &a, nil
}

// parseRelease decodes and validates a publish request.
func parseRelease(b []byte) (*releaseBody, error) {
	var body releaseBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	envs := strings.Join(config.Environments, ", ")
	switch {
	case body.Environment == "":
		return nil, badRequest("environment", "environment is required: one of "+envs)
	case !config.IsEnvironment(body.Environment):
		return nil, badRequest("environment", "environment must be one of "+envs)
	}
	if err := checkNote(body.Description); err != nil {
		return nil, err
	}
	return &body, nil
}

// checkNote checks the description of a publish, rollback or unpublish:
// the note the release history keeps.
func checkNote(s string) error {
	switch {
	case !utf8.ValidString(s):
		return badRequest("description", "description must be valid UTF-8")
	case utf8.RuneCountInString(s) > 200:
		return badRequest("description", "description must be at most 200 characters")
	}
	return nil
}

// parseRollback decodes and validates a rollback request.
func parseRollback(b []byte) (*rollbackBody, error) {
	var body rollbackBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	if body.Version == "" {
		return nil, badRequest("version", "version is required: a version from GET .../releases")
	}
	if err := checkNote(body.Description); err != nil {
		return nil, err
	}
	return &body, nil
}

// unpublishBody is the optional body of an unpublish.
type unpublishBody struct {
	Description string `json:"description"`
}

// parseUnpublish decodes the optional body of an unpublish: none at all, or
// an object with the note for the release history.
func parseUnpublish(b []byte) (*unpublishBody, error) {
	var body unpublishBody
	if len(bytes.TrimSpace(b)) == 0 {
		return &body, nil
	}
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	if err := checkNote(body.Description); err != nil {
		return nil, err
	}
	return &body, nil
}
