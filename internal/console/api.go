package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// maxAPIAnswer bounds what the console reads of one API answer; lists are
// paged (at most 100 items), so real answers are far smaller.
const maxAPIAnswer = 8 << 20

// apiError is an error answer of the admin API, as the API wrote it:
// {"error": {"code", "message", "field", "details"}}.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	Details []any  `json:"details"`
}

func (e *apiError) Error() string { return e.Message }

// fromAPI reports whether the API wrote the error (in English), rather
// than the console (in the page's language).
func (e *apiError) fromAPI() bool {
	return e.Code != "" && e.Code != "ConsoleError" && e.Code != "Unexpected"
}

// recorder is the ResponseWriter the API writes an in-process answer to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	over   bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > maxAPIAnswer {
		r.over = true
		return 0, fmt.Errorf("console: API answer larger than %d bytes", maxAPIAnswer)
	}
	return r.body.Write(b)
}

// call sends one request to the admin API in process, with the admin
// token, on behalf of the console request (its context and peer address).
// path is escaped by the caller (see esc). A 2xx answer's body is decoded
// into out (when not nil); any other answer is returned as an *apiError.
func (q *req) call(method, path string, query url.Values, body, out any) *apiError {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			q.c.log.Error("console: encoding an API request", "path", path, "err", err)
			return &apiError{Status: http.StatusInternalServerError, Code: "ConsoleError", Message: q.t("err.internal")}
		}
		rd = bytes.NewReader(b)
	}
	u := "http://portico-admin" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	r, err := http.NewRequestWithContext(q.r.Context(), method, u, rd)
	if err != nil {
		q.c.log.Error("console: building an API request", "path", path, "err", err)
		return &apiError{Status: http.StatusInternalServerError, Code: "ConsoleError", Message: q.t("err.internal")}
	}
	r.RemoteAddr = q.r.RemoteAddr
	r.Header.Set("Authorization", "Bearer "+q.c.token)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "portico-console")
	rec := &recorder{header: http.Header{}}
	q.c.api.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.over {
		return &apiError{Status: http.StatusBadGateway, Code: "ConsoleError", Message: q.t("err.toolarge")}
	}
	if rec.status < 200 || rec.status > 299 {
		var eb struct {
			Error *apiError `json:"error"`
		}
		if err := json.Unmarshal(rec.body.Bytes(), &eb); err != nil || eb.Error == nil {
			return &apiError{Status: rec.status, Code: "Unexpected", Message: fmt.Sprintf("%s (%d)", q.t("err.unexpected"), rec.status)}
		}
		eb.Error.Status = rec.status
		return eb.Error
	}
	if out != nil && rec.status != http.StatusNoContent {
		// UseNumber: a body read to be edited and sent back (GET, edit,
		// PUT) keeps its integers exactly.
		dec := json.NewDecoder(&rec.body)
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			q.c.log.Error("console: decoding an API answer", "path", path, "err", err)
			return &apiError{Status: http.StatusBadGateway, Code: "ConsoleError", Message: q.t("err.internal")}
		}
	}
	return nil
}

func (q *req) get(path string, query url.Values, out any) *apiError {
	return q.call(http.MethodGet, path, query, nil, out)
}

// esc escapes one path segment of an API URL.
func esc(s string) string { return url.PathEscape(s) }

// list is the shape of every list answer.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// idPattern is what an id in a console URL may look like: the API's ids
// (ch-…, svc-…, api-…) and release versions (v3). Anything else is a 404
// before the API is asked.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// detailTable is an error's details as a table: the union of the objects'
// keys as columns, the ones people read first first.
type detailTable struct {
	Cols []string
	Rows [][]string
}

var detailOrder = []string{"service_name", "api_name", "environment", "version", "host", "plugin_id", "plan_id",
	"binding_id", "api_id", "service_id", "channel_id", "key_id", "app_id"}

func details(d []any) *detailTable {
	if len(d) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var objs []map[string]any
	for _, x := range d {
		if m, ok := x.(map[string]any); ok {
			objs = append(objs, m)
			for k := range m {
				seen[k] = true
			}
		}
	}
	t := &detailTable{}
	for _, k := range detailOrder {
		if seen[k] {
			t.Cols = append(t.Cols, k)
			delete(seen, k)
		}
	}
	var rest []string
	for k := range seen {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	t.Cols = append(t.Cols, rest...)
	for _, m := range objs {
		row := make([]string, len(t.Cols))
		for i, k := range t.Cols {
			if v, ok := m[k]; ok && v != nil {
				row[i] = detailValue(v)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	if len(t.Cols) == 0 {
		for _, x := range d {
			t.Rows = append(t.Rows, []string{detailValue(x)})
		}
		t.Cols = []string{"value"}
	}
	return t
}

func detailValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = detailValue(x)
		}
		return strings.Join(s, ", ")
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
