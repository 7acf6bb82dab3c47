package upstream

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// newH2Transport is the HTTP/2 client of a gRPC target: net/http's, with
// HTTP/2 only (cleartext h2c for grpc, over TLS with the channel's settings
// for grpcs). One transport per node multiplexes every stream to it over as
// few connections as HTTP/2 needs, so there is no pool to size.
func newH2Transport(p *Pool, t Target, tlsCfg *tls.Config) *http.Transport {
	var protos http.Protocols
	if t.HTTPS {
		protos.SetHTTP2(true)
		tlsCfg = tlsCfg.Clone()
		tlsCfg.NextProtos = []string{"h2"}
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	addr := t.Addr
	return &http.Transport{
		Protocols:       &protos,
		TLSClientConfig: tlsCfg,
		// Every stream goes to the node, whatever the request's URL says.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, DialTimeout)
			defer cancel()
			c, err := p.dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &DialError{err}
			}
			return c, nil
		},
		TLSHandshakeTimeout: DialTimeout,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 5 * time.Second},
	}
}

// RoundTrip sends an HTTP/2 exchange to the node of an H2 target.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.h2.RoundTrip(req)
}
