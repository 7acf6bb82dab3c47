package upstream

import "time"

// Probe sends head (a complete request head with no body) to the node on
// a new connection, reads the answer's head and closes the connection. It
// is the active health check: a fresh connection tests what a request
// would meet (connect, TLS handshake with the channel's settings, an
// answer), where a pooled one could hide a node that stopped accepting.
// The connection is counted among the node's open ones but not limited.
func (c *Client) Probe(head []byte, deadline time.Time) (int, error) {
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
	cn, err := c.dial(time.Now(), deadline)
	if err != nil {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
		if isTimeout(err) {
			return 0, &Error{Op: "connect", Status: 504, Err: err}
		}
		return 0, &Error{Op: "connect", Status: 502, Err: err}
	}
	defer cn.Close()
	req := &Request{Head: head, Deadline: deadline}
	if e := cn.send(req); e != nil {
		return 0, e
	}
	var resp Response
	if e := cn.receive(req, &resp); e != nil {
		return 0, e
	}
	return resp.Status, nil
}
