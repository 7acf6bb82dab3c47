package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The admin API's objects, as a client writes them (SPEC 2). Only the fields
// the tests use; read-only fields are omitted when empty so that a GET, edit,
// PUT round trip works.

type node struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Weight int    `json:"weight"`
}

type channelTLS struct {
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
	CAPEM              string `json:"ca_pem,omitempty"`
	ServerName         string `json:"server_name,omitempty"`
}

type channel struct {
	ID         string      `json:"id,omitempty"`
	Name       string      `json:"name,omitempty"`
	Network    string      `json:"network"`
	Scheme     string      `json:"scheme"`
	HostHeader string      `json:"host_header,omitempty"`
	Nodes      []node      `json:"nodes"`
	Retries    int         `json:"retries,omitempty"`
	TLS        *channelTLS `json:"tls,omitempty"`
	// HealthCheck is sent as given (nil: the channel has none).
	HealthCheck map[string]any `json:"health_check,omitempty"`
}

type frontend struct {
	Path   string `json:"path"`
	Method string `json:"method"`
}

type mock struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
}

type backendCfg struct {
	Type      string `json:"type"`
	ChannelID string `json:"channel_id,omitempty"`
	URL       string `json:"url,omitempty"`
	Path      string `json:"path,omitempty"`
	Timeout   int    `json:"timeout,omitempty"`
	Mock      *mock  `json:"mock,omitempty"`
}

type api struct {
	ID       string     `json:"id,omitempty"`
	Name     string     `json:"name"`
	Protocol string     `json:"protocol,omitempty"`
	Frontend frontend   `json:"frontend"`
	Backend  backendCfg `json:"backend"`
	Auth     *authCfg   `json:"auth,omitempty"`
}

type authCfg struct {
	Type string `json:"type"`
}

type release struct {
	Version     string `json:"version"`
	Environment string `json:"environment"`
	Description string `json:"description"`
	CreatedAt   string `json:"created_at"`
}

type envState struct {
	Environment string `json:"environment"`
	Version     string `json:"version"`
	PublishedAt string `json:"published_at"`
}

// channelAPI is an API bound to channel chID at path, sending to backendPath.
func channelAPI(name, method, path, chID, backendPath string) api {
	return api{Name: name, Frontend: frontend{Path: path, Method: method},
		Backend: backendCfg{Type: "channel", ChannelID: chID, Path: backendPath}}
}

// mockAPI is an API answered by the gateway itself.
func mockAPI(name, method, path string, m mock) api {
	return api{Name: name, Frontend: frontend{Path: path, Method: method},
		Backend: backendCfg{Type: "mock", Mock: &m}}
}

// httpChannel is a plain-HTTP channel in the default network.
func httpChannel(nodes ...node) channel {
	return channel{Network: "default", Scheme: "http", Nodes: nodes}
}

// adminClient talks to the admin API of one gateway. Its typed helpers fail
// the test, with the response body, on any unexpected status. Write helpers
// return only once the data plane serves the new revision, so that a test
// step sees the effect of the previous one.
type adminClient struct {
	g    *gateway
	http *http.Client
}

// request sends one call and returns status and body; token "" sends none.
func (a *adminClient) request(method, path, token string, body any) (int, http.Header, []byte) {
	t := a.g.t
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+a.g.adminAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin %s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// do sends a call under /api/v1 with the gateway's token, fails the test
// unless it answers want, and decodes the body into out when out is not nil.
func (a *adminClient) do(method, path string, body any, want int, out any) {
	t := a.g.t
	t.Helper()
	status, _, b := a.request(method, "/api/v1"+path, a.g.token, body)
	if status != want {
		t.Fatalf("admin %s %s: got %d, want %d: %s", method, path, status, want, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("admin %s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

// write is do for a call that changes the configuration. The node answers
// a write only once its data plane serves it, and names the revision in
// Portico-Revision; write checks both, so that a test step sees the effect
// of the previous one.
func (a *adminClient) write(method, path string, body any, want int, out any) {
	t := a.g.t
	t.Helper()
	status, h, b := a.request(method, "/api/v1"+path, a.g.token, body)
	if status != want {
		t.Fatalf("admin %s %s: got %d, want %d: %s", method, path, status, want, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("admin %s %s: decoding %s: %v", method, path, b, err)
		}
	}
	if status < 200 || status > 299 {
		return
	}
	rev, err := strconv.ParseInt(h.Get("Portico-Revision"), 10, 64)
	if err != nil {
		t.Fatalf("admin %s %s: Portico-Revision = %q, want the revision of the write", method, path, h.Get("Portico-Revision"))
	}
	// Served already, unless the node gave up waiting (it logs that): then
	// this waits a little longer rather than fail the step.
	a.waitRevision(rev)
}

// revision is the data plane's snapshot revision (GET /api/v1/status).
func (a *adminClient) revision() int64 {
	a.g.t.Helper()
	var st struct {
		Revision int64 `json:"revision"`
	}
	a.do(http.MethodGet, "/status", nil, http.StatusOK, &st)
	return st.Revision
}

func (a *adminClient) waitRevision(rev int64) {
	t := a.g.t
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := a.revision()
		if got >= rev {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the data plane still serves revision %d, 5 s after a write that made %d", got, rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *adminClient) createChannel(c channel) channel {
	a.g.t.Helper()
	var out channel
	a.write(http.MethodPost, "/channels", c, http.StatusCreated, &out)
	if out.ID == "" {
		a.g.t.Fatalf("created channel has no id")
	}
	return out
}

func (a *adminClient) getChannel(id string) channel {
	a.g.t.Helper()
	var out channel
	a.do(http.MethodGet, "/channels/"+id, nil, http.StatusOK, &out)
	return out
}

func (a *adminClient) updateChannel(c channel) channel {
	a.g.t.Helper()
	var out channel
	a.write(http.MethodPut, "/channels/"+c.ID, c, http.StatusOK, &out)
	return out
}

// createService creates a service and returns its id.
func (a *adminClient) createService(name string) string {
	a.g.t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	a.write(http.MethodPost, "/services", map[string]any{"name": name}, http.StatusCreated, &out)
	if out.ID == "" {
		a.g.t.Fatalf("created service has no id")
	}
	return out.ID
}

func (a *adminClient) createAPI(sid string, x api) api {
	a.g.t.Helper()
	var out api
	a.write(http.MethodPost, "/services/"+sid+"/apis", x, http.StatusCreated, &out)
	if out.ID == "" {
		a.g.t.Fatalf("created API has no id")
	}
	return out
}

func (a *adminClient) updateAPI(sid string, x api) api {
	a.g.t.Helper()
	var out api
	a.write(http.MethodPut, "/services/"+sid+"/apis/"+x.ID, x, http.StatusOK, &out)
	return out
}

// publish publishes the service's draft to env and returns the version.
func (a *adminClient) publish(sid, env string) string {
	a.g.t.Helper()
	var out release
	body := map[string]string{"environment": env, "description": "e2e"}
	a.write(http.MethodPost, "/services/"+sid+"/releases", body, http.StatusCreated, &out)
	if out.Version == "" || out.Environment != env {
		a.g.t.Fatalf("publish answered %+v", out)
	}
	return out.Version
}

func (a *adminClient) rollback(sid, env, version string) envState {
	a.g.t.Helper()
	var out envState
	a.write(http.MethodPost, "/services/"+sid+"/environments/"+env+"/rollback",
		map[string]string{"version": version}, http.StatusOK, &out)
	return out
}

func (a *adminClient) unpublish(sid, env string) {
	a.g.t.Helper()
	a.write(http.MethodDelete, "/services/"+sid+"/environments/"+env, nil, http.StatusNoContent, nil)
}

func (a *adminClient) releases(sid string) []release {
	a.g.t.Helper()
	var out struct {
		Items []release `json:"items"`
		Total int       `json:"total"`
	}
	a.do(http.MethodGet, "/services/"+sid+"/releases", nil, http.StatusOK, &out)
	return out.Items
}

func (a *adminClient) environments(sid string) []envState {
	a.g.t.Helper()
	var out struct {
		Items []envState `json:"items"`
	}
	a.do(http.MethodGet, "/services/"+sid+"/environments", nil, http.StatusOK, &out)
	return out.Items
}

// publishedService is the common start of a test: a service with the given
// APIs, published to release. It returns the service id and the APIs.
func (a *adminClient) publishedService(name string, apis ...api) (string, []api) {
	a.g.t.Helper()
	sid := a.createService(name)
	out := make([]api, len(apis))
	for i, x := range apis {
		out[i] = a.createAPI(sid, x)
	}
	a.publish(sid, "release")
	return sid, out
}
