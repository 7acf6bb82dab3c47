package console

import (
	"encoding/json"
	"net/http"
	"regexp"
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
