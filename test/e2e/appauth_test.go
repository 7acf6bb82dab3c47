package e2e

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

type application struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	AppKey    string `json:"app_key,omitempty"`
	AppSecret string `json:"app_secret,omitempty"`
}

// signApp builds an application signature from the rule alone: six parts
// joined by "\n" — the listed headers sorted, each "name: value\n"; the
// method; Accept; Content-Type; Content-MD5; the path and the sorted query
// and form parameters ("k=v" joined by "&", a key alone for an empty value).
func signApp(key, secret, method, path, query, accept, ctype, md5sum, form string, headers [][2]string) string {
	sort.Slice(headers, func(i, j int) bool { return headers[i][0] < headers[j][0] })
	var part1 strings.Builder
	var names []string
	for _, h := range headers {
		part1.WriteString(h[0] + ": " + h[1] + "\n")
		names = append(names, h[0])
	}
	var params []string
	for _, raw := range []string{query, form} {
		vals, _ := url.ParseQuery(raw)
		for k, vs := range vals {
			for _, v := range vs {
				if v == "" {
					params = append(params, k)
				} else {
					params = append(params, k+"="+v)
				}
			}
		}
	}
	sort.Strings(params)
	p6 := path
	if len(params) > 0 {
		p6 += "?" + strings.Join(params, "&")
	}
	s := strings.Join([]string{part1.String(), method, accept, ctype, md5sum, p6}, "\n")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(s))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return `hmac id="` + key + `", algorithm="hmac-sha256", headers="` + strings.Join(names, " ") + `", signature="` + sig + `"`
}

// TestAppAuth: applications sign the whole request; only bound
// applications pass; app limits of traffic_control count per application.
func TestAppAuth(t *testing.T) {
	t.Parallel()
	be := newBackend(t, "app-be")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(be.node(1)))
	sid := g.admin.createService("appsvc")
	created := g.admin.createAPI(sid, api{Name: "orders", Frontend: frontend{Method: "ANY", Path: "/orders"},
		Backend: backendCfg{Type: "channel", ChannelID: ch.ID, Path: "/orders"}, Auth: &authCfg{Type: "app"}})
	g.admin.publish(sid, "release")
	var app, other application
	g.admin.write(http.MethodPost, "/apps", application{Name: "shop_web"}, http.StatusCreated, &app)
	g.admin.write(http.MethodPost, "/apps", application{Name: "unbound"}, http.StatusCreated, &other)
	if app.AppKey == "" || len(app.AppSecret) < 10 {
		t.Fatalf("generated app %+v", app)
	}
	g.admin.write(http.MethodPost, "/services/"+sid+"/apis/"+created.ID+"/apps",
		map[string]string{"app_id": app.ID, "environment": "release"}, http.StatusCreated, nil)

	date := time.Now().UTC().Format(http.TimeFormat)
	hdrs := [][2]string{{"x-date", date}, {"source", "web"}}

	// GET with a query, through the /release prefix (not signed).
	auth := signApp(app.AppKey, app.AppSecret, "GET", "/orders/7", "b=2&a=1&flag=", "application/json", "", "", "", hdrs)
	r := g.get("/release/orders/7?b=2&a=1&flag=", "X-Date", date, "Source", "web", "Accept", "application/json", "Authorization", auth)
	if e := decodeEcho(t, r); e.Path != "/orders/7" {
		t.Fatalf("signed GET: backend saw %q", e.Path)
	}

	// A form body is signed with the query.
	form := "qty=2&item=book"
	auth = signApp(app.AppKey, app.AppSecret, "POST", "/orders", "ref=x", "", "application/x-www-form-urlencoded", "", form, hdrs)
	r = g.call("POST", "/orders?ref=x", strings.NewReader(form), "X-Date", date, "Source", "web",
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", auth)
	if e := decodeEcho(t, r); e.BodyLen != int64(len(form)) {
		t.Fatalf("signed form: backend got %d bytes", e.BodyLen)
	}

	// A JSON body is covered by its Content-MD5.
	body := `{"item":"book"}`
	sum := md5.Sum([]byte(body))
	cmd5 := base64.StdEncoding.EncodeToString(sum[:])
	auth = signApp(app.AppKey, app.AppSecret, "PUT", "/orders/9", "", "", "application/json", cmd5, "", hdrs)
	r = g.call("PUT", "/orders/9", strings.NewReader(body), "X-Date", date, "Source", "web",
		"Content-Type", "application/json", "Content-MD5", cmd5, "Authorization", auth)
	decodeEcho(t, r)
	tampered := g.call("PUT", "/orders/9", strings.NewReader(`{"item":"gold"}`), "X-Date", date, "Source", "web",
		"Content-Type", "application/json", "Content-MD5", cmd5, "Authorization", auth)
	wantGatewayError(t, tampered, http.StatusUnauthorized)

	for _, c := range []struct {
		name, want string
		headers    []string
		path       string
	}{
		{"no signature", "authorization", nil, "/orders/1"},
		{"query changed", "signature", []string{"X-Date", date, "Source", "web", "Accept", "application/json",
			"Authorization", signApp(app.AppKey, app.AppSecret, "GET", "/orders/1", "a=1", "application/json", "", "", "", hdrs)}, "/orders/1?a=2"},
		{"wrong secret", "signature", []string{"X-Date", date, "Source", "web",
			"Authorization", signApp(app.AppKey, "wrong-secret-123", "GET", "/orders/1", "", "", "", "", "", hdrs)}, "/orders/1"},
		{"unbound app", "not bound", []string{"X-Date", date, "Source", "web",
			"Authorization", signApp(other.AppKey, other.AppSecret, "GET", "/orders/1", "", "", "", "", "", hdrs)}, "/orders/1"},
	} {
		ge := wantGatewayError(t, g.get(c.path, c.headers...), http.StatusUnauthorized)
		if !strings.Contains(ge.Message, c.want) {
			t.Errorf("%s: %q, want it to mention %q", c.name, ge.Message, c.want)
		}
	}
	// An app in use cannot be deleted.
	g.admin.do(http.MethodDelete, "/apps/"+app.ID, nil, http.StatusConflict, nil)

	// traffic_control's app limit counts per application.
	p := g.admin.createPlugin("per_app", "traffic_control", `{"window":"minute","app_limit":2}`)
	g.admin.bindPlugin(p.ID, binding{ServiceID: sid, Environment: "release"})
	signed := func() reply {
		a := signApp(app.AppKey, app.AppSecret, "GET", "/orders/1", "", "", "", "", "", hdrs)
		return g.get("/orders/1", "X-Date", date, "Source", "web", "Authorization", a)
	}
	for i := range 2 {
		if r := signed(); r.status != 200 {
			t.Fatalf("app call %d within its limit: %s", i, r)
		}
	}
	wantGatewayError(t, signed(), http.StatusTooManyRequests)
}
