package proxy

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/h1"
)

// AccessLog writes one JSON object a line per request (SPEC 5). Lines are
// built without a lock in pooled buffers; only the append to the shared
// buffered writer is serialized, and the writer is flushed every
// flushInterval and on Close, so a busy node does not pay a write(2) per
// request.
type AccessLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	out  io.Writer
	pool sync.Pool
	stop chan struct{}
	done chan struct{}
}

const flushInterval = time.Second

// NewAccessLog starts a log writing to out.
func NewAccessLog(out io.Writer) *AccessLog {
	l := &AccessLog{
		w:    bufio.NewWriterSize(out, 64<<10),
		out:  out,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		pool: sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }},
	}
	go l.flusher()
	return l
}

func (l *AccessLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			_ = l.w.Flush()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// Close flushes what is buffered and stops the flusher.
func (l *AccessLog) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Log writes the line of one finished exchange.
func (l *AccessLog) Log(hx *h1.Exchange, x *exchange) {
	bp := l.pool.Get().(*[]byte)
	b := (*bp)[:0]
	now := time.Now()
	b = append(b, `{"time":"`...)
	b = x.start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","request_id":"`...)
	b = append(b, x.reqID...)
	b = append(b, '"')
	var svc, env, api string
	if x.api != nil {
		svc, env, api = x.api.ServiceID, x.api.Environment, x.api.ID
	}
	b = appendField(b, "service_id", svc)
	b = appendField(b, "environment", env)
	b = appendField(b, "api_id", api)
	b = appendField(b, "host", b2s(x.host))
	b = appendField(b, "method", b2s(hx.Req.Method))
	b = appendField(b, "uri", b2s(hx.Req.Target))
	scheme := "http"
	if hx.IsTLS() {
		scheme = "https"
	}
	b = appendField(b, "scheme", scheme)
	b = appendInt(b, "status", int64(hx.Status))
	b = appendInt(b, "upstream_status", int64(x.upStatus))
	b = appendField(b, "upstream_addr", x.upstreamAddr)
	var ipBuf [64]byte
	b = appendField(b, "client_ip", b2s(appendClientIP(ipBuf[:0], hx.RemoteAddr())))
	b = appendInt(b, "request_length", hx.Body.N())
	b = appendInt(b, "response_length", hx.Written)
	b = appendSeconds(b, "request_time", now.Sub(x.start))
	b = appendSeconds(b, "upstream_connect_time", x.connectTime)
	b = appendSeconds(b, "upstream_header_time", x.headerTime)
	b = appendSeconds(b, "upstream_response_time", x.responseTime)
	b = appendField(b, "app_id", "")
	b = appendField(b, "error", x.errMsg)
	b = append(b, "}\n"...)
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
	*bp = b
	l.pool.Put(bp)
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, `,"`...)
	b = append(b, k...)
	b = append(b, `":`...)
	return appendJSONString(b, v)
}

func appendInt(b []byte, k string, v int64) []byte {
	b = append(b, `,"`...)
	b = append(b, k...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, v, 10)
}

func appendSeconds(b []byte, k string, d time.Duration) []byte {
	b = append(b, `,"`...)
	b = append(b, k...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, d.Seconds(), 'f', 3, 64)
}
