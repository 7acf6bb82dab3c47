package e2e

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// echoService answers grpc.testing.TestService calls: UnaryCall echoes
// the payload (after the delay asked in the request's response size, in
// milliseconds), FullDuplexCall echoes each message as it arrives.
type echoService struct {
	testpb.UnimplementedTestServiceServer
}

func (echoService) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if d := time.Duration(in.GetResponseSize()) * time.Millisecond; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-echo-request-id", first(md.Get("x-request-id"))))
	return &testpb.SimpleResponse{Payload: in.GetPayload()}, nil
}

func (echoService) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// startGRPCBackend runs a gRPC server with the health and echo services
// on 127.0.0.1: cleartext HTTP/2, or over TLS with cert when it is set.
func startGRPCBackend(t *testing.T, cert *tls.Certificate) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	testpb.RegisterTestServiceServer(srv, echoService{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	a := ln.Addr().(*net.TCPAddr)
	return "127.0.0.1", a.Port
}

// TestGRPCThroughTheGateway: gRPC clients over TLS (HTTP/2) reach a grpc
// channel end to end: unary and bidirectional streaming calls, trailers,
// the API timeout, and the gateway's own errors as gRPC statuses.
func TestGRPCThroughTheGateway(t *testing.T) {
	t.Parallel()
	host, port := startGRPCBackend(t, nil)
	dead, deadPort := deadAddr(t)
	g := startGateway(t)
	a := g.admin
	ch := a.createChannel(channel{Network: "default", Scheme: "grpc", Nodes: []node{{Host: host, Port: port, Weight: 1}}})
	deadCh := a.createChannel(channel{Network: "default", Scheme: "grpc", Nodes: []node{{Host: dead, Port: deadPort, Weight: 1}}})
	grpcAPI := func(name, path, chID string) api {
		x := channelAPI(name, "POST", "="+path, chID, path)
		x.Backend.Timeout = 1
		return x
	}
	sid := a.createService("grpc")
	a.createAPI(sid, grpcAPI("health", "/grpc.health.v1.Health/Check", ch.ID))
	a.createAPI(sid, grpcAPI("unary", "/grpc.testing.TestService/UnaryCall", ch.ID))
	a.createAPI(sid, grpcAPI("duplex", "/grpc.testing.TestService/FullDuplexCall", ch.ID))
	a.createAPI(sid, grpcAPI("down", "/grpc.testing.TestService/EmptyCall", deadCh.ID))
	a.publish(sid, "release")

	conn, err := grpc.NewClient(g.tlsAddr, grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{InsecureSkipVerify: true}))) //nolint:gosec // the gateway's default certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Unary, with the backend's trailers relayed.
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check through the gateway: %v %v", hc, err)
	}
	tc := testpb.NewTestServiceClient(conn)
	var trailer metadata.MD
	out, err := tc.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}, grpc.Trailer(&trailer))
	if err != nil || string(out.GetPayload().GetBody()) != "ping" {
		t.Fatalf("unary call: %v %v", out, err)
	}
	if first(trailer.Get("x-echo-request-id")) == "" {
		t.Errorf("the backend's trailer did not come back, or it saw no X-Request-Id: %v", trailer)
	}

	// Bidirectional: each message's echo arrives before the next is sent.
	stream, err := tc.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := []byte("message " + strconv.Itoa(i))
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: msg}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got, err := stream.Recv()
		if err != nil || string(got.GetPayload().GetBody()) != string(msg) {
			t.Fatalf("echo %d: %v %v", i, got, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of the stream: %v, want io.EOF", err)
	}

	// The gateway's own errors are gRPC statuses.
	for _, tc2 := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"unreachable node", func() error {
			_, err := tc.EmptyCall(ctx, &testpb.Empty{})
			return err
		}, codes.Unavailable},
		{"no route", func() error {
			_, err := testpb.NewReconnectServiceClient(conn).Stop(ctx, &testpb.Empty{})
			return err
		}, codes.NotFound},
		{"API timeout (1 s)", func() error {
			_, err := tc.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 3000})
			return err
		}, codes.DeadlineExceeded},
	} {
		err := tc2.call()
		if status.Code(err) != tc2.want {
			t.Errorf("%s: %v, want %s", tc2.name, err, tc2.want)
		}
	}
}

// TestGRPCSChannel: a grpcs channel reaches its node over TLS, verified
// with the channel's CA and server name.
func TestGRPCSChannel(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	certPEM, keyPEM := ca.issue(t, 9, time.Now().Add(time.Hour), "grpc.internal")
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	host, port := startGRPCBackend(t, &cert)
	g := startGateway(t)
	a := g.admin
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	ch := a.createChannel(channel{Network: "default", Scheme: "grpcs", Nodes: []node{{Host: host, Port: port, Weight: 1}},
		TLS: &channelTLS{CAPEM: caPEM, ServerName: "grpc.internal"}})
	a.publishedService("grpcs", channelAPI("health", "POST", "=/grpc.health.v1.Health/Check", ch.ID, "/grpc.health.v1.Health/Check"))

	conn, err := grpc.NewClient(g.tlsAddr, grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{InsecureSkipVerify: true}))) //nolint:gosec // the gateway's default certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check through a grpcs channel: %v %v", hc, err)
	}
}
