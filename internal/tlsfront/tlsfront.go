// Package tlsfront serves the TLS port. It accepts TCP connections, runs
// the TLS handshake (the certificate chosen by SNI, see package certs),
// and hands each connection to the protocol its client chose by ALPN:
//
//   - HTTP/1.1 connections go to the HTTP/1.1 engine (internal/h1) that
//     serves the plain port, so they get exactly its routing, policies,
//     retries, logs, metrics and errors;
//   - HTTP/2 connections go to net/http's HTTP/2 server, and each stream is
//     bridged to the same engine over private, kept-alive socket pairs:
//     the stream becomes one HTTP/1.1 exchange that names its client's
//     address (h1.PeerField) on a connection that says it came over TLS.
//
// One request path for every front end: there is no second proxy handler
// to keep in step. The bridge costs an HTTP/1.1 serialization per stream
// over a Unix socket (no network, no port anyone else can reach).
package tlsfront

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/h1"
)

// HandshakeTimeout bounds a client's TLS handshake.
const HandshakeTimeout = 10 * time.Second

// Front is the TLS port.
type Front struct {
	engine *h1.Server
	tls    *tls.Config
	log    *slog.Logger
	h2     *http.Server // serves the HTTP/2 connections handed to h2ln
	h2ln   *connListener
	bridge *httputil.ReverseProxy

	mu      sync.Mutex
	ln      net.Listener
	conns   sync.WaitGroup
	closing bool
}

// Options configures a Front.
type Options struct {
	// IdleTimeout closes an HTTP/2 connection with no open stream.
	IdleTimeout time.Duration
	// ReadTimeout bounds reading an HTTP/2 request's headers.
	ReadTimeout time.Duration
	Log         *slog.Logger
}

// New returns the TLS port of engine. cfg chooses certificates; its
// NextProtos are set here (h2, then http/1.1).
func New(engine *h1.Server, cfg *tls.Config, o Options) *Front {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	f := &Front{engine: engine, tls: cfg, log: o.Log}
	if f.log == nil {
		f.log = slog.Default()
	}
	f.bridge = &httputil.ReverseProxy{
		Rewrite: rewrite,
		Transport: &http.Transport{DialContext: f.dialEngine, DisableCompression: true, MaxResponseHeaderBytes: 1 << 20,
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second},
		FlushInterval: -1, // stream: every write reaches the client at once
		// Without a pool ReverseProxy makes a 32 KiB copy buffer for
		// every answer, which was most of the bridge's garbage.
		BufferPool:   &copyBuffers{},
		ErrorHandler: bridgeError,
		ErrorLog:     slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
	}
	// The connections it gets are handshaken already, with "h2" agreed:
	// net/http hands them to its HTTP/2 server (no TLSConfig here, so
	// Serve sets HTTP/2 up), and its Shutdown sends GOAWAY and waits for
	// the streams.
	f.h2 = &http.Server{Handler: f.bridge, ReadHeaderTimeout: o.ReadTimeout, IdleTimeout: o.IdleTimeout,
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: 250},
		ErrorLog: slog.NewLogLogger(f.log.Handler(), slog.LevelDebug)}
	f.h2ln = newConnListener()
	go func() { _ = f.h2.Serve(f.h2ln) }()
	return f
}

// Serve accepts connections on ln until Shutdown.
func (f *Front) Serve(ln net.Listener) error {
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		ln.Close()
		return nil
	}
	f.ln = ln
	f.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closing := f.closing
			f.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.log.Warn("TLS accept failed; retrying", "error", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		f.conns.Add(1)
		go f.serveConn(nc)
	}
}

// serveConn runs the handshake and hands the connection on.
func (f *Front) serveConn(nc net.Conn) {
	defer f.conns.Done()
	tc := tls.Server(nc, f.tls)
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		nc.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		f.h2ln.hand(tc)
		return
	}
	f.engine.ServeConn(tc)
}

// Shutdown stops accepting, asks HTTP/2 clients to go away once their
// open streams end (GOAWAY), and waits for them and for handshakes in
// progress until ctx ends. The HTTP/1.1 connections are the engine's and
// drain with the engine's Shutdown.
func (f *Front) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.closing = true
	if f.ln != nil {
		f.ln.Close()
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		f.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return f.h2.Shutdown(ctx)
}

// connListener is a net.Listener of connections accepted and handshaken
// elsewhere.
type connListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// hand gives the listener's server a connection, or closes it when the
// listener is closed.
func (l *connListener) hand(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// rewrite makes the bridged request: the stream's method, target, Host and
// fields, untouched, and the client's address in h1.PeerField (a copy sent
// by the client is dropped first). It keeps the X-Forwarded-* and
// Forwarded fields that ReverseProxy would drop: the engine decides whether
// to believe them, by --trusted-proxies, as on the plain port.
func rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme, pr.Out.URL.Host = "http", pr.In.Host
	pr.Out.Host = pr.In.Host
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if v, ok := pr.In.Header[h]; ok {
			pr.Out.Header[h] = v
		}
	}
	pr.Out.Header.Del(h1.PeerField)
	pr.Out.Header.Set(h1.PeerField, pr.In.RemoteAddr)
}

// dialEngine opens one bridge connection to the engine: a Unix socket
// pair whose engine end relays the client address of each request. The
// bridge keeps such connections alive and reuses them across streams.
func (f *Front) dialEngine(context.Context, string, string) (net.Conn, error) {
	client, server, err := socketPair()
	if err != nil {
		return nil, err
	}
	go f.engine.ServeConn(&bridged{UnixConn: server})
	return client, nil
}

func socketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	a, err := fileConn(fds[0])
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	b, err := fileConn(fds[1])
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "bridge")
	defer f.Close() // FileConn holds its own copy of the descriptor
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// bridged is the engine's end of a bridge connection. Embedding the
// *net.UnixConn keeps SyscallConn, so the engine can still see whether the
// client went away (the bridge closes the connection of a stream the
// client reset).
type bridged struct{ *net.UnixConn }

// ViaTLS: every bridged stream came over TLS.
func (b *bridged) ViaTLS() bool { return true }

// RelaysPeers: each request names its HTTP/2 client (h1.PeerField).
func (b *bridged) RelaysPeers() bool { return true }

// bridgeError answers a stream the engine could not take (it was shutting
// down, or the process is out of descriptors); the engine answers every
// other failure itself.
func bridgeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client is gone
	}
	body, _ := json.Marshal(map[string]string{
		"message":    "the gateway could not take the request: " + err.Error(),
		"request_id": r.Header.Get("X-Request-Id"),
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write(append(body, '\n'))
}

// copyBuffers lends ReverseProxy its body copy buffers.
type copyBuffers struct{ p sync.Pool }

func (b *copyBuffers) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *copyBuffers) Put(buf []byte) { b.p.Put(&buf) }
