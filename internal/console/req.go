package console

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// req is one console request: what every page handler needs.
type req struct {
	c    *Console
	w    http.ResponseWriter
	r    *http.Request
	lang string
	sess *sessionView
}

func (c *Console) newReq(w http.ResponseWriter, r *http.Request) *req {
	return &req{c: c, w: w, r: r, lang: langOf(r)}
}

// t translates a catalogue key into the request's language.
func (q *req) t(key string, args ...any) string { return translate(q.lang, key, args...) }

// redirect answers 303 See Other: after a POST, the browser GETs path.
func (q *req) redirect(path string) {
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.Header().Set("Location", path)
	q.w.WriteHeader(http.StatusSeeOther)
}

// flash leaves a message for the next page of the session.
func (q *req) flash(key string, args ...any) {
	if q.sess != nil {
		q.c.sessions.setFlash(q.sess.key, &flash{key: key, args: args})
	}
}

// page is what every template gets.
type page struct {
	Lang     string
	Nav      string // the navigation entry to mark current
	CSRF     string
	SignedIn bool
	Here     string // this page's path and query, for the language switch
	Flash    string
	// Err is the API's refusal of the last POST, shown above the form;
	// Errors has its message again under the field it names, when the
	// form has that field.
	Err        *apiError
	ErrTable   *detailTable
	ErrFieldID string
	Errors     map[string]string
	// ErrLead introduces the API's message (which is in English) in the
	// page's language, or is empty when the page is in English or the
	// message is the console's own.
	ErrLead string
	D       any
}

// fieldErr is one form field's error, for the "ferr" template.
type fieldErr struct {
	ID, Err, Lead string
}

// FErr is the error of one form field with its id, for the "ferr"
// template.
func (p *page) FErr(field string) fieldErr {
	return fieldErr{ID: fieldID(field), Err: p.FE(field), Lead: p.ErrLead}
}

// FE is the error message of one form field, or "".
func (p *page) FE(field string) string { return p.Errors[field] }

// refuse records an API refusal on the page: above the form, and next to
// the field it names when has says the form has it.
func (p *page) refuse(e *apiError, has func(field string) bool) {
	p.Err = e
	p.ErrTable = details(e.Details)
	if e.Field != "" && has != nil && has(e.Field) {
		if p.Errors == nil {
			p.Errors = map[string]string{}
		}
		p.Errors[e.Field] = e.Message
		p.ErrFieldID = fieldID(e.Field)
	}
}

// fieldSet is a has func for refuse over fixed field names.
func fieldSet(names ...string) func(string) bool {
	return func(f string) bool {
		for _, n := range names {
			if n == f {
				return true
			}
		}
		return false
	}
}

var nonIDChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

// fieldID is the HTML id of the input named by an API field path:
// nodes[2].port -> f-nodes-2-port.
func fieldID(field string) string {
	return "f-" + strings.Trim(nonIDChars.ReplaceAllString(field, "-"), "-")
}

// render executes a page template into a buffer (so that a template error
// never sends half a page) and answers it with status.
func (q *req) render(status int, name string, p *page) {
	if p == nil {
		p = &page{}
	}
	p.Lang = q.lang
	p.Here = q.here()
	if p.Err != nil {
		p.ErrLead = q.apiLead(p.Err)
	}
	if q.sess != nil {
		p.SignedIn = true
		p.CSRF = q.sess.csrf
		if f := q.c.sessions.takeFlash(q.sess.key); f != nil {
			p.Flash = q.t(f.key, f.args...)
		}
	}
	var buf bytes.Buffer
	if err := q.c.views.execute(&buf, q.lang, name, p); err != nil {
		q.c.log.Error("console: rendering a page", "page", name, "err", err)
		q.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		q.w.WriteHeader(http.StatusInternalServerError)
		_, _ = q.w.Write([]byte(q.t("err.internal") + "\n"))
		return
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(buf.Bytes())
	}
}

// here is the page to come back to after switching the language: this
// one for a GET; for a form shown again after a POST, the nearest page
// above the POST's path that answers a GET (the form as typed is lost).
func (q *req) here() string {
	if q.r.Method == http.MethodGet || q.r.Method == http.MethodHead {
		return q.r.URL.RequestURI()
	}
	p := q.r.URL.Path
	for strings.HasPrefix(p, Prefix) && p != Prefix {
		probe := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}, Host: q.r.Host}
		if _, pattern := q.c.mux.Handler(probe); pattern != "" {
			return p
		}
		p = p[:strings.LastIndex(p, "/")]
	}
	return Prefix
}

// errorData is the error page's content.
type errorData struct {
	Status  int
	Message string
	Lead    string // see page.ErrLead
}

// apiLead is the lead-in of an API message in the request's language:
// the admin API writes English, so a Chinese page says what kind of
// refusal it is and shows the API's words after it. Messages the console
// wrote itself are already translated and get none.
func (q *req) apiLead(e *apiError) string {
	if q.lang == "en" || !e.fromAPI() {
		return ""
	}
	key := "code." + e.Code
	if _, ok := messages[key]; !ok {
		key = "code.other"
	}
	return q.t(key)
}

// fail answers an error page.
func (q *req) fail(status int, msg string) {
	q.render(status, "error", &page{D: errorData{Status: status, Message: msg}})
}

// failAPI answers an error page for an API refusal of a read.
func (q *req) failAPI(e *apiError) {
	p := &page{D: errorData{Status: e.Status, Message: e.Message, Lead: q.apiLead(e)}}
	p.ErrTable = details(e.Details)
	q.render(e.Status, "error", p)
}

// id reads an id from the URL; an id that cannot be one answers 404.
func (q *req) id(name string) (string, bool) {
	v := q.r.PathValue(name)
	if !idPattern.MatchString(v) {
		q.fail(http.StatusNotFound, q.t("err.notfound"))
		return "", false
	}
	return v, true
}

// form returns a trimmed form value.
func (q *req) form(name string) string { return strings.TrimSpace(q.r.PostForm.Get(name)) }

// pageOffset reads ?page= (1-based) and returns the API offset for it.
func (q *req) pageOffset(limit int) (pageNo, offset int) { return q.pageParam("page", limit) }

// pageParam reads a 1-based page number from the query parameter param
// (a page with two paged lists has one for each) and returns the API
// offset for it.
func (q *req) pageParam(param string, limit int) (pageNo, offset int) {
	n, err := strconv.Atoi(q.r.URL.Query().Get(param))
	if err != nil || n < 1 || n > 1_000_000 {
		n = 1
	}
	return n, (n - 1) * limit
}

// pager is the paging bar of a list, and its filter.
type pager struct {
	Page, Pages, Total int
	Base               string // path and query the page links go to
	Path               string // the list's path, where the filter form goes
	Filter             string // the filter (?q=), or ""
	// Param is the query parameter of the page number ("": page), Anchor
	// what the links add after it ("#history-heading"), and Label the
	// catalogue key of the bar's name ("": pager.label); a page with two
	// paged lists sets them for the second.
	Param, Anchor, Label string
}

// URL is the link to page n.
func (p pager) URL(n int) string {
	param := p.Param
	if param == "" {
		param = "page"
	}
	sep := "?"
	if strings.Contains(p.Base, "?") {
		sep = "&"
	}
	return p.Base + sep + param + "=" + strconv.Itoa(n) + p.Anchor
}

// LabelKey is the catalogue key of the bar's name.
func (p pager) LabelKey() string {
	if p.Label == "" {
		return "pager.label"
	}
	return p.Label
}

func newPager(base string, pageNo, limit, total int) pager {
	pages := (total + limit - 1) / limit
	if pages < 1 {
		pages = 1
	}
	return pager{Page: pageNo, Pages: pages, Total: total, Base: base, Path: base}
}
