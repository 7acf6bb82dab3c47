// Package observe holds what the gateway reports about itself: Prometheus
// metrics now; the access log lives with the proxy, which builds its lines.
//
// Metrics are resolved per API when a snapshot is built (APIMetrics), so
// that counting a request is a few atomic adds with no label lookup on the
// request path. The metric families belong to one Metrics value that
// outlives snapshots: a configuration change keeps every count.
package observe

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Rejection reasons, the values of the reason label of
// portico_rejections_total. A fixed set keeps the label's cardinality
// bounded.
const (
	RejectIPControl = "ip_control"
	RejectAuth      = "auth"
	RejectRateLimit = "rate_limit"
	RejectQuota     = "quota"
	RejectBody      = "body_too_large"
	RejectRequest   = "bad_request"
	RejectNoRoute   = "no_route"
	RejectScheme    = "scheme"
)

// Metrics is the registry of one gateway process.
type Metrics struct {
	reg *prometheus.Registry

	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	upstream   *prometheus.HistogramVec
	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	retries    *prometheus.CounterVec
	rejections *prometheus.CounterVec

	revision   prometheus.Gauge
	buildTime  prometheus.Histogram
	unrouted   *APIMetrics
	rejectedBy map[string]prometheus.Counter
	nodeMoves  *prometheus.CounterVec
}

// Options names the values other parts own, read at scrape time.
type Options struct {
	// AccessLogDropped counts access-log lines dropped under overload.
	AccessLogDropped func() uint64
	// RedisFallbacks counts rate-limit decisions taken locally while Redis
	// was unreachable.
	RedisFallbacks func() uint64
	// NodesDown is the number of channel nodes out of the rotation.
	NodesDown func() int
	// Nodes calls fn with the health state of every channel node.
	Nodes func(fn func(channel, node, state string))
}

// NodeStates are the values of the state label of node metrics.
var NodeStates = []string{"HEALTHY", "UNHEALTHY", "NO_DATA", "OFF"}

// nodeCollector exports each channel node's state at scrape time, one
// series per state with 1 for the current one, so that an alert can test
// state="UNHEALTHY" == 1. The label set is bounded by the configuration
// (at most 200 nodes per channel), never by traffic.
type nodeCollector struct {
	desc  *prometheus.Desc
	nodes func(fn func(channel, node, state string))
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	c.nodes(func(channel, node, state string) {
		for _, s := range NodeStates {
			v := 0.0
			if s == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, channel, node, s)
		}
	})
}

// Latency buckets, in seconds: from a loopback answer to a slow backend.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New builds the registry with the Go runtime and process collectors.
func New(o Options) *Metrics {
	api := []string{"service", "environment", "api"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_requests_total", Help: "Requests answered, by API and status class (1xx-5xx).",
		}, append(api, "class")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "portico_request_duration_seconds", Help: "Time from the request's head to the end of its answer.",
			Buckets: latencyBuckets,
		}, api),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "portico_upstream_duration_seconds", Help: "Time from sending to a backend to its answer's head.",
			Buckets: latencyBuckets,
		}, api),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_request_body_bytes_total", Help: "Request body bytes received.",
		}, api),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_response_body_bytes_total", Help: "Response body bytes sent.",
		}, api),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_upstream_retries_total", Help: "Tries of a request beyond its first.",
		}, api),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_rejections_total", Help: "Requests the gateway refused itself, by reason.",
		}, []string{"reason"}),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_config_revision", Help: "Configuration revision the data plane serves.",
		}),
		buildTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "portico_snapshot_build_seconds", Help: "Time to compile a configuration revision.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5},
		}),
	}
	m.nodeMoves = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_upstream_node_state_changes_total", Help: "Health state changes of channel nodes, by channel and new state.",
	}, []string{"channel", "state"})
	m.reg.MustRegister(m.requests, m.duration, m.upstream, m.bytesIn, m.bytesOut, m.retries, m.rejections,
		m.revision, m.buildTime, m.nodeMoves,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counterFunc := func(name, help string, f func() uint64) {
		if f != nil {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
				func() float64 { return float64(f()) }))
		}
	}
	counterFunc("portico_access_log_dropped_total", "Access-log lines dropped because the writer fell behind.", o.AccessLogDropped)
	counterFunc("portico_ratelimit_redis_fallbacks_total", "Rate-limit decisions taken locally while Redis was unreachable.", o.RedisFallbacks)
	if o.NodesDown != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portico_upstream_nodes_down", Help: "Channel nodes out of the rotation after failures.",
		}, func() float64 { return float64(o.NodesDown()) }))
	}
	if o.Nodes != nil {
		m.reg.MustRegister(&nodeCollector{nodes: o.Nodes, desc: prometheus.NewDesc("portico_upstream_node_health",
			"Health of each channel node: 1 for its current state.", []string{"channel", "node", "state"}, nil)})
	}
	m.rejectedBy = map[string]prometheus.Counter{}
	for _, r := range []string{RejectIPControl, RejectAuth, RejectRateLimit, RejectQuota, RejectBody, RejectRequest, RejectNoRoute, RejectScheme} {
		m.rejectedBy[r] = m.rejections.WithLabelValues(r)
	}
	m.unrouted = m.ForAPI("", "", "")
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Snapshot records a configuration revision applied and the time its
// build took.
func (m *Metrics) Snapshot(revision int64, build time.Duration) {
	m.revision.Set(float64(revision))
	m.buildTime.Observe(build.Seconds())
}

// NodeStateChanged counts a channel node's move to state.
func (m *Metrics) NodeStateChanged(channel, state string) {
	m.nodeMoves.WithLabelValues(channel, state).Inc()
}

// Reject counts a refusal; reason is one of the Reject constants.
func (m *Metrics) Reject(reason string) {
	if c := m.rejectedBy[reason]; c != nil {
		c.Inc()
	}
}

// Unrouted is the metrics of requests that matched no API.
func (m *Metrics) Unrouted() *APIMetrics { return m.unrouted }

// APIMetrics are one API's metric children, resolved once.
type APIMetrics struct {
	byClass  [6]prometheus.Counter // 0: other, 1-5: 1xx-5xx
	duration prometheus.Observer
	upstream prometheus.Observer
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
	retries  prometheus.Counter
}

// ForAPI resolves the children of one API (the same children whenever it
// is asked again, so counts carry over snapshots).
func (m *Metrics) ForAPI(service, env, api string) *APIMetrics {
	a := &APIMetrics{
		duration: m.duration.WithLabelValues(service, env, api),
		upstream: m.upstream.WithLabelValues(service, env, api),
		bytesIn:  m.bytesIn.WithLabelValues(service, env, api),
		bytesOut: m.bytesOut.WithLabelValues(service, env, api),
		retries:  m.retries.WithLabelValues(service, env, api),
	}
	for i, c := range []string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		a.byClass[i] = m.requests.WithLabelValues(service, env, api, c)
	}
	return a
}

// Observe counts one finished request.
func (a *APIMetrics) Observe(status int, total, upstream time.Duration, in, out int64, retries int) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	a.byClass[class].Inc()
	a.duration.Observe(total.Seconds())
	if upstream > 0 {
		a.upstream.Observe(upstream.Seconds())
	}
	if in > 0 {
		a.bytesIn.Add(float64(in))
	}
	if out > 0 {
		a.bytesOut.Add(float64(out))
	}
	if retries > 0 {
		a.retries.Add(float64(retries))
	}
}
