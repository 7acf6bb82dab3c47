package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portico-gw/portico/internal/store"
)

// tcpProxy forwards a local port to the test server, and can be cut (every
// connection closed, the port refusing new ones) and restored on the same
// port: a PostgreSQL outage as one node sees it, without stopping the
// machine's server.
type tcpProxy struct {
	t      *testing.T
	addr   string // 127.0.0.1:port, kept across Cut and Restore
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track registers a pair unless the proxy was cut meanwhile.
func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// Cut closes the port and every connection through it.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Restore listens on the same port again.
func (p *tcpProxy) Restore() { p.listen(p.addr) }

// via returns dsn with its host replaced by the proxy's address.
func (p *tcpProxy) via(dsn string) string {
	p.t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

func serverAddr(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(baseDSN())
	if err != nil {
		t.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}

// TestOutageFailsFast: while the server cannot be reached, every kind of
// call fails within seconds with store.ErrUnavailable, and the store works
// again once it can.
func TestOutageFailsFast(t *testing.T) {
	dsn, _ := newSchema(t)
	proxy := newTCPProxy(t, serverAddr(t))
	s := openT(t, proxy.via(dsn))
	if err := s.CreateChannel(t.Context(), channel("before")); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	calls := map[string]func(ctx context.Context) error{
		"write":       func(ctx context.Context) error { return s.CreateChannel(ctx, channel("during")) },
		"revision":    func(ctx context.Context) error { _, err := s.Revision(ctx); return err },
		"load":        func(ctx context.Context) error { _, err := s.Load(ctx); return err },
		"list":        func(ctx context.Context) error { _, _, err := s.ListChannels(ctx, store.Page{}); return err },
		"admin token": func(ctx context.Context) error { _, err := s.AdminToken(ctx); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call(context.Background())
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s during the outage: %v (%T), want store.ErrUnavailable", name, err, err)
		}
		if took > callTimeout+2*time.Second {
			t.Errorf("%s took %v to fail", name, took)
		}
	}

	proxy.Restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.CreateChannel(t.Context(), channel("after"))
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after the outage: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := s.Load(t.Context())
	if err != nil || len(st.Channels) != 2 {
		t.Fatalf("after the outage: %v, %+v; want the two channels written while reachable", err, st)
	}
}

func TestUnreachableClassification(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("begin: %w", context.DeadlineExceeded), true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{io.ErrUnexpectedEOF, true},
		{pgconn.ErrConnClosed, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "57014"}, true},
		{&pgconn.PgError{Code: "55P03"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "28P01"}, false}, // wrong password
		{&pgconn.PgError{Code: "3D000"}, false}, // no such database
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// What the admin API shows: the operation and the cause.
	err := internal("create channel", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})
	var ue *store.UnavailableError
	if !errors.As(err, &ue) || ue.Op != "create channel" {
		t.Fatalf("internal = %v (%T)", err, err)
	}
}

// TestConnectWhileUnreachable: Connect returns a store even when the server
// cannot be reached; its calls fail with ErrUnavailable until the server
// is back, then Changed says so and everything works.
func TestConnectWhileUnreachable(t *testing.T) {
	dsn, _ := newSchema(t)
	proxy := newTCPProxy(t, serverAddr(t))
	proxy.Cut()
	s, err := Connect(context.Background(), proxy.via(dsn))
	if err != nil {
		t.Fatalf("Connect while unreachable: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Revision(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Revision before connecting: %v, want ErrUnavailable", err)
	}
	if err := s.CreateChannel(t.Context(), channel("x")); !errors.Is(err, store.ErrUnavailable) ||
		!strings.Contains(err.Error(), "create channel") {
		t.Fatalf("CreateChannel before connecting: %v, want ErrUnavailable naming the operation", err)
	}
	drain(s)
	proxy.Restore()
	wantChanged(t, s, 15*time.Second, "once the server is reachable")
	if err := s.CreateChannel(t.Context(), channel("x")); err != nil {
		t.Fatalf("CreateChannel once connected: %v", err)
	}
	if rev, err := s.Revision(t.Context()); err != nil || rev != 1 {
		t.Fatalf("Revision = %d, %v; want 1", rev, err)
	}
}

// TestConnectRefusesOtherFailures: a failure that waiting would not cure
// fails Connect at once.
func TestConnectRefusesOtherFailures(t *testing.T) {
	admin(t)
	u, err := url.Parse(baseDSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/portico_no_such_database_" + randHex(4)
	s, err := Connect(context.Background(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("Connect to a database that does not exist succeeded")
	}
	if store.IsUnavailable(err) {
		t.Fatalf("a missing database reported as unreachable: %v", err)
	}
}
