// Package upstream owns the connections from the gateway to backends: one
// keep-alive pool per (scheme, address, TLS settings), shared by every
// snapshot that uses it, so that a configuration change does not throw away
// warm connections.
package upstream

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Tuning of the pools; see docs/design.md ("Connections to backends").
const (
	// IdleTimeout closes pooled connections idle this long. It is kept below
	// the keep-alive timeouts of common servers (nginx 75 s, Node 5 s is the
	// exception) so that the gateway rarely writes to a connection the
	// backend already closed.
	IdleTimeout = 4 * time.Second
	// MaxConnsPerNode bounds the connections to one node.
	MaxConnsPerNode = 1024
	// DialTimeout bounds one TCP connect plus TLS handshake.
	DialTimeout = 5 * time.Second
	// DNSCacheDuration is how long a resolved node name is reused before it is
	// resolved again: backends that are DNS names follow their records.
	DNSCacheDuration = 30 * time.Second
	bufferSize       = 8 << 10
	// BufferedBody is the largest response body with a Content-Length that
	// is read whole before it is relayed; larger ones, and bodies of unknown
	// length, stream to the client as they arrive.
	BufferedBody = 64 << 10
)

// DialError wraps a failure to connect (TCP or TLS handshake): the request
// never reached the node, so it is always safe to try another.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "connect: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// IsDialError reports whether err is a failure to connect.
func IsDialError(err error) bool {
	var de *DialError
	return errors.As(err, &de)
}

// TLS is the gateway-to-node TLS of a target.
type TLS struct {
	ServerName         string
	CAPEM              string
	InsecureSkipVerify bool
}

// Target names one backend endpoint.
type Target struct {
	HTTPS bool
	Addr  string // host:port
	TLS   TLS
}

func (t Target) key() string {
	sum := sha256.Sum256([]byte(t.TLS.CAPEM))
	return fmt.Sprintf("%t|%s|%s|%t|%x", t.HTTPS, t.Addr, t.TLS.ServerName, t.TLS.InsecureSkipVerify, sum[:8])
}

// Pool hands out one client per target and keeps it across snapshots.
type Pool struct {
	mu      sync.Mutex
	clients map[string]*fasthttp.HostClient
	dialer  *fasthttp.TCPDialer
	// conns maps a live connection's "local|remote" address pair to it, so
	// that the end of a response body can be checked against the state of
	// the connection it came from (see PeerClosed).
	conns sync.Map
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{
		clients: map[string]*fasthttp.HostClient{},
		dialer:  &fasthttp.TCPDialer{DNSCacheDuration: DNSCacheDuration},
	}
}

// Client returns the pooled client of t, creating it on first use.
func (p *Pool) Client(t Target) (*fasthttp.HostClient, error) {
	k := t.key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[k]; ok {
		return c, nil
	}
	var tlsCfg *tls.Config
	if t.HTTPS {
		var err error
		if tlsCfg, err = clientTLS(t); err != nil {
			return nil, err
		}
	}
	c := &fasthttp.HostClient{
		Addr:                          t.Addr,
		DialTimeout:                   p.dialFunc(tlsCfg),
		IsTLS:                         t.HTTPS,
		TLSConfig:                     tlsCfg,
		MaxConns:                      MaxConnsPerNode,
		MaxIdleConnDuration:           IdleTimeout,
		MaxIdemponentCallAttempts:     1, // the proxy retries, across nodes
		ReadBufferSize:                bufferSize,
		WriteBufferSize:               bufferSize,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		StreamResponseBody:            true,
		MaxResponseBodySize:           BufferedBody,
	}
	p.clients[k] = c
	return c, nil
}

// Retain drops the clients of targets not in keep, closing their idle
// connections; requests still running on them finish normally.
func (p *Pool) Retain(keep map[*fasthttp.HostClient]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		if !keep[c] {
			delete(p.clients, k)
			c.CloseIdleConnections()
		}
	}
}

// dialFunc connects and, for TLS targets, completes the handshake itself so
// that every failure before the request is written is a DialError.
func (p *Pool) dialFunc(tlsCfg *tls.Config) fasthttp.DialFuncWithTimeout {
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		if timeout <= 0 || timeout > DialTimeout {
			timeout = DialTimeout
		}
		deadline := time.Now().Add(timeout)
		raw, err := p.dialer.DialTimeout(addr, timeout)
		if err != nil {
			return nil, &DialError{err}
		}
		conn := p.track(raw)
		if tlsCfg == nil {
			return conn, nil
		}
		tc := tls.Client(conn, tlsCfg)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &DialError{err}
		}
		return tc, nil
	}
}

func clientTLS(t Target) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		host = t.Addr
	}
	cfg := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: t.TLS.InsecureSkipVerify, //nolint:gosec // an explicit, documented per-channel choice
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if t.TLS.ServerName != "" {
		cfg.ServerName = t.TLS.ServerName
	}
	if t.TLS.CAPEM != "" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(t.TLS.CAPEM)) {
			return nil, errors.New("tls.ca_pem holds no PEM certificate")
		}
		cfg.RootCAs = roots
	}
	return cfg, nil
}

// trackedConn remembers whether the node closed its side.
type trackedConn struct {
	net.Conn
	pool   *Pool
	key    string
	eof    atomic.Bool
	closed atomic.Bool
}

func (p *Pool) track(c net.Conn) *trackedConn {
	t := &trackedConn{Conn: c, pool: p, key: connKey(c.LocalAddr(), c.RemoteAddr())}
	p.conns.Store(t.key, t)
	return t
}

func connKey(local, remote net.Addr) string {
	if local == nil || remote == nil {
		return ""
	}
	return local.String() + "|" + remote.String()
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.pool.conns.Delete(c.key)
	}
	return c.Conn.Close()
}

// PeerClosed reports whether the node closed the connection with these
// addresses, as seen by a read. fasthttp's chunked body reader reports a
// connection closed at a chunk boundary as a normal end of body; the proxy
// asks here to tell that apart from a real last chunk, after which the
// reader stops before any further read of the connection.
func (p *Pool) PeerClosed(local, remote net.Addr) bool {
	v, ok := p.conns.Load(connKey(local, remote))
	if !ok {
		return true // closed and forgotten already
	}
	return v.(*trackedConn).eof.Load()
}
