package observe

import (
	"testing"
	"time"
)

func TestStatsPerMinute(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	s := NewStats()
	s.now = func() time.Time { return now }
	a := s.ForAPI("svc", "release", "api-1")
	b := s.ForAPI("svc", "test", "api-2")
	if s.ForAPI("svc", "release", "api-1") != a {
		t.Fatal("ForAPI must return the same statistics")
	}
	for range 98 {
		a.Record(200, 2*time.Millisecond, 10, 100)
	}
	a.Record(404, time.Millisecond, 0, 50)
	a.Record(502, 900*time.Millisecond, 0, 60)
	now = now.Add(time.Minute)
	b.Record(504, time.Second, 5, 0)

	pts := s.Query("svc", "", "", 5*time.Minute)
	if len(pts) != 5 {
		t.Fatalf("%d points for 5 minutes", len(pts))
	}
	p := pts[3] // the first minute
	if p.Requests != 100 || p.Successes != 98 || p.ClientErrors != 1 || p.ServerErrors != 1 || p.Status502 != 1 {
		t.Fatalf("first minute %+v", p)
	}
	if p.BytesIn != 980 || p.BytesOut != 9910 {
		t.Fatalf("bytes %+v", p)
	}
	if p.AvgLatencyMS < 10 || p.AvgLatencyMS > 12 || p.P99LatencyMS < 2 || p.P99LatencyMS > 4 {
		t.Fatalf("latency avg %v p99 %v (99 of 100 took at most 2 ms)", p.AvgLatencyMS, p.P99LatencyMS)
	}
	if last := pts[4]; last.Requests != 1 || last.Status504 != 1 {
		t.Fatalf("second minute %+v", last)
	}
	if only := s.Query("", "release", "", time.Minute); only[0].Requests != 0 {
		t.Fatalf("filter by environment: %+v", only)
	}
	// An hour later the old minute's slot is reused, not added to.
	now = now.Add(time.Hour)
	a.Record(200, time.Millisecond, 0, 0)
	if p := s.Query("", "", "api-1", time.Minute)[0]; p.Requests != 1 {
		t.Fatalf("a reused slot kept old counts: %+v", p)
	}
}
