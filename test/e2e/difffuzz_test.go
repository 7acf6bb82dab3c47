package e2e

// Differential fuzzing of the proxy port against net/http: the same raw
// bytes go to the real Portico binary and to a net/http server running
// httputil.ReverseProxy, each in front of its own recording backend; the
// requests the two backends see are compared. docs/differential-fuzzing.md
// has the why and the how; difffuzz_gen_test.go makes the cases.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	diffCasesFlag = flag.Int("diff.cases", 0, "cases of TestDifferentialHTTP (default $PORTICO_DIFF_CASES, else 3000)")
	diffSeedFlag  = flag.Uint64("diff.seed", 0, "generator seed of TestDifferentialHTTP (default $PORTICO_DIFF_SEED, else 1)")
)

// Bounds of every loop and wait of the harness.
const (
	diffSilence      = 2 * time.Second  // an answer stream that is silent this long is over
	diffExchangeMax  = 10 * time.Second // the longest one case may talk to one front
	diffDialTimeout  = 2 * time.Second
	diffMaxAnswer    = 1 << 20 // bytes of answers kept per case and front
	diffMaxBody      = 1 << 20 // a body the backends record
	diffQuiesceMax   = time.Second
	diffQuiesceGrace = 2 * time.Millisecond
	diffMaxInput     = 64 << 10 // larger fuzz inputs are skipped
	diffMaxReported  = 20       // findings printed in full
	diffMaxConns     = 1 << 20  // connections a backend accepts
)

func diffEnvInt(flagV int, name string, def int) int {
	if flagV > 0 {
		return flagV
	}
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// ---------------------------------------------------------------------------
// The recording backend

// diffSeen is one request as a backend read it with http.ReadRequest.
type diffSeen struct {
	Method  string
	URI     string
	Proto   string
	Fields  [][2]string // header fields as received: order and case kept
	Header  http.Header
	Body    []byte // decoded
	Trailer http.Header
}

// diffBackend is a raw TCP server on 127.0.0.1 that reads requests strictly
// with http.ReadRequest, records each complete one and answers 200 "ok".
type diffBackend struct {
	ln   net.Listener
	wg   sync.WaitGroup
	last atomic.Int64 // UnixNano of the last byte read

	mu     sync.Mutex
	seen   []diffSeen
	bad    []string // heads or bodies that did not parse (not a cut connection)
	conns  map[*diffBackendConn]struct{}
	closed bool
}

// diffBackendConn records what its connection reads, so that the raw head of
// each request can be cut out after http.ReadRequest parsed it.
type diffBackendConn struct {
	c       net.Conn
	b       *diffBackend
	raw     []byte
	pending atomic.Bool // bytes were read that are not yet a whole request
}

func (bc *diffBackendConn) Read(p []byte) (int, error) {
	n, err := bc.c.Read(p)
	if n > 0 {
		bc.raw = append(bc.raw, p[:n]...)
		bc.pending.Store(true)
		bc.b.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func diffStartBackend(tb testing.TB) *diffBackend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &diffBackend{ln: ln, conns: map[*diffBackendConn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	tb.Cleanup(b.close)
	return b
}

func (b *diffBackend) addr() string { return b.ln.Addr().String() }

func (b *diffBackend) accept() {
	defer b.wg.Done()
	for n := 0; n < diffMaxConns; n++ {
		c, err := b.ln.Accept()
		if err != nil {
			return // closed
		}
		bc := &diffBackendConn{c: c, b: b}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return
		}
		b.conns[bc] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(bc)
	}
}

func (b *diffBackend) close() {
	b.ln.Close()
	b.mu.Lock()
	b.closed = true
	for bc := range b.conns {
		bc.c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// diffIsCut reports whether err is the connection ending (EOF, reset,
// deadline) rather than bytes that do not parse.
func diffIsCut(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) && ne.Timeout()
}

const diffBackendAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n"

func (b *diffBackend) serve(bc *diffBackendConn) {
	defer b.wg.Done()
	defer func() {
		bc.c.Close()
		bc.pending.Store(false)
		b.mu.Lock()
		delete(b.conns, bc)
		b.mu.Unlock()
	}()
	br := bufio.NewReader(bc)
	for n := 0; n < 100000; n++ {
		_ = bc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		start := len(bc.raw) - br.Buffered()
		req, err := http.ReadRequest(br)
		if err != nil {
			if !diffIsCut(err) {
				b.addBad(fmt.Sprintf("head: %v: %.300q", err, bc.raw[start:]))
			}
			return
		}
		fields := diffRawFields(bc.raw[start : len(bc.raw)-br.Buffered()])
		if strings.EqualFold(req.Header.Get("Expect"), "100-continue") && req.ProtoAtLeast(1, 1) {
			_ = bc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(bc.c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				return
			}
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, diffMaxBody+1))
		if err != nil {
			if !diffIsCut(err) {
				b.addBad(fmt.Sprintf("body of %s %s: %v", req.Method, req.RequestURI, err))
			}
			return
		}
		if len(body) > diffMaxBody {
			b.addBad(fmt.Sprintf("body of %s %s: over %d bytes", req.Method, req.RequestURI, diffMaxBody))
			return
		}
		b.mu.Lock()
		b.seen = append(b.seen, diffSeen{Method: req.Method, URI: req.RequestURI, Proto: req.Proto,
			Fields: fields, Header: req.Header, Body: body, Trailer: req.Trailer})
		b.mu.Unlock()

		answer := diffBackendAnswer
		if req.Close {
			answer = strings.Replace(answer, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
		}
		if req.Method != http.MethodHead {
			answer += "ok\n"
		}
		_ = bc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(bc.c, answer); err != nil {
			return
		}
		used := len(bc.raw) - br.Buffered()
		bc.raw = append(bc.raw[:0], bc.raw[used:]...)
		if br.Buffered() == 0 {
			bc.pending.Store(false)
		}
		if req.Close {
			return
		}
	}
}

// diffRawFields splits a raw request head into its field lines.
func diffRawFields(head []byte) [][2]string {
	var out [][2]string
	lines := strings.Split(string(head), "\n")
	for _, l := range lines[1:] {
		l = strings.TrimSuffix(l, "\r")
		if l == "" {
			break
		}
		name, value, _ := strings.Cut(l, ":")
		out = append(out, [2]string{name, strings.Trim(value, " \t")})
	}
	return out
}

func (b *diffBackend) addBad(s string) {
	b.mu.Lock()
	b.bad = append(b.bad, s)
	b.mu.Unlock()
}

func (b *diffBackend) reset() {
	b.mu.Lock()
	b.seen, b.bad = nil, nil
	b.mu.Unlock()
}

// quiesce waits until no connection holds part of a request and nothing
// was read for a moment, so that a case's requests are all recorded before
// they are compared and none leaks into the next case.
func (b *diffBackend) quiesce() {
	deadline := time.Now().Add(diffQuiesceMax)
	for time.Now().Before(deadline) {
		busy := false
		b.mu.Lock()
		for bc := range b.conns {
			if bc.pending.Load() {
				busy = true
				break
			}
		}
		b.mu.Unlock()
		if !busy && time.Since(time.Unix(0, b.last.Load())) >= diffQuiesceGrace {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *diffBackend) take() ([]diffSeen, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, bad := b.seen, b.bad
	b.seen, b.bad = nil, nil
	return s, bad
}

// ---------------------------------------------------------------------------
// The reference: net/http + httputil.ReverseProxy

// diffTrailerBody passes the inbound request's trailers on to the outbound
// request once the body is read: httputil clones the trailer map before the
// body is read and so would forward the declared names without values.
type diffTrailerBody struct {
	io.ReadCloser
	in  *http.Request
	out http.Header
}

func (d *diffTrailerBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err == io.EOF {
		for k, vv := range d.in.Trailer {
			if len(vv) > 0 {
				d.out[k] = append([]string(nil), vv...)
			}
		}
	}
	return n, err
}

// diffStartReference serves a reverse proxy to backend on 127.0.0.1 that
// adds nothing of its own: no User-Agent, no Accept-Encoding, no
// Authorization from userinfo; the query as received; X-Forwarded-* as
// Portico sets them; request trailers forwarded.
func diffStartReference(tb testing.TB, backend string) string {
	tb.Helper()
	target := &url.URL{Scheme: "http", Host: backend}
	discard := log.New(io.Discard, "", 0)
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: diffDialTimeout}).DialContext,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.URL.User = nil
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Trailer = nil
			if pr.In.ContentLength < 0 && pr.Out.Body != nil {
				t := http.Header{}
				pr.Out.Trailer = t
				pr.Out.Body = &diffTrailerBody{ReadCloser: pr.Out.Body, in: pr.In, out: t}
			}
		},
		Transport: tr,
		ErrorLog:  discard,
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The harness half-closes its side after sending; net/http would
		// take that for a client gone and cancel the request. A context
		// with its own deadline (a nil Done would make ReverseProxy watch
		// CloseNotify instead) keeps the exchange going.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		// The body stores trailers into r's map, or into a new map on r
		// when it has none; a map made now is shared with the copy that
		// WithContext returns, so undeclared trailers reach diffTrailerBody.
		if r.Trailer == nil {
			r.Trailer = http.Header{}
		}
		rp.ServeHTTP(w, r.WithContext(ctx))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: discard, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
		tr.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// ---------------------------------------------------------------------------
// Portico

// diffPortico is one `portico serve` process. The helpers of gateway_test.go
// take a *testing.T; this one serves a *testing.F too.
type diffPortico struct {
	proxyAddr, adminAddr, dataDir, token string

	cmd    *exec.Cmd
	exited chan struct{}
	out    diffOutput
}

type diffOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *diffOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return o.buf.Write(p)
}

func (o *diffOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.buf.String()
	if len(s) > 8<<10 {
		s = s[len(s)-8<<10:]
	}
	return s
}

func diffFreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// diffStartPortico runs the gateway and serves every path of release, any
// method, from one channel whose only node is backend.
func diffStartPortico(tb testing.TB, backend string) *diffPortico {
	tb.Helper()
	if binary == "" {
		tb.Fatal("the gateway binary was not built (TestMain)")
	}
	p := &diffPortico{dataDir: tb.TempDir()}
	tb.Cleanup(p.stop)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = p.launch(tb); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("portico did not start: %v\n%s", err, p.out.String())
	}
	tok, err := os.ReadFile(filepath.Join(p.dataDir, "admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	p.token = strings.TrimSpace(string(tok))

	host, port, _ := net.SplitHostPort(backend)
	portN, _ := strconv.Atoi(port)
	var ch, svc struct {
		ID string `json:"id"`
	}
	p.admin(tb, "POST", "/channels", map[string]any{"name": "difffuzz", "network": "default", "scheme": "http",
		"retries": 1, "nodes": []map[string]any{{"host": host, "port": portN, "weight": 1}}}, http.StatusCreated, &ch)
	p.admin(tb, "POST", "/services", map[string]any{"name": "difffuzz"}, http.StatusCreated, &svc)
	p.admin(tb, "POST", "/services/"+svc.ID+"/apis", map[string]any{"name": "everything",
		"frontend": map[string]any{"path": "/", "method": "ANY"},
		"backend":  map[string]any{"type": "channel", "channel_id": ch.ID, "path": "/", "timeout": 5}},
		http.StatusCreated, nil)
	p.admin(tb, "POST", "/services/"+svc.ID+"/releases", map[string]any{"environment": "release", "description": "difffuzz"},
		http.StatusCreated, nil)

	// Served once a request goes through.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("http://" + p.proxyAddr + "/difffuzz-ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("portico does not serve the published API after 10 s (last: %v)\n%s", err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *diffPortico) launch(tb testing.TB) error {
	p.proxyAddr, p.adminAddr = diffFreeAddr(tb), diffFreeAddr(tb)
	p.cmd = exec.Command(binary, "serve", "--proxy-addr", p.proxyAddr, "--proxy-tls-addr", "off", "--admin-addr", p.adminAddr,
		"--data-dir", p.dataDir, "--access-log", "off", "--read-timeout", "5s", "--idle-timeout", "5s",
		"--drain-timeout", "1s")
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(p.cmd, p.exited)
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before serving (%s)", p.cmd.ProcessState)
		default:
		}
		if resp, err := c.Get("http://" + p.adminAddr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop()
	return errors.New("/healthz did not answer 200 in 15 s")
}

func (p *diffPortico) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *diffPortico) admin(tb testing.TB, method, path string, body any, want int, out any) {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(method, "http://"+p.adminAddr+"/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		tb.Fatalf("admin %s %s: %d, want %d: %s", method, path, resp.StatusCode, want, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			tb.Fatalf("admin %s %s: %s: %v", method, path, rb, err)
		}
	}
}

// ---------------------------------------------------------------------------
// One case: send, read, collect

// diffEnv is the two fronts and their backends.
type diffEnv struct {
	porticoAddr, refAddr string
	pb, rb               *diffBackend
	portico              *diffPortico
}

func diffStart(tb testing.TB) *diffEnv {
	tb.Helper()
	e := &diffEnv{pb: diffStartBackend(tb), rb: diffStartBackend(tb)}
	e.refAddr = diffStartReference(tb, e.rb.addr())
	e.portico = diffStartPortico(tb, e.pb.addr())
	e.porticoAddr = e.portico.proxyAddr
	e.pb.quiesce()
	e.pb.reset()
	return e
}

// diffAnswer is what a front wrote back on the case's connection.
type diffAnswer struct {
	raw     []byte
	closed  bool // the front closed (or reset) the connection; else it fell silent
	err     string
	dialErr bool // the front could not be reached at all
}

// diffNoHalfClose (PORTICO_DIFF_HALFCLOSE=0) keeps the sending side open:
// every exchange then ends only by the front closing or by diffSilence, which
// is slow, but shows whether a result depends on the half-close.
var diffNoHalfClose = os.Getenv("PORTICO_DIFF_HALFCLOSE") == "0"

// diffExchange sends in on a fresh connection to addr, half-closes (so that
// a front reading past the last request sees EOF and closes at once), and
// reads until the front closes or falls silent for diffSilence.
func diffExchange(addr string, in []byte) diffAnswer {
	c, err := net.DialTimeout("tcp", addr, diffDialTimeout)
	if err != nil {
		return diffAnswer{err: err.Error(), dialErr: true}
	}
	defer c.Close()
	end := time.Now().Add(diffExchangeMax)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_ = c.SetWriteDeadline(time.Now().Add(diffSilence))
		if _, err := c.Write(in); err == nil && !diffNoHalfClose {
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}()
	var a diffAnswer
	buf := make([]byte, 32<<10)
	for {
		d := time.Now().Add(diffSilence)
		if d.After(end) {
			d = end
		}
		_ = c.SetReadDeadline(d)
		n, err := c.Read(buf)
		if n > 0 && len(a.raw) < diffMaxAnswer {
			a.raw = append(a.raw, buf[:n]...)
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				a.closed = true
				if !errors.Is(err, io.EOF) {
					a.err = err.Error()
				}
			}
			break
		}
	}
	<-wrote
	return a
}

// diffStatuses are the status codes of the answers in raw: a scan for
// status lines, which the backends' and the gateways' bodies do not hold.
// A gateway's JSON error body does not end with a newline, so a status line
// may follow any byte.
func diffStatuses(raw []byte) []int {
	var out []int
	for i := 0; i+12 <= len(raw); i++ {
		if bytes.HasPrefix(raw[i:], []byte("HTTP/1.")) && raw[i+8] == ' ' {
			if n, err := strconv.Atoi(string(raw[i+9 : i+12])); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// diffOutcome is what one case did on both sides.
type diffOutcome struct {
	por, ref       []diffSeen
	porBad, refBad []string
	porAns, refAns diffAnswer
}

// check fails tb when a front could not be reached: a gateway that died
// (a crash, or a race report under GORACE=halt_on_error) would otherwise
// look like a gateway that rejects everything.
func (e *diffEnv) check(tb testing.TB, o diffOutcome) {
	tb.Helper()
	if o.porAns.dialErr {
		state := "running"
		select {
		case <-e.portico.exited:
			state = "exited: " + e.portico.cmd.ProcessState.String()
		default:
		}
		tb.Fatalf("Portico's proxy port is not reachable (%s; process %s)\n%s", o.porAns.err, state, e.portico.out.String())
	}
	if o.refAns.dialErr {
		tb.Fatalf("the net/http reference is not reachable: %s", o.refAns.err)
	}
}

func (e *diffEnv) run(in []byte) diffOutcome {
	e.pb.reset()
	e.rb.reset()
	var o diffOutcome
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); o.porAns = diffExchange(e.porticoAddr, in) }()
	go func() { defer wg.Done(); o.refAns = diffExchange(e.refAddr, in) }()
	wg.Wait()
	e.pb.quiesce()
	e.rb.quiesce()
	o.por, o.porBad = e.pb.take()
	o.ref, o.refBad = e.rb.take()
	return o
}

// ---------------------------------------------------------------------------
// The oracle

// diffIgnored are fields left out of the comparison: framing (bodies are
// compared decoded), the node's Host, and what each proxy adds by design.
var diffIgnored = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "trailer": true,
	"x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true, "forwarded": true,
	"x-request-id": true, "via": true,
	// Portico continues or starts a W3C trace for every request.
	"traceparent": true,
}

// diffFieldsOf is h with names lower-cased and repeated fields joined with
// ", " (RFC 9110 5.3), values trimmed, ignored fields left out.
func diffFieldsOf(h http.Header, trailer bool) map[string]string {
	out := map[string]string{}
	for k, vv := range h {
		name := strings.ToLower(k)
		if !trailer && diffIgnored[name] {
			continue
		}
		vals := make([]string, len(vv))
		for i, v := range vv {
			vals[i] = strings.Trim(v, " \t")
		}
		v := strings.Join(vals, ", ")
		if !trailer && name == "connection" && (strings.EqualFold(v, "close") || strings.EqualFold(v, "keep-alive")) {
			continue // the proxy's own choice for its hop to the node
		}
		if !trailer && name == "user-agent" {
			// net/http's client sends the first User-Agent only, and
			// none when it is empty.
			if v = vals[0]; v == "" {
				continue
			}
		}
		out[name] = v
	}
	return out
}

// diffSplitURI is path and query of a request-target.
func diffSplitURI(u string) (string, string) {
	p, q, ok := strings.Cut(u, "?")
	if !ok {
		return p, "\x00none"
	}
	return p, q
}

// diffCleanPath is the path as Portico documents it routes: percent-decoded,
// dot segments and empty segments removed (docs/design.md, Routing).
func diffCleanPath(p string) string {
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	c := path.Clean("/" + p)
	// RFC 3986 5.2.4: a last segment "." or ".." leaves a trailing slash.
	if (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")) && c != "/" {
		c += "/"
	}
	return c
}

// diffVerdict is the oracle's judgement of one case.
type diffVerdict struct {
	kind       string   // accepted, rejected-both, stricter, finding
	problems   []string // what differs, for a finding
	normalised int      // requests whose path differed only by the documented normalisation
}

const (
	diffAccepted     = "accepted"
	diffRejectedBoth = "rejected-both"
	diffStricter     = "stricter"
	diffFinding      = "finding"
)

// diffCompare lists how Portico's request p differs from the reference's
// request r; normalised is set when the paths differ only by the documented
// normalisation.
func diffCompare(r, p diffSeen) (problems []string, normalised bool) {
	if r.Method != p.Method {
		problems = append(problems, "method")
	}
	if r.Proto != p.Proto {
		problems = append(problems, "proto")
	}
	rp, rq := diffSplitURI(r.URI)
	pp, pq := diffSplitURI(p.URI)
	// Portico takes a first segment naming an environment off the path.
	if rest, ok := strings.CutPrefix(rp, "/release"); ok && (rest == "" || rest[0] == '/') {
		if rest == "" {
			rest = "/"
		}
		rp = rest
	}
	if rq != pq {
		problems = append(problems, "query")
	}
	if rp != pp {
		if diffCleanPath(rp) == diffCleanPath(pp) {
			normalised = true
		} else {
			problems = append(problems, "path")
		}
	}
	problems = append(problems, diffCompareFields("header", diffFieldsOf(r.Header, false), diffFieldsOf(p.Header, false))...)
	if !bytes.Equal(r.Body, p.Body) {
		problems = append(problems, "body")
	}
	problems = append(problems, diffCompareFields("trailer", diffFieldsOf(r.Trailer, true), diffFieldsOf(p.Trailer, true))...)
	return problems, normalised
}

func diffCompareFields(what string, r, p map[string]string) []string {
	var out []string
	for k, v := range r {
		pv, ok := p[k]
		switch {
		case !ok:
			out = append(out, what+" dropped: "+k)
		case pv != v:
			out = append(out, what+" changed: "+k)
		}
	}
	for k := range p {
		if _, ok := r[k]; !ok {
			out = append(out, what+" added: "+k)
		}
	}
	sort.Strings(out)
	return out
}

// diffJudge applies the oracle to one case.
func diffJudge(o diffOutcome) diffVerdict {
	var v diffVerdict
	for _, b := range o.porBad {
		v.problems = append(v.problems, "node got a malformed request: "+diffBadKind(b))
	}
	// Portico's final answers in order; the n-th answers the n-th request
	// it read.
	var finals []int
	for _, s := range diffStatuses(o.porAns.raw) {
		if s >= 200 {
			finals = append(finals, s)
		}
	}
	same := func(r, p diffSeen) bool { ps, _ := diffCompare(r, p); return len(ps) == 0 }
	// Align Portico's requests with the reference's: a request Portico
	// answered itself is skipped; one the reference never saw is extra.
	i, j, answered := 0, 0, 0
	for j < len(o.por) {
		if i >= len(o.ref) {
			v.problems = append(v.problems, "forwarded a request net/http did not"+diffRefReason(o.refAns.raw))
			break
		}
		ps, norm := diffCompare(o.ref[i], o.por[j])
		if len(ps) == 0 {
			if norm {
				v.normalised++
			}
			i, j, answered = i+1, j+1, answered+1
			continue
		}
		if k := slices.IndexFunc(o.ref[i+1:], func(r diffSeen) bool { return same(r, o.por[j]) }); k >= 0 {
			// Portico answered ref[i..i+k] itself and went on reading.
			for x := 0; x <= k; x++ {
				if answered < len(finals) && diffClosing[finals[answered]] {
					v.problems = append(v.problems, fmt.Sprintf("served a later request on a connection it answered %d (contract: close)", finals[answered]))
				}
				answered++
			}
			i += k + 1
			continue
		}
		if k := slices.IndexFunc(o.por[j+1:], func(p diffSeen) bool { return same(o.ref[i], p) }); k >= 0 {
			v.problems = append(v.problems, "forwarded a request net/http did not"+diffRefReason(o.refAns.raw))
			j += k + 1
			continue
		}
		v.problems = append(v.problems, ps...)
		i, j, answered = i+1, j+1, answered+1
	}
	switch {
	case len(v.problems) > 0:
		v.kind = diffFinding
		slices.Sort(v.problems)
		v.problems = slices.Compact(v.problems)
	case len(o.por) < len(o.ref):
		v.kind = diffStricter
	case len(o.por) == 0:
		v.kind = diffRejectedBoth
	default:
		v.kind = diffAccepted
	}
	return v
}

// diffRefReason is net/http's reason for its first error answer, such as
// " (net/http: 400 Bad Request: missing required Host header)".
func diffRefReason(raw []byte) string {
	for i := 0; i+12 <= len(raw); i++ {
		if !bytes.HasPrefix(raw[i:], []byte("HTTP/1.")) || raw[i+8] != ' ' || raw[i+9] < '4' {
			continue
		}
		_, body, ok := bytes.Cut(raw[i:], []byte("\r\n\r\n"))
		if !ok {
			break
		}
		line, _, _ := bytes.Cut(body, []byte("\r\n"))
		if len(line) > 80 {
			line = line[:80]
		}
		if len(line) == 0 {
			line = raw[i+9 : i+12]
		}
		return fmt.Sprintf(" (net/http: %s)", line)
	}
	return ""
}

// diffClosing are the statuses after which the contract closes the
// connection: nothing after them may be read as a request.
var diffClosing = map[int]bool{400: true, 413: true, 431: true, 501: true, 505: true}

// diffBadKind shortens a backend parse error to a signature.
func diffBadKind(b string) string {
	s, _, _ := strings.Cut(b, ": \"")
	if i := strings.Index(s, " of "); i >= 0 && strings.HasPrefix(s, "body") {
		if j := strings.Index(s[i:], ": "); j >= 0 {
			s = "body: " + s[i+j+2:]
		}
	}
	return s
}

// diffRender prints the requests a backend saw, one block each.
func diffRender(seen []diffSeen, bad []string) string {
	if len(seen) == 0 && len(bad) == 0 {
		return "    (nothing)\n"
	}
	var b strings.Builder
	for i, s := range seen {
		fmt.Fprintf(&b, "    #%d %s %q %s\n", i+1, s.Method, s.URI, s.Proto)
		for _, f := range s.Fields {
			fmt.Fprintf(&b, "       %q: %q\n", f[0], f[1])
		}
		fmt.Fprintf(&b, "       body %d bytes %.200q\n", len(s.Body), s.Body)
		for k, vv := range s.Trailer {
			fmt.Fprintf(&b, "       trailer %q: %q\n", k, vv)
		}
	}
	for _, x := range bad {
		fmt.Fprintf(&b, "    unparsable: %s\n", x)
	}
	return b.String()
}

// diffReport is a finding in full.
func diffReport(label string, in []byte, o diffOutcome, v diffVerdict) string {
	return fmt.Sprintf("%s: %s\n  input (%d bytes): %.2000q\n  answers: net/http %v (closed %v), Portico %v (closed %v)\n"+
		"  net/http's backend saw:\n%s  Portico's backend saw:\n%s",
		label, strings.Join(v.problems, "; "), len(in), in,
		diffStatuses(o.refAns.raw), o.refAns.closed, diffStatuses(o.porAns.raw), o.porAns.closed,
		diffRender(o.ref, o.refBad), diffRender(o.por, o.porBad))
}

// ---------------------------------------------------------------------------
// The tests

// TestDifferentialHTTP sends generated cases to Portico and to net/http and
// fails when Portico forwards what net/http rejected, or forwards an
// accepted request differently. Portico rejecting more is allowed and
// counted.
func TestDifferentialHTTP(t *testing.T) {
	cases := diffEnvInt(*diffCasesFlag, "PORTICO_DIFF_CASES", 3000)
	seed := uint64(1)
	if *diffSeedFlag > 0 {
		seed = *diffSeedFlag
	} else if v, err := strconv.ParseUint(os.Getenv("PORTICO_DIFF_SEED"), 10, 64); err == nil && v > 0 {
		seed = v
	}
	budget := 45 * time.Second
	if d, err := time.ParseDuration(os.Getenv("PORTICO_DIFF_BUDGET")); err == nil && d > 0 {
		budget = d
	}
	e := diffStart(t)
	corpus := len(diffCorpus())
	start := time.Now()
	var normExamples []string
	refBad := 0

	counts := map[string]int{}
	type group struct {
		n        int
		examples []string
	}
	verbose := os.Getenv("PORTICO_DIFF_VERBOSE") != ""
	findings := map[string]*group{}
	stricterBy := map[string]int{}
	normalised, silent, reported := 0, 0, 0
	ran := 0
	first := 0
	if v, err := strconv.Atoi(os.Getenv("PORTICO_DIFF_ONLY")); err == nil && v >= 0 {
		// One case of the run, to look at a finding again.
		first, cases, verbose = v, v+1, true
	}
	for i := first; i < cases; i++ {
		if time.Since(start) > budget {
			t.Logf("difffuzz: stopped after %d of %d cases: the time budget of %s is spent (PORTICO_DIFF_BUDGET)", i, cases, budget)
			break
		}
		ran++
		c := diffGenerate(seed, i)
		in := c.bytes()
		o := e.run(in)
		e.check(t, o)
		v := diffJudge(o)
		counts[v.kind]++
		normalised += v.normalised
		refBad += len(o.refBad)
		for j := 0; j < min(len(o.ref), len(o.por)) && v.normalised > 0 && len(normExamples) < 6; j++ {
			if o.ref[j].URI != o.por[j].URI {
				normExamples = append(normExamples, fmt.Sprintf("%q->%q", o.ref[j].URI, o.por[j].URI))
			}
		}
		if !o.porAns.closed {
			silent++
		}
		if !o.refAns.closed {
			silent++
		}
		label := fmt.Sprintf("case %d (seed %d) [%s]", i, seed, c)
		if verbose {
			t.Logf("%s: %s; answers net/http %v, Portico %v; forwarded net/http %d, Portico %d: %.300q",
				label, v.kind, diffStatuses(o.refAns.raw), diffStatuses(o.porAns.raw), len(o.ref), len(o.por), in)
			for _, b := range o.refBad {
				t.Logf("    net/http's node could not parse: %s", b)
			}
			for j := 0; j < min(len(o.ref), len(o.por)); j++ {
				if o.ref[j].URI != o.por[j].URI {
					t.Logf("    request %d: net/http's node got %q, Portico's %q", j+1, o.ref[j].URI, o.por[j].URI)
				}
			}
		}
		switch v.kind {
		case diffFinding:
			for _, p := range v.problems {
				g := findings[p]
				if g == nil {
					g = &group{}
					findings[p] = g
				}
				g.n++
				if len(g.examples) < 3 {
					g.examples = append(g.examples, fmt.Sprintf("case %d [%s]", i, c))
				}
			}
			if reported < diffMaxReported {
				reported++
				t.Error(diffReport(label, in, o, v))
			}
		case diffStricter:
			m := "corpus"
			if len(c.muts) > 0 {
				m, _, _ = strings.Cut(c.muts[0], "(")
			}
			stricterBy[m]++
		}
		if i < corpus && v.kind != diffAccepted && v.kind != diffFinding {
			// The corpus is valid HTTP/1.1: both must forward it.
			t.Errorf("sanity: %s: corpus case not forwarded by both (%s)\n%s", label, v.kind, diffReport(label, in, o, v))
		}
	}
	elapsed := time.Since(start)
	select {
	case <-e.portico.exited:
		t.Fatalf("Portico exited during the run (%s)\n%s", e.portico.cmd.ProcessState, e.portico.out.String())
	default:
	}

	nFindings := counts[diffFinding]
	t.Logf("difffuzz summary: seed %d, cases %d in %s (%d answers ended by %s of silence): accepted by both %d, "+
		"rejected by both %d, rejected by Portico only %d, findings %d",
		seed, ran, elapsed.Round(time.Millisecond), silent, diffSilence, counts[diffAccepted],
		counts[diffRejectedBoth], counts[diffStricter], nFindings)
	if normalised > 0 {
		t.Logf("difffuzz: %d forwarded paths differ only by Portico's documented normalisation (percent-decoding, "+
			"dot segments, empty segments; docs/design.md, Routing), e.g. %s", normalised, strings.Join(normExamples, ", "))
	}
	if refBad > 0 {
		// httputil forwards some targets net/http accepted in a form no
		// server parses (an authority-form "host:80" as the opaque "80");
		// the strict node turns those away, which counts as a rejection.
		t.Logf("difffuzz: httputil forwarded %d requests that its node could not parse (counted as rejected by net/http)", refBad)
	}
	if len(stricterBy) > 0 {
		keys := make([]string, 0, len(stricterBy))
		for k := range stricterBy {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, stricterBy[k])
		}
		t.Logf("difffuzz: rejected by Portico only, by first mutation:%s", b.String())
	}
	if len(findings) > 0 {
		keys := make([]string, 0, len(findings))
		for k := range findings {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(a, b int) bool {
			if na, nb := findings[keys[a]].n, findings[keys[b]].n; na != nb {
				return na > nb
			}
			return keys[a] < keys[b]
		})
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %5d  %s", findings[k].n, k)
			for _, ex := range findings[k].examples {
				fmt.Fprintf(&b, "\n           e.g. %s", ex)
			}
		}
		t.Errorf("difffuzz: %d findings (%d printed in full above), by problem:%s", nFindings, reported, b.String())
	}
}

// FuzzDifferential is the same oracle over inputs from Go's fuzzer, seeded
// with the corpus (valid requests, which must pass):
//
//	go test -run '^$' -fuzz FuzzDifferential -fuzztime 60s ./test/e2e/
func FuzzDifferential(f *testing.F) {
	corpus := diffCorpus()
	for _, c := range corpus {
		f.Add(diffBase(c).bytes())
	}
	e := diffStart(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > diffMaxInput {
			t.Skip("input over 64 KiB")
		}
		o := e.run(in)
		e.check(t, o)
		if v := diffJudge(o); v.kind == diffFinding {
			t.Fatal(diffReport("fuzz input", in, o, v))
		}
	})
}
