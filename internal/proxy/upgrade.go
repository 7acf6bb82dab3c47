package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"
)

// pipeUpgrade joins the client's and the node's connections after a 101:
// both are taken over from their servers and bytes are copied both ways
// until either side ends. It returns when both copies have stopped.
func (p *Proxy) pipeUpgrade(hx interface {
	Hijack() (net.Conn, *bufio.Reader, func())
}, st *reqState) {
	client, fromClient, release := hx.Hijack()
	defer release()
	node, fromNode := st.resp.Hijack()
	pipe(client, fromClient, node, fromNode)
}

// pipe copies both ways until one side ends, then closes both so the other
// copy ends too. fromClient and fromNode hold bytes read past the heads.
func pipe(client net.Conn, fromClient *bufio.Reader, node net.Conn, fromNode *bufio.Reader) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = client.SetDeadline(time.Unix(1, 0))
			_ = node.SetDeadline(time.Unix(1, 0))
		})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(node, fromClient)
		closeBoth()
	}()
	_, _ = io.Copy(client, fromNode)
	closeBoth()
	wg.Wait()
	client.Close()
	node.Close()
}
