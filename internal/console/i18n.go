package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// languages the catalogue has, the default first.
var languages = []string{"en", "zh"}

// translate looks key up in the catalogue (messages.go). A key missing
// from the catalogue shows as itself, which the tests rule out for every
// key the templates and the code use.
func translate(lang, key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		if f := onMissing.Load(); f != nil {
			(*f)(key)
		}
		return key
	}
	s := m[0]
	if lang == "zh" && m[1] != "" {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// onMissing, when set (by tests), is called with every key the catalogue
// lacks.
var onMissing atomic.Pointer[func(key string)]

// langOf picks the request's language: the cookie set by the language
// link, else the best of Accept-Language, else English.
func langOf(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil {
		if l := normLang(ck.Value); l != "" {
			return l
		}
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

func normLang(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "en" || strings.HasPrefix(s, "en-"):
		return "en"
	case s == "zh" || strings.HasPrefix(s, "zh-"):
		return "zh"
	}
	return ""
}

// fromAcceptLanguage returns the language with the highest q among those
// the catalogue has; ties go to the first listed. At most 32 entries are
// read.
func fromAcceptLanguage(h string) string {
	best, bestQ := "en", -1.0
	for i, part := range strings.Split(h, ",") {
		if i == 32 {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if l := normLang(tag); l != "" && q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}

// switchLang stores the chosen language in a cookie and goes back to the
// page the link was on. It is a GET: the choice changes nothing on the
// server, and a link must be able to make it.
func (c *Console) switchLang(w http.ResponseWriter, r *http.Request) {
	lang := normLang(r.URL.Query().Get("to"))
	if lang == "" {
		lang = "en"
	}
	http.SetCookie(w, &http.Cookie{
		Name: langCookie, Value: lang, Path: Prefix, MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: c.secure || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	back := r.URL.Query().Get("back")
	if !localPath(back) {
		back = Prefix
	}
	q := c.newReq(w, r)
	q.redirect(back)
}
