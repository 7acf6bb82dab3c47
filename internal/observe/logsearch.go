package observe

import (
	"bytes"
	"strconv"
	"sync"
	"time"
)

// LogRing keeps the newest access-log entries of this node in memory for
// GET /api/v1/logs: a fixed number of entries, the oldest evicted. Only
// the access log's writer goroutine adds to it, so requests never wait on
// it; searches take its lock briefly per entry scanned.
type LogRing struct {
	mu      sync.RWMutex
	entries []LogEntry
	next    int
	full    bool
}

// LogEntry is one access-log line with the fields searches filter on.
type LogEntry struct {
	Time              time.Time
	Service, Env, API string
	Status            int
	// Line is the JSON line, without its newline. The request id and the
	// client address are read from it when a search asks for them, so that
	// keeping an entry costs the request no allocation.
	Line []byte
}

// NewLogRing keeps up to size entries (at least 1).
func NewLogRing(size int) *LogRing {
	return &LogRing{entries: make([]LogEntry, max(size, 1))}
}

// Add keeps a copy of e, evicting the oldest entry when full.
func (r *LogRing) Add(e LogEntry) {
	r.mu.Lock()
	old := &r.entries[r.next]
	buf := old.Line[:0]
	*old = e
	old.Line = append(buf, e.Line...)
	r.next++
	if r.next == len(r.entries) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// LogQuery selects entries; zero fields match everything.
type LogQuery struct {
	From, To  time.Time
	RequestID string
	ServiceID string
	APIID     string
	Env       string
	ClientIP  string
	// Status is a code ("502") or a class ("5xx").
	Status string
	// Keyword must appear in the line.
	Keyword string
	Limit   int
	Offset  int
}

// Search returns the matching lines, newest first, one page of them, and
// how many match in all.
func (r *LogRing) Search(q LogQuery) ([][]byte, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := r.next
	if r.full {
		n = len(r.entries)
	}
	var out [][]byte
	total := 0
	kw := []byte(q.Keyword)
	for i := 0; i < n; i++ {
		idx := r.next - 1 - i
		if idx < 0 {
			idx += len(r.entries)
		}
		e := &r.entries[idx]
		if !q.match(e, kw) {
			continue
		}
		if total >= q.Offset && len(out) < q.Limit {
			out = append(out, bytes.Clone(e.Line))
		}
		total++
	}
	return out, total
}

// jsonString returns the value that follows key (`"name":"`) in an
// access-log line, up to its closing quote. The line is the gateway's own:
// the request id and client address hold no escaped quotes.
func jsonString(line []byte, key string) []byte {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return nil
	}
	v := line[i+len(key):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

func (q *LogQuery) match(e *LogEntry, kw []byte) bool {
	switch {
	case !q.From.IsZero() && e.Time.Before(q.From),
		!q.To.IsZero() && e.Time.After(q.To),
		q.RequestID != "" && string(jsonString(e.Line, `"request_id":"`)) != q.RequestID,
		q.ServiceID != "" && e.Service != q.ServiceID,
		q.APIID != "" && e.API != q.APIID,
		q.Env != "" && e.Env != q.Env,
		q.ClientIP != "" && string(jsonString(e.Line, `"client_ip":"`)) != q.ClientIP,
		len(kw) > 0 && !bytes.Contains(e.Line, kw):
		return false
	}
	if s := q.Status; s != "" {
		if len(s) == 3 && (s[1] == 'x' || s[1] == 'X') {
			return e.Status/100 == int(s[0]-'0')
		}
		code, err := strconv.Atoi(s)
		return err == nil && e.Status == code
	}
	return true
}
