package upstream

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func get(t *testing.T, c *fasthttp.HostClient, host string) (int, error) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	scheme := "http"
	if c.IsTLS {
		scheme = "https"
	}
	req.SetRequestURI(scheme + "://" + host + "/")
	err := c.Do(req, resp)
	if err == nil {
		_ = resp.Body()
	}
	return resp.StatusCode(), err
}

func TestRefusedConnectIsDialError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewPool().Client(Target{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, addr); !IsDialError(err) {
		t.Fatalf("refused connect: %v, want a DialError", err)
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	p := NewPool()

	untrusted, _ := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{ServerName: "example.com"}})
	if _, err := get(t, untrusted, addr); !IsDialError(err) {
		t.Fatalf("unknown CA: %v, want a DialError (verification is on by default)", err)
	}
	trusted, _ := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{ServerName: "example.com", CAPEM: caPEM}})
	if status, err := get(t, trusted, addr); err != nil || status != 200 {
		t.Fatalf("with ca_pem: %d %v", status, err)
	}
	skip, _ := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{InsecureSkipVerify: true}})
	if status, err := get(t, skip, addr); err != nil || status != 200 {
		t.Fatalf("insecure_skip_verify: %d %v", status, err)
	}
	if _, err := p.Client(Target{HTTPS: true, Addr: addr, TLS: TLS{CAPEM: "junk"}}); err == nil {
		t.Fatal("a CA without a certificate must be refused")
	}
}

func TestPoolReusesAndRetains(t *testing.T) {
	p := NewPool()
	a, _ := p.Client(Target{Addr: "127.0.0.1:1"})
	b, _ := p.Client(Target{Addr: "127.0.0.1:1"})
	c, _ := p.Client(Target{Addr: "127.0.0.1:2"})
	if a != b || a == c {
		t.Fatal("one client per target expected")
	}
	p.Retain(map[*fasthttp.HostClient]bool{c: true})
	if d, _ := p.Client(Target{Addr: "127.0.0.1:1"}); d == a {
		t.Fatal("a dropped target must get a new client")
	}
	if e, _ := p.Client(Target{Addr: "127.0.0.1:2"}); e != c {
		t.Fatal("a retained target must keep its client")
	}
}
