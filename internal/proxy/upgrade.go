package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portico-gw/portico/internal/balancer"
	"github.com/portico-gw/portico/internal/snapshot"
)

// serveUpgrade passes a protocol upgrade (WebSocket) through: it connects to
// a node, sends the handshake, and when the node answers 101 hands both
// connections to a byte pipe that lives until either side closes.
func (p *Proxy) serveUpgrade(ctx *fasthttp.RequestCtx, x *exchange, api *snapshot.API) {
	deadline := x.start.Add(api.Timeout)
	conn, node, err := p.dialUpgrade(api, deadline)
	if err != nil {
		x.errMsg = err.Error()
		p.fail(ctx, x, fasthttp.StatusBadGateway, "no backend node could be reached")
		return
	}
	x.upstreamAddr = node.Addr
	req := &ctx.Request
	uri := req.URI()
	uri.SetSchemeBytes(schemeHTTP) // the request line carries only the path
	uri.SetHost(node.Host)
	_ = conn.SetDeadline(deadline)
	bw := bufio.NewWriter(conn)
	if err = req.Write(bw); err == nil {
		err = bw.Flush()
	}
	br := bufio.NewReader(conn)
	var resp fasthttp.Response
	if err == nil {
		resp.SkipBody = true
		err = resp.Header.Read(br)
	}
	if err != nil {
		conn.Close()
		x.errMsg = err.Error()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			p.fail(ctx, x, fasthttp.StatusGatewayTimeout, "the backend did not answer within the API's timeout")
			return
		}
		p.fail(ctx, x, fasthttp.StatusBadGateway, "bad response from the backend")
		return
	}
	x.upStatus = resp.StatusCode()
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		// The node refused the upgrade: relay its answer and its body.
		var full fasthttp.Response
		resp.Header.CopyTo(&full.Header)
		if err := full.ReadBody(br, 0); err != nil && err != io.EOF {
			x.errMsg = err.Error()
		}
		conn.Close()
		full.CopyTo(&ctx.Response)
		cleanResponse(&ctx.Response.Header)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	head := append([]byte(nil), resp.Header.Header()...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer conn.Close()
		_ = client.SetDeadline(time.Time{})
		if _, err := client.Write(head); err != nil {
			return
		}
		pipe(client, conn, br)
	})
}

func (p *Proxy) dialUpgrade(api *snapshot.API, deadline time.Time) (net.Conn, *snapshot.Node, error) {
	if api.Channel == nil {
		n := api.URL
		c, err := n.Client.DialTimeout(n.Addr, time.Until(deadline))
		return c, n, err
	}
	ch := api.Channel
	if !ch.Balancer.Active() {
		return nil, nil, errNoActiveNode
	}
	var tried balancer.Tried
	var lastErr error
	for range 1 + ch.Retries {
		i := ch.Pick(&tried, time.Now().UnixNano())
		tried.Add(i)
		n := &ch.Nodes[i]
		c, err := n.Client.DialTimeout(n.Addr, time.Until(deadline))
		if err == nil {
			n.Health.OK()
			return c, n, nil
		}
		n.Health.Fail(time.Now().UnixNano(), int64(snapshot.FailTimeout))
		lastErr = err
		if !time.Now().Before(deadline) {
			break
		}
	}
	return nil, nil, lastErr
}

type proxyError string

func (e proxyError) Error() string { return string(e) }

const errNoActiveNode = proxyError("the channel has no node with a weight above 0")

// pipe copies both ways until one side ends, then closes both so the other
// copy ends too. fromNode holds bytes the node sent after its 101 answer.
func pipe(client, node net.Conn, fromNode *bufio.Reader) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			// The server closes the hijacked connection itself once the
			// handler returns; a past deadline wakes a blocked read now.
			_ = client.SetDeadline(time.Unix(1, 0))
			node.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(node, client)
		closeBoth()
	}()
	_, _ = io.Copy(client, fromNode)
	closeBoth()
	wg.Wait()
}
