package proxy

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/snapshot"
)

// benchExchange is a typical proxied request as the access log sees it.
func benchExchange() (*h1.Exchange, *exchange) {
	hx := &h1.Exchange{Status: 200, Written: 13}
	hx.Req.Method = []byte("GET")
	hx.Req.Target = []byte("/hello?name=world&page=2")
	x := &exchange{
		start:        time.Now(),
		api:          &snapshot.API{ID: "api-0123456789abcdef", ServiceID: "svc-0123456789abcdef", Environment: "release"},
		reqID:        []byte("5f3c2a1b9e8d7c6f-000000000000a1b2"),
		host:         []byte("api.example.com"),
		upstreamAddr: "127.0.0.1:18001",
		clientIP:     netip.MustParseAddr("192.0.2.17"),
		upStatus:     200,
		connectTime:  0,
		headerTime:   310 * time.Microsecond,
		responseTime: 420 * time.Microsecond,
	}
	return hx, x
}

// BenchmarkAccessLogLine is building one line, the part of the access log
// that the request's goroutine pays.
func BenchmarkAccessLogLine(b *testing.B) {
	hx, x := benchExchange()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for range b.N {
		buf = appendLine(buf[:0], hx, x, x.start.Add(450*time.Microsecond))
	}
}

// BenchmarkAccessLogWrite is the writer's part per line: into the 64 KiB
// buffer of a file (with its write(2) every 64 KiB) and, with a ring,
// into the log-search ring.
func BenchmarkAccessLogWrite(b *testing.B) {
	for _, ring := range []bool{false, true} {
		name := "file"
		if ring {
			name = "file+ring"
		}
		b.Run(name, func(b *testing.B) {
			l, err := OpenAccessLogFile(filepath.Join(b.TempDir(), "access.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if ring {
				l.KeepRecent(observe.NewLogRing(10000))
			}
			hx, x := benchExchange()
			bp := &logLine{b: appendLine(nil, hx, x, x.start.Add(450*time.Microsecond))}
			bp.entry = observe.LogEntry{Time: x.start, Service: x.api.ServiceID, Env: x.api.Environment, API: x.api.ID, Status: 200}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				l.write(bp)
			}
		})
	}
}

// syncLog is an access log to a file whose writer's work the benchmark
// does itself (drain), so that one goroutine pays, and ns/op shows, both
// sides of a line.
func syncLog(b *testing.B, ring bool) *AccessLog {
	f, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	l := &AccessLog{w: bufio.NewWriterSize(f, 64<<10), out: f, lines: make(chan *logLine, queueLines),
		pool: sync.Pool{New: func() any { return &logLine{b: make([]byte, 0, 1024)} }}}
	if ring {
		l.KeepRecent(observe.NewLogRing(10000))
	}
	return l
}

func drain(l *AccessLog) {
	for {
		select {
		case bp := <-l.lines:
			l.write(bp)
			l.pool.Put(bp)
		default:
			return
		}
	}
}

// BenchmarkAccount is what a request pays after its answer for being
// counted and logged: metrics and per-minute statistics, the access log
// (line, queue and the writer's share: the file's buffer and write(2)),
// and all of them with the log-search ring, as the gateway runs by
// default.
func BenchmarkAccount(b *testing.B) {
	for _, c := range []struct {
		name                    string
		metrics, stats, log, rg bool
	}{
		{"metrics+stats", true, true, false, false},
		{"log", false, false, true, false},
		{"observed", true, true, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			hx, x := benchExchange()
			p := &Proxy{}
			if c.metrics {
				p.metrics = observe.New(observe.Options{})
				x.api.Metrics = p.metrics.ForAPI(x.api.ServiceID, x.api.Environment, x.api.ID)
			}
			if c.stats {
				x.api.Stats = observe.NewStats().ForAPI(x.api.ServiceID, x.api.Environment, x.api.ID)
			}
			if c.log {
				p.acc = syncLog(b, c.rg)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p.account(hx, x)
				if p.acc != nil && i%1024 == 1023 {
					drain(p.acc)
				}
			}
		})
	}
}
