package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/observe"
)

// searchLogs answers GET /api/v1/logs: this node's recent access-log
// entries that match every filter given, newest first, paged.
func (s *server) searchLogs(w http.ResponseWriter, r *http.Request) {
	if s.logs == nil {
		writeJSON(w, http.StatusOK, newList([]json.RawMessage{}, 0))
		return
	}
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := r.URL.Query()
	q := observe.LogQuery{
		RequestID: v.Get("request_id"), ServiceID: v.Get("service_id"), APIID: v.Get("api_id"),
		Env: v.Get("environment"), ClientIP: v.Get("client_ip"), Status: v.Get("status"), Keyword: v.Get("q"),
		Limit: p.Limit, Offset: p.Offset,
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if raw := v.Get(t.name); raw != "" {
			if *t.dst, err = time.Parse(time.RFC3339Nano, raw); err != nil {
				s.writeError(w, r, badRequest(t.name, t.name+" must be an RFC 3339 time such as 2026-11-30T10:00:00Z"))
				return
			}
		}
	}
	if st := q.Status; st != "" {
		code, err := strconv.Atoi(st)
		class := len(st) == 3 && st[0] >= '1' && st[0] <= '5' && (st[1:] == "xx" || st[1:] == "XX")
		if !class && (err != nil || code < 100 || code > 999) {
			s.writeError(w, r, badRequest("status", "status must be a code such as 502 or a class such as 5xx"))
			return
		}
	}
	lines, total := s.logs.Search(q)
	items := make([]json.RawMessage, len(lines))
	for i, l := range lines {
		items[i] = l
	}
	writeJSON(w, http.StatusOK, newList(items, total))
}

// getStats answers GET /api/v1/stats: per-minute points over the window
// (at most an hour, default an hour) for the APIs that match service_id,
// environment and api_id (all optional).
func (s *server) getStats(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	window := time.Duration(observe.StatsMinutes) * time.Minute
	if raw := v.Get("window"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Minute || d > window {
			s.writeError(w, r, badRequest("window", "window must be a duration from 1m to 60m, such as 15m"))
			return
		}
		window = d
	}
	var points []observe.StatPoint
	if s.stats != nil {
		points = s.stats.Query(v.Get("service_id"), v.Get("environment"), v.Get("api_id"), window)
	}
	if points == nil {
		points = []observe.StatPoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"window": window.String(), "points": points})
}
