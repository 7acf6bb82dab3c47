// Package upstream owns the connections from the gateway to backends: one
// keep-alive pool per (scheme, address, TLS settings), shared by every
// snapshot that uses it, so that a configuration change does not throw away
// warm connections; and the exchange of one request with one node, which
// every front end (HTTP/1.1, upgrades, retries) goes through.
package upstream

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/h1"
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
	bufferSize  = 8 << 10
)

// TLS is the gateway-to-node TLS of a target.
type TLS struct {
	ServerName         string
	CAPEM              string
	InsecureSkipVerify bool
}

// Target names one backend endpoint.
type Target struct {
	HTTPS bool
	// H2: the node speaks HTTP/2 (gRPC): over TLS when HTTPS, cleartext
	// (h2c) otherwise. Such a client's exchanges go through RoundTrip.
	H2   bool
	Addr string // host:port
	TLS  TLS
}

// Key identifies the target: its address and TLS settings.
func (t Target) Key() string {
	sum := sha256.Sum256([]byte(t.TLS.CAPEM))
	return fmt.Sprintf("%t|%t|%s|%s|%t|%x", t.HTTPS, t.H2, t.Addr, t.TLS.ServerName, t.TLS.InsecureSkipVerify, sum[:8])
}

// Pool hands out one client per target and keeps it across snapshots.
type Pool struct {
	mu      sync.Mutex
	clients map[string]*Client
	dialer  net.Dialer
	stop    chan struct{}
	once    sync.Once
}

// NewPool returns an empty pool; Close stops its idle-connection reaper.
func NewPool() *Pool {
	p := &Pool{clients: map[string]*Client{}, stop: make(chan struct{})}
	go p.reap()
	return p
}

// Close closes every idle connection and stops the reaper.
func (p *Pool) Close() {
	p.once.Do(func() { close(p.stop) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.closeIdle(0)
	}
}

func (p *Pool) reap() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		cs := make([]*Client, 0, len(p.clients))
		for _, c := range p.clients {
			cs = append(cs, c)
		}
		p.mu.Unlock()
		for _, c := range cs {
			c.closeIdle(IdleTimeout)
		}
	}
}

// Client returns the pooled client of t, creating it on first use.
func (p *Pool) Client(t Target) (*Client, error) {
	k := t.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[k]; ok {
		return c, nil
	}
	c := &Client{pool: p, Target: t}
	if t.HTTPS {
		var err error
		if c.tlsCfg, err = clientTLS(t); err != nil {
			return nil, err
		}
	}
	if t.H2 {
		c.h2 = newH2Transport(p, t, c.tlsCfg)
	}
	p.clients[k] = c
	return c, nil
}

// Retain drops the clients not in keep, closing their idle connections;
// exchanges still running on them finish normally and their connections
// are closed rather than pooled.
func (p *Pool) Retain(keep map[*Client]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		if !keep[c] {
			delete(p.clients, k)
			c.retire()
		}
	}
}

// Client is the keep-alive pool of one target.
type Client struct {
	Target Target
	pool   *Pool
	tlsCfg *tls.Config

	// h2 carries the exchanges of an HTTP/2 (gRPC) target.
	h2 *http.Transport

	mu      sync.Mutex
	idle    []*Conn // most recently used last
	open    int
	retired bool
}

// ErrNoFreeConns: the node already has MaxConnsPerNode connections open.
var ErrNoFreeConns = errors.New("no free connection to the node: the pool is full")

// get returns a pooled connection that is still sound, with a connect
// time of -1, or dials one and says how long connecting took.
func (c *Client) get(deadline time.Time) (*Conn, time.Duration, error) {
	c.mu.Lock()
	for n := len(c.idle); n > 0; n = len(c.idle) {
		cn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if cn.sound() {
			return cn, -1, nil
		}
		cn.Close()
		c.mu.Lock()
	}
	if c.open >= MaxConnsPerNode {
		c.mu.Unlock()
		return nil, 0, ErrNoFreeConns
	}
	c.open++
	c.mu.Unlock()
	start := time.Now()
	cn, err := c.dial(start, deadline)
	if err != nil {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
		return nil, 0, err
	}
	return cn, time.Since(start), nil
}

// put gives a connection whose last exchange ended cleanly back to the pool.
func (c *Client) put(cn *Conn) {
	cn.idleAt = time.Now()
	cn.dc.RSlide, cn.dc.WSlide, cn.dc.Watch = 0, 0, nil
	c.mu.Lock()
	if c.retired {
		c.mu.Unlock()
		cn.Close()
		return
	}
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

func (c *Client) retire() {
	c.mu.Lock()
	c.retired = true
	c.mu.Unlock()
	c.closeIdle(0)
	if c.h2 != nil {
		c.h2.CloseIdleConnections()
	}
}

// closeIdle closes the connections idle longer than d (all when d is 0).
func (c *Client) closeIdle(d time.Duration) {
	var old []*Conn
	cut := time.Now().Add(-d)
	c.mu.Lock()
	i := 0
	for ; i < len(c.idle); i++ { // oldest first
		if d > 0 && c.idle[i].idleAt.After(cut) {
			break
		}
	}
	old = append(old, c.idle[:i]...)
	n := copy(c.idle, c.idle[i:])
	clear(c.idle[n:])
	c.idle = c.idle[:n]
	c.mu.Unlock()
	for _, cn := range old {
		cn.Close()
	}
}

// Idle is the number of idle pooled connections (for tests and status).
func (c *Client) Idle() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

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

func (c *Client) dial(now, deadline time.Time) (*Conn, error) {
	if d := now.Add(DialTimeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	nc, err := c.pool.dialer.DialContext(ctx, "tcp", c.Target.Addr)
	if err != nil {
		return nil, &DialError{err}
	}
	cn := &Conn{client: c}
	cn.peeker.Init(nc)
	if c.tlsCfg != nil {
		tc := tls.Client(nc, c.tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &DialError{err}
		}
		nc = tc
	}
	cn.nc = nc
	cn.dc.Conn = nc
	cn.dc.WatchEvery = watchEvery
	cn.br = bufio.NewReaderSize(&cn.dc, bufferSize)
	cn.bw = bufio.NewWriterSize(&cn.dc, bufferSize)
	return cn, nil
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
		NextProtos:         []string{"http/1.1"},
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

// Conn is one connection to a node.
type Conn struct {
	client *Client
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	closed bool

	peeker h1.Peeker
	// dc keeps the deadlines of reads and writes (see h1.DeadlineConn);
	// while an exchange is watched, a long wait on the node asks every
	// watchEvery whether the client is still connected.
	dc h1.DeadlineConn
}

// watchEvery is how often a wait on a node checks that the client it
// serves is still connected.
const watchEvery = time.Second

// ErrClientGone ends a wait on a node whose client has disconnected (as
// nginx stops a request whose client went away).
var ErrClientGone = errors.New("the client closed its connection")

// Close closes the connection and frees its place in the pool.
func (cn *Conn) Close() {
	if cn.closed {
		return
	}
	cn.closed = true
	cn.nc.Close()
	c := cn.client
	c.mu.Lock()
	c.open--
	c.mu.Unlock()
}

// sound reports whether an idle connection can carry a request: nothing
// is buffered and nothing (bytes or end of stream) waits in the socket. A
// node that sent anything while the connection was idle broke the protocol
// (net/http's transport and nginx close such connections too).
func (cn *Conn) sound() bool {
	if cn.br.Buffered() > 0 {
		return false
	}
	pending, gone := cn.peeker.Peek()
	return !pending && !gone
}
