package observe

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracer exports one span per request over OTLP/HTTP. It exists only when
// --otlp-endpoint is set: without it the request path makes no span and
// only passes a traceparent on.
type Tracer struct {
	tp *sdktrace.TracerProvider
	tr trace.Tracer
}

// NewTracer exports to endpoint, an OTLP/HTTP URL such as
// http://collector:4318 (the /v1/traces path is added). Spans are batched;
// a collector that is down costs dropped spans, never a request.
func NewTracer(ctx context.Context, endpoint, version string) (*Tracer, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", "portico"), attribute.String("service.version", version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracer{tp: tp, tr: tp.Tracer("github.com/portico-gw/portico")}, nil
}

// Shutdown sends what is buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// Span is one request's span while it is served.
type Span struct{ s trace.Span }

// Start begins the span of a request that started at start, as a child of
// the client's trace when parent (trace id and span id, hex) is valid.
func (t *Tracer) Start(parentTrace [16]byte, parentSpan [8]byte, sampled, hasParent bool, start time.Time) (Span, trace.SpanContext) {
	ctx := context.Background()
	if hasParent {
		flags := trace.TraceFlags(0)
		if sampled {
			flags = trace.FlagsSampled
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: parentTrace, SpanID: parentSpan, TraceFlags: flags, Remote: true,
		}))
	}
	_, s := t.tr.Start(ctx, "portico request", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	return Span{s}, s.SpanContext()
}

// End records what happened and ends the span.
func (s Span) End(method, route, service, env, api, node string, status, retries int) {
	s.s.SetAttributes(
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status),
		attribute.String("portico.service_id", service),
		attribute.String("portico.environment", env),
		attribute.String("portico.api_id", api),
		attribute.String("portico.upstream_addr", node),
		attribute.Int("portico.retries", retries),
	)
	if status >= 500 {
		s.s.SetStatus(codes.Error, "")
	}
	s.s.End()
}
