package h1

import (
	"errors"
	"net"
	"time"
)

// DeadlineConn keeps a connection's read and write deadlines exact while
// touching the socket's as rarely as it can. A deadline change is a timer
// update in Go's runtime; on a busy keep-alive connection setting one per
// read and write is a measurable part of a request's cost. So the logical
// deadline (until) is kept here, the socket's is moved only when it is
// later than until or earlier by more than a quarter of the time left, and
// a socket timeout that fires before until simply re-arms it and reads (or
// writes) on. Timeouts therefore happen at until, not before.
type DeadlineConn struct {
	net.Conn
	// RSlide and WSlide, when set, move the read (write) deadline to
	// now+slide at each read (write): the timeout bounds silence, not the
	// length of a stream.
	RSlide, WSlide time.Duration
	// Watch, when set, is asked every WatchEvery while a read waits; when
	// it answers false the read ends with ErrWatchFailed.
	Watch      func() bool
	WatchEvery time.Duration

	rUntil, wUntil time.Time // logical deadlines; zero: none
	rSet, wSet     time.Time // what the socket has
}

// ErrWatchFailed ends a read whose Watch answered false.
var ErrWatchFailed = errors.New("the watched peer is gone")

// SetReadUntil sets the logical read deadline (zero: none).
func (d *DeadlineConn) SetReadUntil(t time.Time) { d.SetReadUntilAt(t, time.Now()) }

// SetWriteUntil sets the logical write deadline (zero: none).
func (d *DeadlineConn) SetWriteUntil(t time.Time) { d.SetWriteUntilAt(t, time.Now()) }

// SetReadUntilAt is SetReadUntil for a caller that has just read the clock
// (now), which saves reading it again. An older now only makes the socket's
// deadline move less often: a timeout before t is re-armed as ever.
func (d *DeadlineConn) SetReadUntilAt(t, now time.Time) {
	d.rUntil = t
	d.armRead(now)
}

// SetWriteUntilAt is SetWriteUntil with the caller's clock read, as
// SetReadUntilAt.
func (d *DeadlineConn) SetWriteUntilAt(t, now time.Time) {
	d.wUntil = t
	d.armWrite(now)
}

// ReadUntil is the logical read deadline.
func (d *DeadlineConn) ReadUntil() time.Time { return d.rUntil }

// ClearDeadlines removes every deadline, the socket's included.
func (d *DeadlineConn) ClearDeadlines() {
	d.rUntil, d.wUntil, d.rSet, d.wSet = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	d.RSlide, d.WSlide, d.Watch = 0, 0, nil
	_ = d.Conn.SetDeadline(time.Time{})
}

func (d *DeadlineConn) armRead(now time.Time) {
	want := d.rUntil
	if d.Watch != nil && d.WatchEvery > 0 {
		if w := now.Add(d.WatchEvery); want.IsZero() || w.Before(want) {
			want = w
		}
	}
	if stale(d.rSet, want, now) {
		d.rSet = want
		_ = d.Conn.SetReadDeadline(want)
	}
}

func (d *DeadlineConn) armWrite(now time.Time) {
	if stale(d.wSet, d.wUntil, now) {
		d.wSet = d.wUntil
		_ = d.Conn.SetWriteDeadline(d.wUntil)
	}
}

// stale reports whether the socket's deadline set must move to want: it is
// later than want (or want is none and set is not), or earlier by more than
// a quarter of the time left.
func stale(set, want, now time.Time) bool {
	switch {
	case want.IsZero():
		return !set.IsZero()
	case set.IsZero() || set.After(want):
		return true
	}
	return want.Sub(set) > want.Sub(now)/4
}

// Read reads, re-arming a socket deadline that fired early. The clock is
// read only to slide the deadline or after a timeout.
func (d *DeadlineConn) Read(p []byte) (int, error) {
	if d.RSlide > 0 {
		now := time.Now()
		d.rUntil = now.Add(d.RSlide)
		d.armRead(now)
	}
	for {
		n, err := d.Conn.Read(p)
		if err == nil || !isTimeoutErr(err) || d.rUntil.IsZero() {
			return n, err
		}
		now := time.Now()
		if !now.Before(d.rUntil) {
			return n, err
		}
		if d.Watch != nil && !d.Watch() {
			return n, ErrWatchFailed
		}
		d.rSet = time.Time{} // the socket's deadline has passed: set it again
		d.armRead(now)
		if n > 0 {
			return n, nil
		}
	}
}

// Write writes, re-arming a socket deadline that fired early; the clock
// is read as in Read.
func (d *DeadlineConn) Write(p []byte) (int, error) {
	if d.WSlide > 0 {
		now := time.Now()
		d.wUntil = now.Add(d.WSlide)
		d.armWrite(now)
	}
	written := 0
	for {
		n, err := d.Conn.Write(p[written:])
		written += n
		if err == nil || !isTimeoutErr(err) || d.wUntil.IsZero() {
			return written, err
		}
		now := time.Now()
		if !now.Before(d.wUntil) {
			return written, err
		}
		d.wSet = time.Time{}
		d.armWrite(now)
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
