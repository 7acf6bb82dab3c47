package observe

import (
	"testing"
	"time"
)

// The per-request costs of observability, each alone: the request path pays
// them after every answer when metrics and statistics are on.

func BenchmarkMetricsObserve(b *testing.B) {
	a := New(Options{}).ForAPI("svc-1", "release", "api-1")
	b.ReportAllocs()
	for i := range b.N {
		a.Observe(200, time.Duration(500+i%4096)*time.Microsecond, 300*time.Microsecond, 0, 13, 0)
	}
}

func BenchmarkStatsRecord(b *testing.B) {
	a := NewStats().ForAPI("svc-1", "release", "api-1")
	b.ReportAllocs()
	for i := range b.N {
		a.Record(200, time.Duration(500+i%4096)*time.Microsecond, 0, 13)
	}
}

func BenchmarkLogRingAdd(b *testing.B) {
	r := NewLogRing(10000)
	line := make([]byte, 420)
	e := LogEntry{Time: time.Now(), Service: "svc-1", Env: "release", API: "api-1", Status: 200, Line: line}
	b.ReportAllocs()
	for range b.N {
		r.Add(e)
	}
}
