package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/portico-gw/portico/internal/config"
)

const listLimit = 20

func pageQuery(limit, offset int) url.Values {
	return url.Values{"limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
}

// healthCount is how many nodes of a channel are in one state.
type healthCount struct {
	State string
	N     int
}

// healthSummary counts a channel's nodes by state, in a fixed order.
func healthSummary(nodes []config.Node) []healthCount {
	n := map[string]int{}
	for _, x := range nodes {
		st := config.HealthNoData
		if x.Health != nil && x.Health.State != "" {
			st = x.Health.State
		}
		n[st]++
	}
	var out []healthCount
	for _, st := range []string{config.HealthHealthy, config.HealthUnhealthy, config.HealthNoData, config.HealthOff} {
		if n[st] > 0 {
			out = append(out, healthCount{st, n[st]})
			delete(n, st)
		}
	}
	for st, c := range n {
		out = append(out, healthCount{st, c})
	}
	return out
}

type channelRow struct {
	config.Channel
	Health []healthCount
}

type channelListData struct {
	Rows  []channelRow
	Pager pager
}

func (c *Console) channelList(q *req) {
	rows, pg, e := listRows(q, "/api/v1/channels", "/console/channels", func(ch *config.Channel) []string {
		return []string{ch.Name, ch.ID, ch.Network, ch.Description}
	})
	if e != nil {
		q.failAPI(e)
		return
	}
	d := channelListData{Pager: pg}
	for _, ch := range rows {
		d.Rows = append(d.Rows, channelRow{Channel: ch, Health: healthSummary(ch.Nodes)})
	}
	q.render(http.StatusOK, "channels", &page{Nav: "channels", D: d})
}

type channelDetailData struct {
	Ch        config.Channel
	Health    []healthCount
	Bindings  []config.ChannelBinding
	BindTotal int
}

func (c *Console) channelDetail(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	var d channelDetailData
	if e := q.get("/api/v1/channels/"+esc(id), nil, &d.Ch); e != nil {
		q.failAPI(e)
		return
	}
	var b list[config.ChannelBinding]
	if e := q.get("/api/v1/channels/"+esc(id)+"/apis", pageQuery(100, 0), &b); e != nil {
		q.failAPI(e)
		return
	}
	d.Health, d.Bindings, d.BindTotal = healthSummary(d.Ch.Nodes), b.Items, b.Total
	q.render(http.StatusOK, "channel", &page{Nav: "channels", D: d})
}

// channelForm is the create and edit form, as strings: what was typed is
// shown again as typed when the API refuses it.
type channelForm struct {
	Edit        bool
	ID          string
	Action      string
	Name        string
	Network     string
	Description string
	Scheme      string
	HostHeader  string
	Retries     string
	Nodes       []nodeRow
	HC          hcForm
	TLS         tlsForm
	MaxNodes    int
	Schemes     []string
}

type nodeRow struct{ Host, Port, Weight string }

// hcForm is the health-check section: every field of health_check.
// Custom false leaves health_check out (the implicit check). Empty
// numbers and lists are left out, for the API's defaults.
type hcForm struct {
	Custom           bool
	Active, Passive  bool
	Path, Interval   string
	CheckTimeout     string
	TCP, Timeout     string // failure thresholds
	HTTP             string
	UnhealthyTimeout string
	Healthy          string // status codes
	Unhealthy        string
	Headers          string // "Name: value" lines
}

var schemes = []string{"http", "https", "grpc", "grpcs"}

// hcNumbers are the numeric health-check fields and where the form keeps
// them.
func (h *hcForm) numbers() []struct {
	key string
	v   *string
} {
	return []struct {
		key string
		v   *string
	}{
		{"active_check_interval", &h.Interval}, {"active_check_timeout", &h.CheckTimeout},
		{"tcp_failure_threshold", &h.TCP}, {"timeout_threshold", &h.Timeout},
		{"http_failure_threshold", &h.HTTP}, {"unhealthy_timeout", &h.UnhealthyTimeout},
	}
}

func newChannelForm() *channelForm {
	return &channelForm{Action: "/console/channels/new", Network: "default", Scheme: "http",
		Nodes: []nodeRow{{Weight: "1"}}, MaxNodes: config.MaxNodes, Schemes: schemes,
		HC: hcForm{Path: "/", Interval: "5"}}
}

func (c *Console) channelNew(q *req) {
	q.render(http.StatusOK, "channel_form", &page{Nav: "channels", D: newChannelForm()})
}

func (c *Console) channelEdit(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	var ch config.Channel
	if e := q.get("/api/v1/channels/"+esc(id), nil, &ch); e != nil {
		q.failAPI(e)
		return
	}
	f := &channelForm{Edit: true, ID: id, Action: "/console/channels/" + id + "/edit",
		Name: ch.Name, Network: ch.Network, Description: ch.Description, Scheme: ch.Scheme,
		HostHeader: ch.HostHeader, MaxNodes: config.MaxNodes, Schemes: schemes,
		HC: hcForm{Path: "/", Interval: "5"}, TLS: tlsOf(ch.TLS)}
	if ch.Retries != nil {
		f.Retries = strconv.Itoa(*ch.Retries)
	}
	for _, n := range ch.Nodes {
		f.Nodes = append(f.Nodes, nodeRow{Host: n.Host, Port: strconv.Itoa(n.Port), Weight: strconv.Itoa(n.W())})
	}
	if hc := ch.HealthCheck; hc != nil {
		tcp, timeout, httpN := hc.Thresholds()
		f.HC = hcForm{Custom: true, Active: hc.EnableActiveCheck, Passive: hc.EnablePassiveCheck,
			Path: hc.ActiveCheckHTTPPath, Interval: strconv.Itoa(hc.ActiveCheckInterval),
			CheckTimeout: strconv.Itoa(hc.ActiveCheckTimeout), TCP: strconv.Itoa(tcp), Timeout: strconv.Itoa(timeout),
			HTTP: strconv.Itoa(httpN), UnhealthyTimeout: strconv.Itoa(hc.UnhealthySeconds()),
			Healthy: intsText(hc.HealthyHTTPStatus), Unhealthy: intsText(hc.UnhealthyHTTPStatus),
			Headers: formatHeaders(hc.ActiveRequestHeaders)}
	}
	q.render(http.StatusOK, "channel_form", &page{Nav: "channels", D: f})
}

// readChannelForm reads the posted form. At most MaxNodes+1 rows are read
// (one more than the API takes, so that the API's own refusal of too many
// nodes is what the user sees).
func readChannelForm(q *req) *channelForm {
	const h = "health_check."
	f := &channelForm{
		Name: q.form("name"), Network: q.form("network"), Description: q.form("description"),
		Scheme: q.form("scheme"), HostHeader: q.form("host_header"), Retries: q.form("retries"),
		MaxNodes: config.MaxNodes, Schemes: schemes, TLS: q.readTLS("tls"),
		HC: hcForm{Custom: q.form("hc_mode") == "custom",
			Active:    q.form(h+"enable_active_check") == "on",
			Passive:   q.form(h+"enable_passive_check") == "on",
			Path:      q.form(h + "active_check_http_path"),
			Healthy:   q.form(h + "healthy_http_status"),
			Unhealthy: q.form(h + "unhealthy_http_status"),
			Headers:   q.form(h + "active_request_headers")},
	}
	for _, n := range f.HC.numbers() {
		*n.v = q.form(h + n.key)
	}
	rows, _ := strconv.Atoi(q.form("rows"))
	rows = max(0, min(rows, config.MaxNodes+1))
	for i := range rows {
		p := "nodes[" + strconv.Itoa(i) + "]."
		f.Nodes = append(f.Nodes, nodeRow{Host: q.form(p + "host"), Port: q.form(p + "port"), Weight: q.form(p + "weight")})
	}
	return f
}

// body builds the API body from the form onto base (the stored channel
// on an edit, so that fields the form does not show are kept). index maps
// each node the body sends to its form row: empty rows are left out.
func (f *channelForm) body(base map[string]any) (body map[string]any, index []int) {
	body = base
	if body == nil {
		body = map[string]any{}
	}
	body["name"] = f.Name
	body["network"] = f.Network
	body["description"] = f.Description
	body["scheme"] = f.Scheme
	body["host_header"] = f.HostHeader
	delete(body, "retries")
	setNumber(body, "retries", f.Retries)
	nodes := []any{}
	for i, n := range f.Nodes {
		if n.Host == "" && n.Port == "" && n.Weight == "" {
			continue
		}
		m := map[string]any{"host": n.Host}
		setNumber(m, "port", n.Port)
		setNumber(m, "weight", n.Weight)
		nodes = append(nodes, m)
		index = append(index, i)
	}
	body["nodes"] = nodes
	f.TLS.set(body, "tls")
	if !f.HC.Custom {
		delete(body, "health_check")
		return body, index
	}
	hc := map[string]any{
		"enable_active_check":    f.HC.Active,
		"enable_passive_check":   f.HC.Passive,
		"active_check_http_path": f.HC.Path,
		"active_request_headers": headerLines(f.HC.Headers),
	}
	for _, n := range f.HC.numbers() {
		setNumber(hc, n.key, *n.v)
	}
	if l := numberList(f.HC.Healthy); len(l) > 0 {
		hc["healthy_http_status"] = l
	}
	if l := numberList(f.HC.Unhealthy); len(l) > 0 {
		hc["unhealthy_http_status"] = l
	}
	body["health_check"] = hc
	return body, index
}

var nodeField = regexp.MustCompile(`^nodes\[([0-9]+)\](.*)$`)

// hcFields are the health-check inputs of the form.
var hcFields = fieldSet("health_check.enable_active_check", "health_check.enable_passive_check",
	"health_check.active_check_http_path", "health_check.active_check_interval", "health_check.active_check_timeout",
	"health_check.tcp_failure_threshold", "health_check.timeout_threshold", "health_check.http_failure_threshold",
	"health_check.unhealthy_timeout", "health_check.healthy_http_status", "health_check.unhealthy_http_status",
	"health_check.active_request_headers")

// has says which API fields the channel form shows.
func (f *channelForm) has(field string) bool {
	switch field {
	case "name", "network", "description", "scheme", "host_header", "retries", "nodes",
		"tls", "tls.server_name", "tls.ca_pem", "tls.insecure_skip_verify":
		return true
	}
	if hcFields(field) {
		return f.HC.Custom
	}
	if m := nodeField.FindStringSubmatch(field); m != nil {
		k, err := strconv.Atoi(m[1])
		return err == nil && k < len(f.Nodes) && (m[2] == ".host" || m[2] == ".port" || m[2] == ".weight")
	}
	return false
}

// refuse shows an API refusal of the channel form at its input.
func (f *channelForm) refuse(p *page, e *apiError, index []int) {
	remapRows(e, "nodes", index)
	e.Field = itemField(e.Field, "health_check.healthy_http_status", "health_check.unhealthy_http_status")
	p.refuse(e, f.has)
}

// rowOp applies the add and remove buttons of the node table; it reports
// whether the post was one of them (then the form is shown again).
func (f *channelForm) rowOp(q *req, p *page) bool {
	op, full := rowOp(q, &f.Nodes, config.MaxNodes, nodeRow{Weight: "1"})
	if full {
		p.Errors = map[string]string{"nodes": q.t("node.max", config.MaxNodes)}
	}
	return op
}

func (c *Console) channelCreate(q *req) {
	f := readChannelForm(q)
	f.Action = "/console/channels/new"
	c.channelSave(q, f, http.MethodPost, "/api/v1/channels", "flash.created")
}

func (c *Console) channelUpdate(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	f := readChannelForm(q)
	f.Edit, f.ID, f.Action = true, id, "/console/channels/"+id+"/edit"
	c.channelSave(q, f, http.MethodPut, "/api/v1/channels/"+esc(id), "flash.saved")
}

// channelSave applies the node table's buttons, or sends the form. An edit
// is GET, edit, PUT: a field the form does not show (the algorithm) goes
// back as stored.
func (c *Console) channelSave(q *req, f *channelForm, method, apiPath, flashKey string) {
	p := &page{Nav: "channels", D: f}
	if f.rowOp(q, p) {
		q.render(http.StatusOK, "channel_form", p)
		return
	}
	var base map[string]any
	if f.Edit {
		var e *apiError
		if base, e = stored(q, apiPath); e != nil {
			q.failAPI(e)
			return
		}
	}
	body, index := f.body(base)
	var ch config.Channel
	if e := q.call(method, apiPath, nil, body, &ch); e != nil {
		f.refuse(p, e, index)
		q.render(e.Status, "channel_form", p)
		return
	}
	q.flash(flashKey, q.t("kind.channel"), nameOr(ch.Name, ch.ID))
	q.redirect("/console/channels/" + ch.ID)
}

func (c *Console) channelDeletePage(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	var ch config.Channel
	if e := q.get("/api/v1/channels/"+esc(id), nil, &ch); e != nil {
		q.failAPI(e)
		return
	}
	q.confirm("channels", channelConfirm(&ch))
}

func channelConfirm(ch *config.Channel) confirmData {
	return confirmData{Kind: "kind.channel", Name: nameOr(ch.Name, ch.ID),
		Action: "/console/channels/" + ch.ID + "/delete", Back: "/console/channels/" + ch.ID}
}

func (c *Console) channelDelete(q *req) {
	id, ok := q.id("id")
	if !ok {
		return
	}
	var ch config.Channel
	if e := q.get("/api/v1/channels/"+esc(id), nil, &ch); e != nil {
		q.failAPI(e)
		return
	}
	q.remove("channels", "/api/v1/channels/"+esc(id), channelConfirm(&ch), "/console/channels")
}
