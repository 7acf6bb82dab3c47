package proxy

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
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
func (l *AccessLog) Log(ctx *fasthttp.RequestCtx, x *exchange) {
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
	b = appendField(b, "method", b2s(ctx.Method()))
	uri := x.uri
	if uri == nil {
		uri = ctx.RequestURI()
	}
	b = appendField(b, "uri", b2s(uri))
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	b = appendField(b, "scheme", scheme)
	b = appendInt(b, "status", int64(ctx.Response.StatusCode()))
	b = appendInt(b, "upstream_status", int64(x.upStatus))
	b = appendField(b, "upstream_addr", x.upstreamAddr)
	var ipBuf [64]byte
	b = appendField(b, "client_ip", b2s(appendClientIP(ipBuf[:0], ctx.RemoteAddr())))
	b = appendInt(b, "request_length", int64(x.requestLength(ctx)))
	b = appendInt(b, "response_length", int64(responseLength(&ctx.Response)))
	b = appendSeconds(b, "request_time", now.Sub(x.start))
	b = appendSeconds(b, "upstream_connect_time", x.connectTime)
	b = appendSeconds(b, "upstream_header_time", x.headerTime)
	b = appendSeconds(b, "upstream_response_time", x.headerTime)
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

// requestLength is the request body's size: the declared length, the bytes
// counted for a chunked body, or 0 (fasthttp reports -2 for "no body").
func (x *exchange) requestLength(ctx *fasthttp.RequestCtx) int {
	if n := ctx.Request.Header.ContentLength(); n >= 0 {
		return n
	}
	if x.bodyLimit != nil {
		return x.bodyLimit.read
	}
	return 0
}

// responseLength is the body's size: known for a buffered body; for a
// streamed one the declared length, or 0 while a chunked one is unknown.
func responseLength(r *fasthttp.Response) int {
	if !r.IsBodyStream() {
		return len(r.Body())
	}
	return max(r.Header.ContentLength(), 0)
}
