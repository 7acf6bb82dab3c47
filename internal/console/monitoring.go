package console

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/observe"
)

// Charts are inline SVG drawn here, on the server: no chart library and no
// script. Each is a fixed viewBox scaled by CSS to the page's width.
const (
	chartW, chartH                       = 600, 200
	padLeft, padRight, padTop, padBottom = 52, 10, 10, 26
)

type tick struct {
	Pos   float64
	Label string
}

type bar struct{ X, Y, W, H float64 }

type series struct {
	Label  string // catalogue key
	Color  string
	Points string // polyline points, when drawn as a line
	Bars   []bar  // when drawn as bars
}

type chart struct {
	ID, Title, Unit          string // Title and Unit: catalogue keys
	W, H                     int
	Left, Right, Top, Bottom float64
	YTicks, XTicks           []tick
	Series                   []series
	Empty                    bool
	LabelX, CX, CY           float64 // the y-axis labels' x; the centre, for "no traffic"
}

// niceMax is the top of an axis of four ticks that holds v: four times
// a step of 1, 2 or 5 times a power of ten, so that the ticks are round.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	raw := v / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p*(1+1e-9) {
			return 4 * m * p
		}
	}
	return 40 * p
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// newChart lays out a chart of n points whose values go up to maxV.
func newChart(id, title, unit string, pts []observe.StatPoint, maxV float64) *chart {
	c := &chart{ID: id, Title: title, Unit: unit, W: chartW, H: chartH,
		Left: padLeft, Right: chartW - padRight, Top: padTop, Bottom: chartH - padBottom}
	top := niceMax(maxV)
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Pos: c.y(v, top), Label: fmtNum(v)})
	}
	n := len(pts)
	step := max(1, n/6)
	for i := 0; i < n; i += step {
		c.XTicks = append(c.XTicks, tick{Pos: c.x(i, n) + c.slot(n)/2, Label: pts[i].Time.UTC().Format("15:04")})
	}
	c.Empty = maxV == 0
	c.LabelX, c.CX, c.CY = c.Left-6, (c.Left+c.Right)/2, (c.Top+c.Bottom)/2
	return c
}

func (c *chart) slot(n int) float64 { return (c.Right - c.Left) / float64(max(n, 1)) }

func (c *chart) x(i, n int) float64 { return c.Left + float64(i)*c.slot(n) }

func (c *chart) y(v, top float64) float64 {
	return c.Bottom - (c.Bottom-c.Top)*v/top
}

func (c *chart) top() float64 {
	t, _ := strconv.ParseFloat(c.YTicks[len(c.YTicks)-1].Label, 64)
	return t
}

// line adds a series drawn as a polyline through the middle of each slot.
func (c *chart) line(label, color string, vals []float64) {
	var b strings.Builder
	top, n := c.top(), len(vals)
	for i, v := range vals {
		fmt.Fprintf(&b, "%.1f,%.1f ", c.x(i, n)+c.slot(n)/2, c.y(v, top))
	}
	c.Series = append(c.Series, series{Label: label, Color: color, Points: strings.TrimSpace(b.String())})
}

// bars adds a series drawn as one bar per slot.
func (c *chart) bars(label, color string, vals []float64) {
	top, n := c.top(), len(vals)
	s := series{Label: label, Color: color}
	w := c.slot(n)
	for i, v := range vals {
		if v <= 0 {
			continue
		}
		y := c.y(v, top)
		s.Bars = append(s.Bars, bar{X: c.x(i, n) + w*0.1, Y: y, W: w * 0.8, H: c.Bottom - y})
	}
	c.Series = append(c.Series, s)
}

func maxOf(vals ...[]float64) float64 {
	m := 0.0
	for _, vs := range vals {
		for _, v := range vs {
			m = math.Max(m, v)
		}
	}
	return m
}

// statsCharts draws requests, errors and latency per minute.
func statsCharts(pts []observe.StatPoint) []*chart {
	n := len(pts)
	req, cErr, sErr, avg, p99 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, p := range pts {
		req[i], cErr[i], sErr[i] = float64(p.Requests), float64(p.ClientErrors), float64(p.ServerErrors)
		avg[i], p99[i] = p.AvgLatencyMS, p.P99LatencyMS
	}
	r := newChart("chart-requests", "mon.requests", "mon.perminute", pts, maxOf(req))
	r.bars("mon.requests", "#0a58ca", req)
	e := newChart("chart-errors", "mon.errors", "mon.perminute", pts, maxOf(cErr, sErr))
	e.line("mon.clienterrors", "#8a5a00", cErr)
	e.line("mon.servererrors", "#b42318", sErr)
	l := newChart("chart-latency", "mon.latency", "mon.ms", pts, maxOf(avg, p99))
	l.line("mon.avg", "#0a58ca", avg)
	l.line("mon.p99", "#b42318", p99)
	return []*chart{r, e, l}
}

type monitoringData struct {
	serviceTab
	Window  string
	Windows []string
	Charts  []*chart
	Points  []observe.StatPoint
	Totals  observe.StatPoint
}

var windows = []string{"15m", "30m", "60m"}

func (c *Console) serviceMonitoring(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	d := monitoringData{serviceTab: serviceTab{Svc: *svc, Tab: "monitoring"}, Window: "60m", Windows: windows}
	if w := q.r.URL.Query().Get("window"); w != "" {
		d.Window = w
	}
	var st struct {
		Points []observe.StatPoint `json:"points"`
	}
	p := &page{Nav: "services", D: &d}
	if e := q.get("/api/v1/stats", url.Values{"service_id": {svc.ID}, "window": {d.Window}}, &st); e != nil {
		p.refuse(e, fieldSet("window"))
		q.render(e.Status, "service_monitoring", p)
		return
	}
	d.Points = st.Points
	for _, x := range st.Points {
		d.Totals.Requests += x.Requests
		d.Totals.ClientErrors += x.ClientErrors
		d.Totals.ServerErrors += x.ServerErrors
	}
	d.Charts = statsCharts(st.Points)
	q.render(http.StatusOK, "service_monitoring", p)
}

// logRow is one access-log line as the logs tab shows it.
type logRow struct {
	Time, RequestID, Env, APIID, Method, URI, Status, Upstream, Duration, Error, ClientIP string
}

func logRowOf(m map[string]any) logRow {
	s := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	r := logRow{Time: s("time"), RequestID: s("request_id"), Env: s("environment"), APIID: s("api_id"),
		Method: s("method"), URI: s("uri"), Status: s("status"), Upstream: s("upstream_addr"),
		Error: s("error"), ClientIP: s("client_ip")}
	if t, err := time.Parse(time.RFC3339Nano, r.Time); err == nil {
		r.Time = config.FormatTime(t) // the form a search's from and to take
	}
	if d, err := strconv.ParseFloat(s("request_time"), 64); err == nil {
		r.Duration = strconv.FormatFloat(d*1000, 'f', 0, 64) + " ms"
	}
	return r
}

type logsData struct {
	serviceTab
	Query    logsQuery
	APIs     []config.API
	Rows     []logRow
	Pager    pager
	Searched bool
}

const logsLimit = 50

func (c *Console) serviceLogs(q *req) {
	svc, ok := q.service()
	if !ok {
		return
	}
	v := q.r.URL.Query()
	d := &logsData{serviceTab: serviceTab{Svc: *svc, Tab: "logs"}, Query: logsQuery{
		RequestID: strings.TrimSpace(v.Get("request_id")), APIID: v.Get("api_id"),
		Keyword: strings.TrimSpace(v.Get("q")), Status: strings.TrimSpace(v.Get("status"))}}
	apis, e := allPages[config.API](q, "/api/v1/services/"+esc(svc.ID)+"/apis", 1000)
	if e != nil {
		q.failAPI(e)
		return
	}
	d.APIs = apis
	pageNo, offset := q.pageOffset(logsLimit)
	qv := d.Query.values(svc.ID)
	p := &page{Nav: "services", D: d}
	var l list[map[string]any]
	for k, x := range pageQuery(logsLimit, offset) {
		qv[k] = x
	}
	if e := q.get("/api/v1/logs", qv, &l); e != nil {
		p.refuse(e, fieldSet("request_id", "api_id", "q", "status"))
		q.render(e.Status, "service_logs", p)
		return
	}
	for _, m := range l.Items {
		d.Rows = append(d.Rows, logRowOf(m))
	}
	base := d.Query.values(svc.ID)
	base.Del("service_id")
	link := "/console/services/" + svc.ID + "/logs"
	if enc := base.Encode(); enc != "" {
		link += "?" + enc
	}
	d.Pager = newPager(link, pageNo, logsLimit, l.Total)
	d.Searched = true
	q.render(http.StatusOK, "service_logs", p)
}
