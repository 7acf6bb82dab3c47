package upstream

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"github.com/portico-gw/portico/internal/h1"
)

// Request is what one exchange sends to a node.
type Request struct {
	// Head is the request head as it goes on the wire: request line,
	// fields (framing included) and the empty line.
	Head []byte
	// Body is nil when the request has none; Length is its length, or -1
	// to send it chunked, followed by Trailers() when set.
	Body     io.Reader
	Length   int64
	Trailers func() []h1.Field
	// HEAD: the answer has no body whatever its fields say.
	HEAD bool
	// Upgrade: a 101 answer is expected and allowed.
	Upgrade bool
	// Idempotent: the method may be repeated (RFC 9110, 9.2.2). A request
	// a node read and then dropped with its pooled connection, without a
	// byte of answer, is sent again on a fresh connection only when it is:
	// the node may have acted on it.
	Idempotent bool
	// Deadline bounds connecting and sending a request that has no
	// streamed body, and the wait for the response head.
	Deadline time.Time
	// Now is a recent clock read of the caller's, used in place of one
	// when the exchange arms its deadlines (zero: the clock is read).
	Now time.Time
	// Timeout is the API timeout: when a streamed body was sent, the wait
	// for the response head is counted from its end; it also bounds the
	// silence between two reads of the response body, or two writes of the
	// request body.
	Timeout time.Duration
	// Interim gets the 1xx answers other than 100 and 101.
	Interim func(status int, reason []byte, fields []h1.Field)
	// Buf is the copy buffer for the body.
	Buf []byte
	// ClientAlive, when set, is asked during long waits on the node; when
	// it answers false the exchange ends with ErrClientGone and the node's
	// connection is closed.
	ClientAlive func() bool
}

// Response is a node's answer: its head and a reader of its body. Release
// must be called once the body is done with.
type Response struct {
	h1.Response
	Body h1.Body
	// ConnectTime is the time spent connecting, 0 for a pooled connection.
	ConnectTime time.Duration
	conn        *Conn
	head        bool
}

// Error is a failed exchange. Status is what the client is answered.
type Error struct {
	Op     string // "connect", "send", "receive", "request body"
	Status int
	// Reached: the request may have been seen by the node, so repeating
	// it is safe only when it is idempotent.
	Reached bool
	// Client: the failure is the client's (its body broke), not the node's.
	Client bool
	Err    error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the node did not answer in time.
func (e *Error) Timeout() bool { return e.Status == 504 }

// maxInterim bounds the 1xx answers read before the final one.
const maxInterim = 10

var errUnsolicited101 = errors.New("the node switched protocols without being asked to")

// Do sends req to a node of c and reads the answer's head into resp.
func (c *Client) Do(req *Request, resp *Response) error {
	cn, connect, err := c.get(req.Deadline)
	if err != nil {
		if IsDialError(err) && isTimeout(err) {
			return &Error{Op: "connect", Status: 504, Err: err}
		}
		return &Error{Op: "connect", Status: 502, Err: err}
	}
	reused := connect < 0
	resp.ConnectTime = max(connect, 0)
	if e := cn.send(req); e != nil {
		cn.Close()
		if reused && req.Body == nil && !e.Timeout() && e.Op == "send" {
			// A pooled connection the node closed while idle: the request
			// did not reach it. Like net/http, try once on a fresh one.
			return c.Do(req, resp)
		}
		return e
	}
	if e := cn.receive(req, resp); e != nil {
		cn.Close()
		if reused && req.Idempotent && !e.Timeout() && errors.Is(e.Err, h1.ErrIncomplete) && req.Body == nil {
			// Closed by the node before any byte of an answer: the
			// request was most likely dropped with an idle connection.
			return c.Do(req, resp)
		}
		return e
	}
	resp.conn = cn
	resp.head = req.HEAD
	return nil
}

func (r *Request) now() time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

func clientGone(err error) bool {
	return errors.Is(err, ErrClientGone) || errors.Is(err, h1.ErrWatchFailed)
}

func (cn *Conn) send(req *Request) *Error {
	cn.dc.Watch = req.ClientAlive
	cn.dc.SetWriteUntilAt(req.Deadline, req.now())
	if _, err := cn.bw.Write(req.Head); err != nil {
		return sendErr(err)
	}
	if req.Body != nil {
		cn.dc.WSlide = req.Timeout
		var rerr, werr error
		if req.Length >= 0 {
			_, rerr, werr = h1.CopyBuffer(cn.bw, io.LimitReader(req.Body, req.Length), req.Buf, nil, nil)
		} else {
			_, rerr, werr = h1.CopyBuffer(h1.ChunkedWriter{W: cn.bw}, req.Body, req.Buf, nil, nil)
			if rerr == nil && werr == nil {
				var tr []h1.Field
				if req.Trailers != nil {
					tr = req.Trailers()
				}
				werr = h1.ChunkedWriter{W: cn.bw}.Close(tr)
			}
		}
		if rerr != nil {
			return clientBodyErr(rerr)
		}
		if werr != nil {
			return sendErr(werr)
		}
		cn.dc.WSlide = 0
	}
	if err := cn.bw.Flush(); err != nil {
		return sendErr(err)
	}
	return nil
}

func sendErr(err error) *Error {
	if isTimeout(err) {
		return &Error{Op: "send", Status: 504, Reached: true, Err: err}
	}
	return &Error{Op: "send", Status: 502, Reached: true, Err: err}
}

func clientBodyErr(err error) *Error {
	status := 400
	var he *h1.Error
	switch {
	case errors.As(err, &he):
		status = he.Status
	case isTimeout(err):
		status = 408
	}
	return &Error{Op: "request body", Status: status, Reached: true, Client: true, Err: err}
}

func (cn *Conn) receive(req *Request, resp *Response) *Error {
	deadline := req.Deadline
	if req.Body != nil && req.Length != 0 {
		// A streamed upload may take long; the node's time to answer is
		// counted from its end.
		if d := time.Now().Add(req.Timeout); d.After(deadline) {
			deadline = d
		}
	}
	cn.dc.SetReadUntilAt(deadline, req.now())
	for interim := 0; ; interim++ {
		if err := resp.Response.Read(cn.br, req.HEAD); err != nil {
			return recvErr(err)
		}
		s := resp.Status
		if s >= 200 {
			break
		}
		if s == 101 {
			if !req.Upgrade {
				return &Error{Op: "receive", Status: 502, Reached: true, Err: errUnsolicited101}
			}
			break
		}
		if interim == maxInterim {
			return &Error{Op: "receive", Status: 502, Reached: true, Err: errors.New("too many interim (1xx) answers")}
		}
		if s != 100 && req.Interim != nil {
			req.Interim(s, resp.Reason, resp.Fields)
		}
	}
	if resp.Status == 101 {
		resp.NoBody = true
	}
	cn.dc.RSlide = req.Timeout
	resp.Body.ResetResponse(cn.br, &resp.Response)
	return nil
}

func recvErr(err error) *Error {
	if clientGone(err) {
		return &Error{Op: "receive", Status: 499, Reached: true, Client: true, Err: ErrClientGone}
	}
	if isTimeout(err) {
		return &Error{Op: "receive", Status: 504, Reached: true, Err: err}
	}
	if errors.Is(err, io.EOF) {
		err = h1.ErrIncomplete
	}
	return &Error{Op: "receive", Status: 502, Reached: true, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Release ends the exchange: the connection goes back to the pool only
// when the body was read exactly to its end, nothing more waits in the
// buffer, and neither side asked to close; otherwise it is closed, so that
// no byte of this answer ever reaches another request.
func (r *Response) Release() {
	cn := r.conn
	if cn == nil {
		return
	}
	r.conn = nil
	if r.Body.Done() && !r.Close && r.Status != 101 && cn.br.Buffered() == 0 {
		cn.client.put(cn)
		return
	}
	cn.Close()
}

// Hijack hands over the connection of a 101 answer, with the reader that
// may hold bytes the node sent after its head.
func (r *Response) Hijack() (net.Conn, *bufio.Reader) {
	cn := r.conn
	r.conn = nil
	cn.dc.ClearDeadlines()
	// The connection leaves the pool for good: its caller closes it.
	cn.closed = true
	c := cn.client
	c.mu.Lock()
	c.open--
	c.mu.Unlock()
	return cn.nc, cn.br
}

// Buffered is the number of bytes of the answer already read from the
// node and not yet consumed.
func (r *Response) Buffered() int { return r.conn.br.Buffered() }

// Addr is the node's address.
func (r *Response) Addr() string { return r.conn.client.Target.Addr }
