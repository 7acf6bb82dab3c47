package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var syscallEMFILE = syscall.EMFILE

// Handler serves the exchanges of a Server.
type Handler interface {
	// ServeH1 answers x. It may read x.Body, must write one response head
	// (StartResponse ... EndHead) unless it hijacks the connection, and may
	// write a body.
	ServeH1(x *Exchange)
	// RejectH1 answers a request that could not be read or served (err
	// carries the status); the connection closes afterwards.
	RejectH1(x *Exchange, err *Error)
}

// ErrAbortHandler, panicked by a handler, ends the exchange and closes the
// connection without logging a stack trace (as in net/http).
var ErrAbortHandler = errors.New("h1: abort handler")

// Server serves HTTP/1.1 on listeners.
type Server struct {
	Handler Handler
	// ReadTimeout bounds reading one request head, and the silence between
	// two reads of a request body.
	ReadTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection.
	IdleTimeout time.Duration
	// WriteTimeout bounds the silence of a client that does not read what
	// it is sent.
	WriteTimeout time.Duration
	// Log gets panics and accept errors.
	Log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	hijacked  map[net.Conn]struct{}
	shutting  atomic.Bool
}

// Connection states, for shutdown.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// Bounds of what is read and thrown away of a request body the handler did
// not read: a small one is discarded so the connection can be reused; past
// discardBytes the connection is closed after a lingering read, so that the
// client's kernel does not reset the connection before the answer is read.
const (
	discardBytes = 64 << 10
	lingerTime   = 5 * time.Second
	lingerBytes  = 64 << 20
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

// init makes the maps; s.mu must be held.
func (s *Server) init() {
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
		s.hijacked = map[net.Conn]struct{}{}
	}
}

// ServeConn serves one connection accepted elsewhere (a TLS handshake
// done by the TLS front end, a bridged HTTP/2 stream) until it closes.
// Shutdown drains it like the connections of Serve; one handed over while
// shutting down is served one exchange, answered with Connection: close.
func (s *Server) ServeConn(nc net.Conn) {
	c := &conn{s: s, nc: nc, tls: isTLS(nc)}
	if r, ok := nc.(PeerRelay); ok && r.RelaysPeers() {
		c.relay = true
	}
	s.mu.Lock()
	s.init()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.serve()
}

// Serve accepts connections on ln until it is closed or Shutdown is called.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.init()
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				if s.Log != nil {
					s.Log.Warn("accept failed; retrying", "error", err, "in", backoff)
				}
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := &conn{s: s, nc: nc}
		c.tls = isTLS(nc)
		s.mu.Lock()
		if s.shutting.Load() {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// TLSMarker is implemented by connections that carry a request received
// over TLS although they are not a *tls.Conn themselves (the HTTP/2 front
// end hands its streams to this engine over such connections).
type TLSMarker interface{ ViaTLS() bool }

func isTLS(nc net.Conn) bool {
	if _, ok := nc.(*tls.Conn); ok {
		return true
	}
	m, ok := nc.(TLSMarker)
	return ok && m.ViaTLS()
}

// Shutdown stops accepting, closes idle connections, lets exchanges in
// flight finish (their answers carry Connection: close) and waits for them
// and for hijacked connections until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.state.CompareAndSwap(stateIdle, stateClosed) {
				c.nc.Close()
			}
		}
		left := len(s.conns) + len(s.hijacked)
		s.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.nc.Close()
			}
			for nc := range s.hijacked {
				nc.Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// conn is one client connection. Its reads and writes go through dc,
// which keeps the deadlines; during a request body and a response they
// slide, so that a timeout bounds silence, not the length of a stream.
type conn struct {
	s      *Server
	nc     net.Conn
	dc     DeadlineConn
	tls    bool
	relay  bool // a PeerRelay connection
	br     *bufio.Reader
	bw     *bufio.Writer
	x      Exchange
	state  atomic.Int32
	peeker Peeker
}

// waitRequest waits for the first byte of the next request: up to
// ReadTimeout on a new connection, up to IdleTimeout on a kept-alive one.
// The socket deadline is never set further than ReadTimeout ahead, so that
// on a busy connection the deadline of the wait and that of the head that
// follows are the same and need no change (see DeadlineConn).
func (c *conn) waitRequest(first bool) error {
	s := c.s
	idle := s.IdleTimeout
	if first || idle <= 0 {
		idle = s.ReadTimeout
	}
	start := time.Now()
	step := idle
	if s.ReadTimeout > 0 && s.ReadTimeout < step {
		step = s.ReadTimeout
	}
	for now := start; ; {
		if step > 0 {
			until := now.Add(step)
			if end := start.Add(idle); until.After(end) {
				until = end
			}
			c.dc.SetReadUntilAt(until, now)
		}
		_, err := c.br.Peek(1)
		if err == nil || !isTimeoutErr(err) || step <= 0 {
			return err
		}
		if now = time.Now(); now.Sub(start) >= idle {
			return err
		}
	}
}

func (c *conn) serve() {
	s := c.s
	c.dc.Conn = c.nc
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.dc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(&c.dc)
	c.peeker.Init(c.nc)
	x := &c.x
	x.c = c
	hijacked := false
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		if !hijacked {
			c.nc.Close()
			c.br.Reset(nil)
			readerPool.Put(c.br)
		}
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}()
	first := true
	for {
		c.dc.RSlide, c.dc.WSlide = 0, 0
		if c.br.Buffered() == 0 {
			c.state.Store(stateIdle)
			if s.shutting.Load() {
				return
			}
			if err := c.waitRequest(first); err != nil {
				return
			}
			if !c.state.CompareAndSwap(stateIdle, stateActive) {
				return // closed by Shutdown
			}
		}
		if s.ReadTimeout > 0 {
			now := time.Now()
			c.dc.SetReadUntilAt(now.Add(s.ReadTimeout), now)
		}
		first = false
		x.reset()
		if err := x.Req.Read(c.br); err != nil {
			var he *Error
			if errors.As(err, &he) {
				x.Req.Close = true
				c.reject(he)
				_ = c.bw.Flush()
				c.lingerClose()
			}
			return
		}
		if c.relay {
			x.takePeer()
		}
		c.dc.RSlide, c.dc.WSlide = s.ReadTimeout, s.WriteTimeout
		x.Body.ResetRequest(c.br, &x.Req, 0)
		if x.Req.Expect100 {
			x.Body.BeforeRead = x.sendContinue
		}
		if c.call(x) {
			hijacked = true
			return
		}
		if !x.Body.Done() && !x.Body.Empty() {
			// The handler left part of the body unread. It must not be
			// read as the next request: throw a small rest away, else
			// close. A client still waiting for 100 Continue will not
			// send it at all.
			_ = c.bw.Flush()
			if x.Req.Expect100 && !x.continued || !x.Body.Discard(discardBytes) {
				x.closeAfter = true
			}
		}
		if c.br.Buffered() == 0 || x.closeAfter {
			if err := c.bw.Flush(); err != nil {
				return
			}
		}
		if x.closeAfter {
			if !x.Body.Done() && !x.Body.Empty() {
				c.lingerClose()
			}
			return
		}
	}
}

// call runs the handler, recovering a panic; it reports whether the
// connection was hijacked.
func (c *conn) call(x *Exchange) (hijacked bool) {
	defer func() {
		if r := recover(); r != nil {
			if r != ErrAbortHandler && c.s.Log != nil {
				c.s.Log.Error("panic serving a request", "panic", r, "stack", string(debug.Stack()))
			}
			if x.hijacked {
				hijacked = true
				return
			}
			x.closeAfter = true
			if !x.started {
				c.reject(&Error{Status: 500, Msg: "internal error"})
			}
		}
	}()
	c.s.Handler.ServeH1(x)
	if x.hijacked {
		return true
	}
	if !x.started {
		c.reject(&Error{Status: 500, Msg: "the request was not answered"})
	} else if !x.finished {
		x.closeAfter = true // a body the handler did not end
	}
	return false
}

func (c *conn) reject(e *Error) {
	x := &c.x
	x.closeAfter = true
	c.s.Handler.RejectH1(x, e)
	if !x.started {
		x.StartResponse(e.Status, nil)
		x.EndHead(0, false)
	}
}

// lingerClose half-closes the connection and reads what the client still
// sends for a bounded time before closing it.
func (c *conn) lingerClose() {
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, lingerBytes)
}

// Exchange is one request and its answer on a connection.
type Exchange struct {
	Req  Request
	Body Body

	c          *conn
	started    bool
	finished   bool
	continued  bool
	hijacked   bool
	closeAfter bool
	noBody     bool
	chunked    bool
	untilClose bool
	// Status is the status of the final answer written.
	Status int
	// Written counts the body bytes written to the client.
	Written int64
	// peer is the client's address a PeerRelay connection gave for this
	// request (nil: the connection's).
	peer net.Addr
	// bodyElsewhere: another goroutine reads the body while the answer is
	// written (see ReadBodyConcurrently).
	bodyElsewhere bool
}

// ReadBodyConcurrently tells the exchange that another goroutine reads
// Body while the handler writes the answer (a full-duplex relay), so the
// answer's head does not look at the body's state. The handler must make
// sure that goroutine has stopped reading before it returns.
func (x *Exchange) ReadBodyConcurrently() { x.bodyElsewhere = true }

func (x *Exchange) reset() {
	c := x.c
	req, body := x.Req, x.Body
	*x = Exchange{Req: req, Body: body, c: c}
}

// RemoteAddr is the client's address.
func (x *Exchange) RemoteAddr() net.Addr {
	if x.peer != nil {
		return x.peer
	}
	return x.c.nc.RemoteAddr()
}

// PeerField is the field in which a PeerRelay connection names the client
// of each request. It is honoured on such connections only, and removed
// from the request before the handler sees it.
const PeerField = "Portico-Relay-Peer"

// PeerRelay is implemented by connections that carry the requests of
// other clients (the HTTP/2 front end's bridge): each request names its
// client in PeerField. Only the process itself can write to such a
// connection, so the field is trusted there and nowhere else.
type PeerRelay interface{ RelaysPeers() bool }

// takePeer reads and removes PeerField.
func (x *Exchange) takePeer() {
	f := x.Req.Fields
	for i := range f {
		if !f[i].Is("portico-relay-peer") {
			continue
		}
		if ap, err := netip.ParseAddrPort(string(f[i].Value)); err == nil {
			x.peer = net.TCPAddrFromAddrPort(ap)
		}
		x.Req.Fields = append(f[:i], f[i+1:]...)
		return
	}
}

// IsTLS reports whether the connection is TLS.
func (x *Exchange) IsTLS() bool { return x.c.tls }

// ClientGone reports whether the client closed its connection (or it
// failed), looking at the socket without blocking. Bytes of a next request
// waiting there mean it is still connected.
func (x *Exchange) ClientGone() bool {
	if x.c.br.Buffered() > 0 {
		return false
	}
	_, gone := x.c.peeker.Peek()
	return gone
}

// W is the buffered writer of the connection, for writing header fields
// between StartResponse and EndHead.
func (x *Exchange) W() *bufio.Writer { return x.c.bw }

// Started reports whether the response head was written.
func (x *Exchange) Started() bool { return x.started }

// SetClose makes the connection close after this exchange.
func (x *Exchange) SetClose() { x.closeAfter = true }

// Closing reports whether the connection will close after this exchange.
func (x *Exchange) Closing() bool {
	return x.closeAfter || x.Req.Close || x.c.s.shutting.Load()
}

func (x *Exchange) sendContinue() {
	if x.started || x.continued {
		return
	}
	x.continued = true
	_, _ = x.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	_ = x.c.bw.Flush()
}

// WriteInterim writes a 1xx answer (not 101) to a client that speaks
// HTTP/1.1; HTTP/1.0 clients do not know them and get none.
func (x *Exchange) WriteInterim(status int, reason []byte, fields []Field) {
	if x.started || x.Req.Minor == 0 {
		return
	}
	WriteStatusLine(x.c.bw, status, reason)
	for i := range fields {
		WriteField(x.c.bw, fields[i].Name, fields[i].Value)
	}
	_, _ = x.c.bw.WriteString("\r\n")
	_ = x.c.bw.Flush()
}

// StartResponse writes the status line of the final answer; the caller
// then writes its fields to W() and calls EndHead.
func (x *Exchange) StartResponse(status int, reason []byte) {
	x.started = true
	x.Status = status
	WriteStatusLine(x.c.bw, status, reason)
}

// EndHead writes the framing fields and ends the head. contentLength -1
// means unknown: the body goes chunked to an HTTP/1.1 client and until
// close to an HTTP/1.0 one. With noBody (HEAD, 1xx, 204, 304) no framing
// field is written; the caller relays the node's own.
func (x *Exchange) EndHead(contentLength int64, noBody bool) {
	w := x.c.bw
	x.noBody = noBody || string(x.Req.Method) == "HEAD"
	switch {
	case noBody:
	case contentLength >= 0:
		WriteContentLength(w, contentLength)
	case x.Req.Minor >= 1 && x.Status != 101:
		x.chunked = true
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	default:
		x.untilClose = true
		x.closeAfter = true
	}
	if !x.bodyElsewhere && !x.Body.Done() && !x.Body.Empty() && x.Body.Err() == nil {
		// The body will not be read: say now that the connection closes
		// when the rest is more than the server throws away.
		if x.Req.Expect100 && !x.continued || !x.Req.Chunked && x.Req.ContentLength-x.Body.N() > discardBytes {
			x.closeAfter = true
		}
	}
	switch {
	case x.Status == 101:
	case x.Closing():
		x.closeAfter = true
		_, _ = w.WriteString("Connection: close\r\n")
	case x.Req.Minor == 0:
		// An HTTP/1.0 client that asked for keep-alive must be told it got it.
		_, _ = w.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = w.WriteString("\r\n")
	if noBody || contentLength == 0 {
		x.finished = true
	}
}

// Write writes body bytes.
func (x *Exchange) Write(p []byte) (int, error) {
	if x.noBody {
		return len(p), nil
	}
	x.Written += int64(len(p))
	if x.chunked {
		return ChunkedWriter{W: x.c.bw}.Write(p)
	}
	return x.c.bw.Write(p)
}

// Finish ends the body (the last chunk and trailers of a chunked one).
func (x *Exchange) Finish(trailers []Field) error {
	if x.finished {
		return nil
	}
	x.finished = true
	if x.chunked && !x.noBody {
		return ChunkedWriter{W: x.c.bw}.Close(trailers)
	}
	return nil
}

// Flush sends what is buffered to the client.
func (x *Exchange) Flush() error { return x.c.bw.Flush() }

// Hijack takes the connection over (after a 101): the server forgets it
// and the caller owns it and the reader that may hold bytes already read.
// Release must be called when the caller closes it.
func (x *Exchange) Hijack() (nc net.Conn, br *bufio.Reader, release func()) {
	c := x.c
	x.hijacked = true
	_ = c.bw.Flush()
	c.dc.ClearDeadlines()
	s := c.s
	s.mu.Lock()
	s.hijacked[c.nc] = struct{}{}
	s.mu.Unlock()
	return c.nc, c.br, func() {
		s.mu.Lock()
		delete(s.hijacked, c.nc)
		s.mu.Unlock()
	}
}
