package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// loadGen sends GET requests through a gateway from a few goroutines until
// stopped, bounded in count and time so that it always ends by itself.
type loadGen struct {
	g     *gateway
	paths []string
	// judge says what is wrong with an answer ("" when it is fine).
	judge func(path string, r reply, err error) string

	stop     atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	ok, bad  int64
	failures []string
	lat      []time.Duration
}

// loadLimits bound every load: per worker and in time.
const (
	loadMaxPerWorker = 50000
	loadHardLimit    = 40 * time.Second
)

// okJudge accepts only a 200.
func okJudge(path string, r reply, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("GET %s: %v", path, err)
	case r.status != http.StatusOK:
		return fmt.Sprintf("GET %s: %s", path, r)
	}
	return ""
}

// startLoad starts workers goroutines, worker w sending to paths[(w+i) %
// len(paths)] on its i-th request.
func startLoad(g *gateway, workers int, judge func(string, reply, error) string, paths ...string) *loadGen {
	l := &loadGen{g: g, paths: paths, judge: judge}
	deadline := time.Now().Add(loadHardLimit)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var lat []time.Duration
			defer func() {
				l.mu.Lock()
				l.lat = append(l.lat, lat...)
				l.mu.Unlock()
			}()
			for i := 0; i < loadMaxPerWorker && !l.stop.Load() && time.Now().Before(deadline); i++ {
				path := paths[(w+i)%len(paths)]
				req, _ := http.NewRequest(http.MethodGet, g.url(path), nil)
				start := time.Now()
				r, err := g.try(req)
				lat = append(lat, time.Since(start))
				l.record(l.judge(path, r, err))
			}
		}()
	}
	return l
}

func (l *loadGen) record(failure string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failure == "" {
		l.ok++
		return
	}
	l.bad++
	if len(l.failures) < 10 {
		l.failures = append(l.failures, failure)
	}
}

// loadResult is what a load saw.
type loadResult struct {
	OK, Failed int64
	Failures   []string // the first ones
	P50, P99   time.Duration
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests, %d failed, p50 %v, p99 %v", r.OK+r.Failed, r.Failed,
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
}

// Stop ends the load, waits for its workers and sums up.
func (l *loadGen) Stop() loadResult {
	l.stop.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
	res := loadResult{OK: l.ok, Failed: l.bad, Failures: l.failures}
	if n := len(l.lat); n > 0 {
		res.P50, res.P99 = l.lat[n/2], l.lat[n*99/100]
	}
	return res
}
