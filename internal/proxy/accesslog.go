package proxy

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/observe"
)

// AccessLog writes one JSON object a line per request (SPEC 5). Lines are
// built in pooled buffers by the request's goroutine and handed to one
// writer goroutine through a bounded queue, so a slow disk never blocks a
// request: when the queue is full the line is dropped and counted
// (Dropped), never silently lost. The writer is not woken per line: it
// drains the queue every drainInterval (a send to a channel nobody waits
// on costs no goroutine switch, which a busy single-core node would
// otherwise pay per request), and flushes every flushInterval and on
// Close, so a busy node does not pay a write(2) per request either.
type AccessLog struct {
	w       *bufio.Writer
	out     io.Writer
	path    string // a file reopened on Reopen; "" for other writers
	reopen  chan chan error
	lines   chan *logLine
	ring    *observe.LogRing
	pool    sync.Pool
	done    chan struct{}
	dropped atomic.Uint64
	once    sync.Once
	closed  atomic.Bool
	err     error
}

const (
	drainInterval = 10 * time.Millisecond
	flushInterval = time.Second
	// queueLines bounds the lines waiting for the writer.
	queueLines = 8192
)

// NewAccessLog starts a log writing to out.
func NewAccessLog(out io.Writer) *AccessLog {
	l := &AccessLog{
		w:      bufio.NewWriterSize(out, 64<<10),
		out:    out,
		reopen: make(chan chan error),
		lines:  make(chan *logLine, queueLines),
		done:   make(chan struct{}),
		pool:   sync.Pool{New: func() any { return &logLine{b: make([]byte, 0, 1024)} }},
	}
	go l.writer()
	return l
}

func (l *AccessLog) writer() {
	defer close(l.done)
	drain := time.NewTicker(drainInterval)
	defer drain.Stop()
	lastFlush := time.Now()
	for {
		select {
		case done := <-l.reopen:
			done <- l.reopenFile()
			continue
		case <-drain.C:
		}
		for {
			select {
			case bp := <-l.lines:
				if bp == nil { // Close
					l.err = l.w.Flush()
					return
				}
				l.write(bp)
				l.pool.Put(bp)
				continue
			default:
			}
			break
		}
		if now := time.Now(); now.Sub(lastFlush) >= flushInterval {
			_ = l.w.Flush()
			lastFlush = now
		}
	}
}

// OpenAccessLogFile starts a log appending to the file at path, which
// Reopen opens again (after logrotate moved it).
func OpenAccessLogFile(path string) (*AccessLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	l := NewAccessLog(f)
	l.path = path
	return l, nil
}

// Reopen writes out what is queued to the current file and continues in a
// newly opened file at the same path (on SIGHUP, after logrotate). Lines
// are not lost: the writer switches between two lines.
func (l *AccessLog) Reopen() error {
	if l.path == "" {
		return nil
	}
	done := make(chan error, 1)
	select {
	case l.reopen <- done:
		return <-done
	case <-l.done:
		return nil
	}
}

// reopenFile flushes what the writer holds to the old file and switches
// to a new one; lines still queued go to the new file.
func (l *AccessLog) reopenFile() error {
	if err := l.w.Flush(); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err // keep writing to the old file rather than lose lines
	}
	if c, ok := l.out.(io.Closer); ok {
		_ = c.Close()
	}
	l.out = f
	l.w.Reset(f)
	return nil
}

// logLine is one line on its way to the writer, with what the log ring
// filters on.
type logLine struct {
	b     []byte
	entry observe.LogEntry
}

// KeepRecent makes the log keep its newest lines in ring for searching.
// Call it before the first line is logged.
func (l *AccessLog) KeepRecent(ring *observe.LogRing) { l.ring = ring }

// Dropped is the number of lines dropped because the writer fell behind.
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// Close writes what is queued, flushes and stops the writer. Lines logged
// after it are counted as dropped.
func (l *AccessLog) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		l.lines <- nil
	})
	<-l.done
	if c, ok := l.out.(io.Closer); ok && l.path != "" {
		_ = c.Close()
	}
	return l.err
}

// write is the writer's work for one line.
func (l *AccessLog) write(bp *logLine) {
	_, _ = l.w.Write(bp.b)
	if l.ring != nil {
		bp.entry.Line = bp.b[:len(bp.b)-1]
		l.ring.Add(bp.entry)
	}
}

// Log writes the line of one exchange, which finished at end.
func (l *AccessLog) Log(hx *h1.Exchange, x *exchange, end time.Time) {
	bp := l.pool.Get().(*logLine)
	bp.b = appendLine(bp.b[:0], hx, x, end)
	if l.ring != nil {
		var svc, env, api string
		if x.api != nil {
			svc, env, api = x.api.ServiceID, x.api.Environment, x.api.ID
		}
		// The ids come from the snapshot and outlive the request; the
		// request id and client address are read back from the line.
		bp.entry = observe.LogEntry{Time: x.start, Service: svc, Env: env, API: api, Status: hx.Status}
	}
	l.send(bp)
}

// appendLine appends the JSON line of an exchange that ended at now. Each
// key is written with its punctuation as one constant: a line is built for
// every request.
func appendLine(b []byte, hx *h1.Exchange, x *exchange, now time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = appendTime(b, x.start)
	b = append(b, `","request_id":"`...)
	b = append(b, x.reqID...) // validated: no characters that need escaping
	var svc, env, api string
	if x.api != nil {
		svc, env, api = x.api.ServiceID, x.api.Environment, x.api.ID
	}
	b = appendField(b, `","service_id":`, svc)
	b = appendField(b, `,"environment":`, env)
	b = appendField(b, `,"api_id":`, api)
	b = appendField(b, `,"host":`, b2s(x.host))
	b = appendField(b, `,"method":`, b2s(hx.Req.Method))
	b = appendField(b, `,"uri":`, b2s(hx.Req.Target))
	if x.tls {
		b = append(b, `,"scheme":"https"`...)
	} else {
		b = append(b, `,"scheme":"http"`...)
	}
	b = appendInt(b, `,"status":`, int64(hx.Status))
	b = appendInt(b, `,"upstream_status":`, int64(x.upStatus))
	b = appendField(b, `,"upstream_addr":`, x.upstreamAddr)
	if x.clientIP.IsValid() && x.clientIP.Zone() == "" {
		b = append(b, `,"client_ip":"`...)
		b = x.clientIP.AppendTo(b) // digits, dots, colons and hex only
		b = append(b, '"')
	} else if x.clientIP.IsValid() {
		var ipBuf [64]byte
		b = appendField(b, `,"client_ip":`, b2s(x.clientIP.AppendTo(ipBuf[:0])))
	} else {
		var ipBuf [64]byte
		b = appendField(b, `,"client_ip":`, b2s(appendClientIP(ipBuf[:0], hx.RemoteAddr())))
	}
	b = appendInt(b, `,"request_length":`, hx.Body.N())
	b = appendInt(b, `,"response_length":`, hx.Written)
	b = appendSeconds(b, `,"request_time":`, now.Sub(x.start))
	b = appendSeconds(b, `,"upstream_connect_time":`, x.connectTime)
	b = appendSeconds(b, `,"upstream_header_time":`, x.headerTime)
	b = appendSeconds(b, `,"upstream_response_time":`, x.responseTime)
	b = appendField(b, `,"app_id":`, x.appID)
	b = appendField(b, `,"error":`, x.errMsg)
	return append(b, "}\n"...)
}

// send queues a line for the writer without ever waiting for it: a full
// queue drops the line and counts it.
func (l *AccessLog) send(bp *logLine) {
	if l.closed.Load() {
		l.dropped.Add(1)
		return
	}
	select {
	case l.lines <- bp:
	default:
		l.dropped.Add(1)
		l.pool.Put(bp)
	}
}

// appendField appends key (with its quotes, colon and leading comma) and v
// as a JSON string.
func appendField(b []byte, key, v string) []byte {
	return appendJSONString(append(b, key...), v)
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

// appendSeconds writes d in seconds with millisecond precision, as
// integers: strconv's float formatting is a measurable part of a log line.
func appendSeconds(b []byte, key string, d time.Duration) []byte {
	b = append(b, key...)
	if d < 0 {
		d = 0
	}
	ms := int64((d + 500*time.Microsecond) / time.Millisecond)
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendTime writes t in UTC as RFC 3339 with milliseconds, the form of
// every timestamp the gateway writes. The part up to the second is
// formatted once a second and reused: time formatting is the costliest
// field of a line.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	c := timeCache.Load()
	if c == nil || c.sec != sec {
		c = &cachedSecond{sec: sec, text: t.Truncate(time.Second).AppendFormat(nil, "2006-01-02T15:04:05")}
		timeCache.Store(c)
	}
	b = append(b, c.text...)
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

type cachedSecond struct {
	sec  int64
	text []byte
}

var timeCache atomic.Pointer[cachedSecond]
