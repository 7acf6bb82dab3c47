package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// confirmData is the delete confirmation page's content.
type confirmData struct {
	Kind   string // catalogue key of the kind of object ("kind.channel")
	Name   string
	Action string // where the confirmation POSTs
	Back   string // where Cancel goes
	Note   string // catalogue key of an extra warning, or ""
}

// confirm shows a delete confirmation page.
func (q *req) confirm(nav string, d confirmData) {
	q.render(http.StatusOK, "confirm", &page{Nav: nav, D: d})
}

// remove sends a DELETE to the API. On success it leaves a flash and
// redirects to done; a refusal (409: what holds the object, in the
// error's details) is shown on the confirmation page again.
func (q *req) remove(nav, apiPath string, d confirmData, done string) {
	if e := q.call(http.MethodDelete, apiPath, nil, nil, nil); e != nil {
		if e.Status == http.StatusNotFound {
			q.failAPI(e)
			return
		}
		p := &page{Nav: nav, D: d}
		p.refuse(e, nil)
		q.render(e.Status, "confirm", p)
		return
	}
	q.flash("flash.deleted", q.t(d.Kind), d.Name)
	q.redirect(done)
}

// intPattern is what a form's number field must look like to be sent as
// a JSON number; anything else is sent as the string it is, so that the
// API's type check names the field ("must be an integer, not string").
var intPattern = regexp.MustCompile(`^-?[0-9]{1,30}$`)

// number is a form value as the API should see it: absent when empty, a
// JSON number when it is an integer, else the string.
func number(s string) (any, bool) {
	switch {
	case s == "":
		return nil, false
	case intPattern.MatchString(s):
		return json.Number(s), true
	default:
		return s, true
	}
}

// setNumber puts a form number into an API body, or leaves the key out.
func setNumber(m map[string]any, key, s string) {
	if v, ok := number(s); ok {
		m[key] = v
	}
}

// nameOr returns name, or id when the object has no name.
func nameOr(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

// allPages reads up to max items of a list, page by page, for the pick
// lists of forms (channels for an API, services for a binding).
func allPages[T any](q *req, path string, max int) ([]T, *apiError) {
	var all []T
	for offset := 0; offset < max; offset += 100 {
		var l list[T]
		if e := q.get(path, pageQuery(100, offset), &l); e != nil {
			return nil, e
		}
		all = append(all, l.Items...)
		if len(l.Items) < 100 || len(all) >= l.Total {
			break
		}
	}
	return all, nil
}

// maxFiltered is how many objects a filtered list reads: the API's lists
// do not filter, so the console reads them and keeps the ones that match.
const maxFiltered = 1000

// listRows reads the page of a list that ?page= and ?q= ask for. Without
// a filter it is one API call; with one, the first maxFiltered objects
// are read and those for which search returns a text containing the
// filter (case-insensitive) are paged.
func listRows[T any](q *req, apiPath, consolePath string, search func(*T) []string) ([]T, pager, *apiError) {
	filter := strings.TrimSpace(q.r.URL.Query().Get("q"))
	if len(filter) > 200 {
		filter = filter[:200]
	}
	pageNo, offset := q.pageOffset(listLimit)
	if filter == "" {
		var l list[T]
		if e := q.get(apiPath, pageQuery(listLimit, offset), &l); e != nil {
			return nil, pager{}, e
		}
		return l.Items, newPager(consolePath, pageNo, listLimit, l.Total), nil
	}
	all, e := allPages[T](q, apiPath, maxFiltered)
	if e != nil {
		return nil, pager{}, e
	}
	needle := strings.ToLower(filter)
	var match []T
	for i := range all {
		for _, s := range search(&all[i]) {
			if strings.Contains(strings.ToLower(s), needle) {
				match = append(match, all[i])
				break
			}
		}
	}
	pg := newPager(consolePath+"?q="+url.QueryEscape(filter), pageNo, listLimit, len(match))
	pg.Path, pg.Filter = consolePath, filter
	if offset >= len(match) {
		return nil, pg, nil
	}
	return match[offset:min(offset+listLimit, len(match))], pg, nil
}

// readOnly are the fields of every API object that a PUT ignores; an
// edit leaves them out of the body it sends.
var readOnly = []string{"id", "created_at", "updated_at", "warnings"}

// stored reads an object as the API has it, without its read-only
// fields: the base an edit form's fields are written onto, so that the
// fields a form does not show go back as they are.
func stored(q *req, apiPath string) (map[string]any, *apiError) {
	var base map[string]any
	if e := q.call(http.MethodGet, apiPath, nil, nil, &base); e != nil {
		return nil, e
	}
	for _, k := range readOnly {
		delete(base, k)
	}
	return base, nil
}

// tlsForm is the gateway-to-backend TLS section of a form, as typed.
type tlsForm struct {
	Skip           bool
	ServerName, CA string
}

func (q *req) readTLS(prefix string) tlsForm {
	return tlsForm{Skip: q.form(prefix+".insecure_skip_verify") == "on", ServerName: q.form(prefix + ".server_name"),
		CA: q.form(prefix + ".ca_pem")}
}

func tlsOf(t *config.ChannelTLS) tlsForm {
	if t == nil {
		return tlsForm{}
	}
	return tlsForm{Skip: t.InsecureSkipVerify, ServerName: t.ServerName, CA: t.CAPEM}
}

// set puts the section into body under key, or leaves it out when
// nothing is set (the API takes no tls for plain-HTTP backends).
func (t tlsForm) set(body map[string]any, key string) {
	if !t.Skip && t.ServerName == "" && t.CA == "" {
		delete(body, key)
		return
	}
	body[key] = map[string]any{"insecure_skip_verify": t.Skip, "server_name": t.ServerName, "ca_pem": t.CA}
}

// headerLines reads "Name: value" lines (HTTP headers, one per line) into
// a map; a line without a colon is a name with an empty value, for the
// API to judge.
func headerLines(s string) map[string]any {
	m := map[string]any{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

// formatHeaders writes headers as headerLines reads them, sorted.
func formatHeaders(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + ": " + h[k] + "\n")
	}
	return b.String()
}

// numberList reads a list of numbers separated by commas or spaces, each
// as number does.
func numberList(s string) []any {
	out := []any{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		v, _ := number(f)
		out = append(out, v)
	}
	return out
}

// intsText writes a list of numbers as numberList reads them.
func intsText(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// itemField maps an API field inside one list (key[3], key[3].x) to the
// form input that holds the whole list (key).
func itemField(field string, keys ...string) string {
	for _, k := range keys {
		if strings.HasPrefix(field, k+"[") {
			return k
		}
	}
	return field
}

// remapRows moves an API error about item k of the list key to the form
// row it came from (index[k]: empty rows are not sent), in its field and
// in its message when the message starts with the field (the API's
// messages name the field first).
func remapRows(e *apiError, key string, index []int) {
	rest, ok := strings.CutPrefix(e.Field, key+"[")
	if !ok {
		return
	}
	n, tail, ok := strings.Cut(rest, "]")
	k, err := strconv.Atoi(n)
	if !ok || err != nil || k < 0 || k >= len(index) {
		return
	}
	f := key + "[" + strconv.Itoa(index[k]) + "]" + tail
	if msg, ok := strings.CutPrefix(e.Message, e.Field); ok {
		e.Message = f + msg
	}
	e.Field = f
}

// rowOp applies a table's add and remove buttons (op=add, op=remove:i)
// to rows; it reports whether the post was one of them (then the form is
// shown again, nothing saved), and full when add met the limit.
func rowOp[T any](q *req, rows *[]T, limit int, blank T) (op, full bool) {
	v := q.form("op")
	switch {
	case v == "add":
		if len(*rows) >= limit {
			return true, true
		}
		*rows = append(*rows, blank)
		return true, false
	case strings.HasPrefix(v, "remove:"):
		i, err := strconv.Atoi(strings.TrimPrefix(v, "remove:"))
		if err == nil && i >= 0 && i < len(*rows) {
			*rows = append((*rows)[:i], (*rows)[i+1:]...)
		}
		return true, false
	}
	return false, false
}
