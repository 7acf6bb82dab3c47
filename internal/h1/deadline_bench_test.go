package h1

import (
	"net"
	"testing"
	"time"
)

// nopConn is a socket that is always ready, so that a benchmark measures
// DeadlineConn's own work.
type nopConn struct{ net.Conn }

func (nopConn) Read(p []byte) (int, error)       { return len(p), nil }
func (nopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkDeadlineConn is one read and one write with a deadline set and
// no sliding, as a node connection's head exchange and the server's wait
// for a request make them.
func BenchmarkDeadlineConn(b *testing.B) {
	d := &DeadlineConn{Conn: nopConn{}}
	d.SetReadUntil(time.Now().Add(time.Minute))
	d.SetWriteUntil(time.Now().Add(time.Minute))
	buf := make([]byte, 512)
	b.ReportAllocs()
	for range b.N {
		_, _ = d.Read(buf)
		_, _ = d.Write(buf)
	}
}
