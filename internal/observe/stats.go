package observe

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// StatsMinutes is how many per-minute points are kept: GET /api/v1/stats
// answers windows of up to an hour.
const StatsMinutes = 60

// statBuckets are the upper edges of the per-minute latency histograms, in
// microseconds: 23 edges growing by a factor of 1.8, from 100 µs to about
// 42 s, and one for everything slower. The p99 is read as the upper edge of
// its bucket, so it is at most 80 % high.
var statBuckets = func() []int64 {
	b := []int64{100}
	for len(b) < 23 {
		b = append(b, b[len(b)-1]*18/10)
	}
	return append(b, math.MaxInt64)
}()

// Stats keeps per-minute statistics of every API for the last hour.
type Stats struct {
	mu   sync.Mutex
	apis map[[3]string]*APIStats
	now  func() time.Time
}

// NewStats returns an empty set.
func NewStats() *Stats {
	return &Stats{apis: map[[3]string]*APIStats{}, now: time.Now}
}

// APIStats are one API's minutes. Recording is lock-free but for the one
// request a minute that starts a new point.
type APIStats struct {
	service, env, api string
	now               func() time.Time
	mu                sync.Mutex // taken only to start a new minute
	slots             [StatsMinutes]minuteSlot
}

type minuteSlot struct {
	minute                      atomic.Int64
	requests, ok, client, serve atomic.Int64
	s502, s504                  atomic.Int64
	latencyUS, in, out          atomic.Int64
	hist                        [24]atomic.Int64
}

// ForAPI returns the statistics of one API, the same ones each time it is
// asked (they outlive snapshots).
func (s *Stats) ForAPI(service, env, api string) *APIStats {
	k := [3]string{service, env, api}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apis[k]
	if a == nil {
		a = &APIStats{service: service, env: env, api: api, now: s.now}
		s.apis[k] = a
	}
	return a
}

// Record counts one request that finished now.
func (a *APIStats) Record(status int, latency time.Duration, in, out int64) {
	a.RecordAt(a.now(), status, latency, in, out)
}

// RecordAt counts one request that finished at end: the caller's clock
// read, which its other counters share.
func (a *APIStats) RecordAt(end time.Time, status int, latency time.Duration, in, out int64) {
	m := end.Unix() / 60
	sl := &a.slots[m%StatsMinutes]
	if sl.minute.Load() != m {
		a.mu.Lock()
		if sl.minute.Load() != m {
			sl.reset()
			sl.minute.Store(m)
		}
		a.mu.Unlock()
	}
	sl.requests.Add(1)
	switch {
	case status >= 500:
		sl.serve.Add(1)
		if status == 502 {
			sl.s502.Add(1)
		} else if status == 504 {
			sl.s504.Add(1)
		}
	case status >= 400:
		sl.client.Add(1)
	default:
		sl.ok.Add(1)
	}
	us := latency.Microseconds()
	sl.latencyUS.Add(us)
	if in != 0 { // most requests have no body
		sl.in.Add(in)
	}
	sl.out.Add(out)
	i, _ := slices.BinarySearch(statBuckets, us) // the first bucket >= us
	sl.hist[i].Add(1)
}

func (sl *minuteSlot) reset() {
	for _, c := range []*atomic.Int64{&sl.requests, &sl.ok, &sl.client, &sl.serve, &sl.s502, &sl.s504, &sl.latencyUS, &sl.in, &sl.out} {
		c.Store(0)
	}
	for i := range sl.hist {
		sl.hist[i].Store(0)
	}
}

// StatPoint is one minute of traffic.
type StatPoint struct {
	Time         config.Time `json:"time"`
	Requests     int64       `json:"requests"`
	Successes    int64       `json:"successes"`
	ClientErrors int64       `json:"client_errors"`
	ServerErrors int64       `json:"server_errors"`
	Status502    int64       `json:"status_502"`
	Status504    int64       `json:"status_504"`
	AvgLatencyMS float64     `json:"avg_latency_ms"`
	P99LatencyMS float64     `json:"p99_latency_ms"`
	BytesIn      int64       `json:"bytes_in"`
	BytesOut     int64       `json:"bytes_out"`
}

// Query sums the APIs that match (empty fields match all) into one point
// per minute over the last window, oldest first; minutes without traffic
// are zero points.
func (s *Stats) Query(service, env, api string, window time.Duration) []StatPoint {
	minutes := int64(window / time.Minute)
	minutes = max(1, min(minutes, StatsMinutes))
	now := s.now().Unix() / 60
	s.mu.Lock()
	var sel []*APIStats
	for k, a := range s.apis {
		if (service == "" || k[0] == service) && (env == "" || k[1] == env) && (api == "" || k[2] == api) {
			sel = append(sel, a)
		}
	}
	s.mu.Unlock()
	out := make([]StatPoint, 0, minutes)
	for m := now - minutes + 1; m <= now; m++ {
		p := StatPoint{Time: config.At(time.Unix(m*60, 0))}
		var latency int64
		var hist [24]int64
		for _, a := range sel {
			sl := &a.slots[m%StatsMinutes]
			if sl.minute.Load() != m {
				continue
			}
			p.Requests += sl.requests.Load()
			p.Successes += sl.ok.Load()
			p.ClientErrors += sl.client.Load()
			p.ServerErrors += sl.serve.Load()
			p.Status502 += sl.s502.Load()
			p.Status504 += sl.s504.Load()
			p.BytesIn += sl.in.Load()
			p.BytesOut += sl.out.Load()
			latency += sl.latencyUS.Load()
			for i := range hist {
				hist[i] += sl.hist[i].Load()
			}
		}
		if p.Requests > 0 {
			p.AvgLatencyMS = math.Round(float64(latency)/float64(p.Requests)) / 1000
			need := (p.Requests*99 + 99) / 100 // the request at the 99th percentile
			var seen int64
			for i, n := range hist {
				if seen += n; seen >= need {
					edge := statBuckets[i]
					if edge == math.MaxInt64 {
						edge = statBuckets[len(statBuckets)-2]
					}
					p.P99LatencyMS = float64(edge) / 1000
					break
				}
			}
		}
		out = append(out, p)
	}
	return out
}
