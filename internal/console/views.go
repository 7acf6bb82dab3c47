package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// assets are the console's templates and static files, compiled into the
// binary.
//
//go:embed templates static
var assets embed.FS

func staticFS() fs.FS {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err)
	}
	return sub
}

// views holds the parsed page templates, one set per language (the
// catalogue is bound into each set's "t" function at parse time).
type views struct {
	sets map[string]map[string]*template.Template
}

// staticVersion is a digest of the static files, added to their URLs so
// that a new binary's stylesheet is never an old cached one.
var staticVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		io.WriteString(h, p)
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// loadViews parses the templates once per process: they are compiled in
// and never change.
var loadViews = sync.OnceValues(parseViews)

func parseViews() (*views, error) {
	pages, err := fs.Glob(assets, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{sets: map[string]map[string]*template.Template{}}
	for _, lang := range languages {
		set := map[string]*template.Template{}
		for _, p := range pages {
			name := strings.TrimSuffix(path.Base(p), ".html")
			t, err := template.New(name).Funcs(funcs(lang)).ParseFS(assets, "templates/layout.html", p)
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", p, err)
			}
			set[name] = t
		}
		v.sets[lang] = set
	}
	return v, nil
}

func (v *views) execute(w io.Writer, lang, name string, p *page) error {
	t, ok := v.sets[lang][name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	return t.ExecuteTemplate(w, "layout", p)
}

// input is one labelled form field, for the "input" template.
type input struct {
	Name, ID, Label, Value, Type, Hint, Err, Lead, Autocomplete, Placeholder, InputMode string
	Required                                                                            bool
}

// inp builds an input from the page (for its error), the field's API name,
// its label's catalogue key and its value; opts are "type=…", "hint=…",
// "autocomplete=…", "placeholder=…", "inputmode=…" and "required".
func inp(p *page, name, label string, value any, opts ...string) input {
	in := input{Name: name, ID: fieldID(name), Label: label, Value: fmt.Sprint(value), Type: "text"}
	if value == nil {
		in.Value = ""
	}
	if p != nil {
		in.Err, in.Lead = p.FE(name), p.ErrLead
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "type":
			in.Type = v
		case "hint":
			in.Hint = v
		case "autocomplete":
			in.Autocomplete = v
		case "placeholder":
			in.Placeholder = v
		case "inputmode":
			in.InputMode = v
		case "required":
			in.Required = true
		}
	}
	return in
}

func funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":   func(key string, args ...any) string { return translate(lang, key, args...) },
		"fid": fieldID,
		// col names a column of an error's details: translated when the
		// catalogue knows it, else the API's own key.
		// tOr translates key, or shows fallback when the catalogue does not
		// know it (a value a later API version adds).
		"tOr": func(key, fallback string) string {
			if _, ok := messages[key]; ok {
				return translate(lang, key)
			}
			return fallback
		},
		"col": func(key string) string {
			if _, ok := messages["col."+key]; ok {
				return translate(lang, "col."+key)
			}
			return key
		},
		"inp": inp,
		"area": func(p *page, name, label, value, hint string) input {
			return inp(p, name, label, value, "hint="+hint)
		},
		"add": func(a, b int) int { return a + b },
		"sub": func(a, b int) int { return a - b },
		"when": func(t any) string {
			switch v := t.(type) {
			case config.Time:
				t = v.Time
			case *config.Time:
				if v == nil {
					return ""
				}
				t = v.Time
			}
			switch t := t.(type) {
			case time.Time:
				if t.IsZero() {
					return ""
				}
				return config.FormatTime(t)
			case *time.Time:
				if t == nil || t.IsZero() {
					return ""
				}
				return config.FormatTime(*t)
			}
			return ""
		},
		"join": func(s []string, sep string) string { return strings.Join(s, sep) },
		"deref": func(p any) string {
			switch p := p.(type) {
			case *int:
				if p != nil {
					return strconv.Itoa(*p)
				}
			case *int64:
				if p != nil {
					return strconv.FormatInt(*p, 10)
				}
			}
			return ""
		},
		"pretty": func(raw json.RawMessage) string {
			var v any
			if json.Unmarshal(raw, &v) != nil {
				return string(raw)
			}
			b, _ := json.MarshalIndent(v, "", "  ")
			return string(b)
		},
		"asset": func(name string) string { return "/console/static/" + name + "?v=" + staticVersion },
		"other": func() string {
			if lang == "zh" {
				return "en"
			}
			return "zh"
		},
		"lower": strings.ToLower,
		"words": strings.Fields,
		"bindlist": func(b any, services map[string]string, action, csrf string) bindList {
			return bindList{B: b, Services: services, Action: action, CSRF: csrf}
		},
		"bindctx": func(p *page, svcs []config.Service, b bindForm, action string) bindCtx {
			return bindCtx{P: p, Svcs: svcs, B: b, Action: action}
		},
		"envKey": func(env string) string { return "env." + env },
		"tlsctx": func(p *page, prefix string, t tlsForm) tlsCtx {
			return tlsCtx{P: p, Prefix: prefix, Skip: t.Skip, ServerName: t.ServerName, CA: t.CA}
		},
		"emptyctx": func(p pager, key string) emptyCtx { return emptyCtx{P: p, Key: key} },
		"stateClass": func(state string) string {
			return "state-" + strings.ToLower(state)
		},
	}
}

// bindList is the "bindings" template's data: a plan's or a plugin's
// bindings (both have ID, ServiceID, Environment and APIIDs), the service
// names, and where their remove buttons post.
type bindList struct {
	B        any
	Services map[string]string
	Action   string
	CSRF     string
}

// bindCtx is the "bindform" template's data.
type bindCtx struct {
	P      *page
	Svcs   []config.Service
	B      bindForm
	Action string
}

// tlsCtx is the "tls" template's data.
type tlsCtx struct {
	P              *page
	Prefix         string
	Skip           bool
	ServerName, CA string
}

// emptyCtx is the "empty" template's data.
type emptyCtx struct {
	P   pager
	Key string
}

var staticTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
	".txt": "text/plain; charset=utf-8",
}

// serveStatic answers the embedded static files, with their type set
// explicitly (the admin API sets a JSON type on everything it routes).
func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ctype, ok := staticTypes[path.Ext(name)]
	var b []byte
	var err error
	if ok && fs.ValidPath(name) {
		b, err = fs.ReadFile(c.static, name)
	}
	if !ok || err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "not found\n")
		return
	}
	w.Header().Set("Content-Type", ctype)
	if r.URL.Query().Get("v") == staticVersion {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
