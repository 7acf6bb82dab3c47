package h1

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestDeadlineConnTimesOutAtUntilNotBefore(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	d := &DeadlineConn{Conn: a}
	// A socket deadline that fires early (here set by hand) must not end
	// the read: it is re-armed up to the logical deadline.
	d.SetReadUntil(time.Now().Add(400 * time.Millisecond))
	_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	go func() {
		time.Sleep(150 * time.Millisecond)
		b.Write([]byte("x"))
	}()
	buf := make([]byte, 1)
	if n, err := d.Read(buf); err != nil || n != 1 {
		t.Fatalf("read before the logical deadline: %d %v", n, err)
	}
	start := time.Now()
	d.SetReadUntil(time.Now().Add(200 * time.Millisecond))
	_, err := d.Read(buf)
	if !isTimeoutErr(err) {
		t.Fatalf("want a timeout, got %v", err)
	}
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Fatalf("timed out after %v, before the logical deadline", el)
	}
}

func TestDeadlineConnSlidesWhileDataFlows(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	d := &DeadlineConn{Conn: a, RSlide: 150 * time.Millisecond}
	go func() {
		for range 6 { // 6 x 80 ms: longer than one timeout, never silent for one
			time.Sleep(80 * time.Millisecond)
			if _, err := b.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	for i := range 6 {
		if _, err := d.Read(buf); err != nil {
			t.Fatalf("read %d of a flowing stream: %v", i, err)
		}
	}
	if _, err := d.Read(buf); !isTimeoutErr(err) {
		t.Fatalf("after the stream went silent: %v, want a timeout", err)
	}
}

func TestDeadlineConnWatch(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	asked := 0
	d := &DeadlineConn{Conn: a, WatchEvery: 30 * time.Millisecond, Watch: func() bool { asked++; return asked < 3 }}
	d.SetReadUntil(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err := d.Read(make([]byte, 1))
	if !errors.Is(err, ErrWatchFailed) || asked != 3 {
		t.Fatalf("err %v after %d checks, want ErrWatchFailed after 3", err, asked)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("the watch must end the wait long before the deadline")
	}
}

func TestStale(t *testing.T) {
	now := time.Unix(1000, 0)
	want := now.Add(60 * time.Second)
	for _, c := range []struct {
		set  time.Time
		want bool
	}{
		{time.Time{}, true},
		{want, false},
		{want.Add(-10 * time.Second), false}, // within a quarter of 60 s
		{want.Add(-20 * time.Second), true},
		{want.Add(time.Second), true}, // later than wanted: must come in
	} {
		if got := stale(c.set, want, now); got != c.want {
			t.Errorf("stale(set %v before want) = %v, want %v", want.Sub(c.set), got, c.want)
		}
	}
}
