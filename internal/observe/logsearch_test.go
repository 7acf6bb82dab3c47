package observe

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLogRingEvictsOldestAndFilters(t *testing.T) {
	r := NewLogRing(3)
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		r.Add(LogEntry{Time: t0.Add(time.Duration(i) * time.Second),
			Status: 200 + i, Line: []byte(`{"n":` + strconv.Itoa(i) + `,"request_id":"` + strconv.Itoa(i) + `","client_ip":"10.0.0.` + strconv.Itoa(i) + `"}`)})
	}
	lines, total := r.Search(LogQuery{Limit: 10})
	if total != 3 || !strings.HasPrefix(string(lines[0]), `{"n":4,`) || !strings.HasPrefix(string(lines[2]), `{"n":2,`) {
		t.Fatalf("want the newest 3, newest first: %q (%d)", lines, total)
	}
	if _, total := r.Search(LogQuery{RequestID: "1", Limit: 10}); total != 0 {
		t.Fatal("an evicted entry was found")
	}
	if _, total := r.Search(LogQuery{RequestID: "3", Limit: 10}); total != 1 {
		t.Fatal("request id")
	}
	if _, total := r.Search(LogQuery{ClientIP: "10.0.0.4", Limit: 10}); total != 1 {
		t.Fatal("client ip")
	}
	if _, total := r.Search(LogQuery{ClientIP: "10.0.0.", Limit: 10}); total != 0 {
		t.Fatal("a client ip matches whole, not as a prefix")
	}
	if lines, total := r.Search(LogQuery{Status: "2xx", From: t0.Add(3 * time.Second), Limit: 1, Offset: 1}); total != 2 || !strings.HasPrefix(string(lines[0]), `{"n":3,`) {
		t.Fatalf("class + from + paging: %q (%d)", lines, total)
	}
	if _, total := r.Search(LogQuery{Status: "201", Limit: 10}); total != 0 {
		t.Fatal("status 201 belongs to an evicted entry")
	}
	if _, total := r.Search(LogQuery{Keyword: `"n":4`, Limit: 10}); total != 1 {
		t.Fatal("keyword")
	}
}
