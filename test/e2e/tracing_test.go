package e2e

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestOTLPExport: with --otlp-endpoint a span per request reaches an OTLP
// receiver, as a child of the client's trace, and the backend's traceparent
// names that span as its parent.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var spans []*tracepb.Span
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer recv.Close()

	be := newBackend(t, "traced-be")
	g := startGateway(t, "--otlp-endpoint", recv.URL)
	ch := g.admin.createChannel(httpChannel(be.node(1)))
	_, apis := g.admin.publishedService("exported", channelAPI("t", "GET", "/t", ch.ID, "/t"))
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	seen := decodeEcho(t, g.get("/t", "Traceparent", parent)).Header.Get("Traceparent")
	g.Stop() // flushes the exporter

	mu.Lock()
	defer mu.Unlock()
	var span *tracepb.Span
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) == parent[3:35] {
			span = s
		}
	}
	if span == nil {
		t.Fatalf("no span of trace %s among %d exported", parent[3:35], len(spans))
	}
	if hex.EncodeToString(span.ParentSpanId) != parent[36:52] {
		t.Errorf("span parent %x, want the client's span %s", span.ParentSpanId, parent[36:52])
	}
	if len(seen) != 55 || seen[36:52] != hex.EncodeToString(span.SpanId) {
		t.Errorf("backend saw traceparent %q, want the gateway's span %x as parent", seen, span.SpanId)
	}
	strs, ints := map[string]string{}, map[string]int64{}
	for _, a := range span.Attributes {
		strs[a.Key], ints[a.Key] = a.Value.GetStringValue(), a.Value.GetIntValue()
	}
	if strs["portico.api_id"] != apis[0].ID || ints["http.response.status_code"] != 200 || strs["portico.upstream_addr"] != be.addr() {
		t.Errorf("span attributes %v %v", strs, ints)
	}
}
