package h1

import (
	"crypto/tls"
	"net"
	"syscall"
)

// Peeker looks at a connection's socket without blocking and without
// consuming anything: is there data, or has the peer closed? It answers for
// socket connections, TCP or Unix (TLS ones through their socket); for
// others it always reports "nothing there".
type Peeker struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool
	n   int
	err error
}

// Init prepares p for c. It allocates once, per connection.
func (p *Peeker) Init(c net.Conn) {
	*p = Peeker{}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = p.peek
}

func (p *Peeker) peek(fd uintptr) bool {
	var b [1]byte
	p.n, _, p.err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// Peek reports whether bytes wait in the socket (pending) and whether the
// peer closed or the socket failed (gone).
func (p *Peeker) Peek() (pending, gone bool) {
	if p.raw == nil {
		return false, false
	}
	if err := p.raw.Read(p.fn); err != nil {
		return false, true
	}
	switch {
	case p.err == syscall.EAGAIN:
		return false, false
	case p.err != nil:
		return false, true
	case p.n == 0:
		return false, true // end of stream
	}
	return true, false
}
