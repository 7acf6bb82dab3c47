// Command portico runs the Portico API gateway.
//
//	portico serve [flags]   run one gateway node
//	portico store copy ...  copy a configuration store to another
//	portico export|apply|diff   declarative configuration
//	portico admin-token rotate  replace the admin token
//	portico version         print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/clientip"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/console"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
	"github.com/portico-gw/portico/internal/plugin/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/snapshot"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/postgres"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/tlsfront"
	"github.com/portico-gw/portico/internal/upstream"
)

// version may be set at build time with -ldflags "-X main.version=..."; it
// is not needed: versionString reads the module version and the VCS
// revision that go build records.
var version = ""

// adminTimeout bounds one admin API exchange.
const adminTimeout = 30 * time.Second

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		cfg, err := parseServeFlags(os.Args[2:], os.Getenv)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // the flag set printed the usage
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "portico serve:", err)
			os.Exit(2)
		}
		log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: logTime}))
		if err := serve(cfg, log); err != nil {
			log.Error("portico stopped", "error", err)
			os.Exit(1)
		}
	case "store":
		err := storeCommand(os.Args[2:], os.Stdout, os.Stderr)
		var ue usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case errors.As(err, &ue):
			fmt.Fprintln(os.Stderr, "portico store:", err)
			os.Exit(2)
		case err != nil:
			fmt.Fprintln(os.Stderr, "portico store:", err)
			os.Exit(1)
		}
	case "export", "apply", "diff":
		var err error
		switch os.Args[1] {
		case "export":
			err = exportCommand(os.Args[2:], os.Stdout)
		default:
			err = applyCommand(os.Args[2:], os.Stdout, os.Args[1] == "diff")
		}
		var ue usageError
		switch {
		case err == nil:
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case errors.Is(err, errChanges):
			os.Exit(1)
		case errors.As(err, &ue):
			fmt.Fprintf(os.Stderr, "portico %s: %v\n", os.Args[1], err)
			os.Exit(2)
		default:
			fmt.Fprintf(os.Stderr, "portico %s: %v\n", os.Args[1], err)
			// diff exits 2 on an error, as diff(1) does; 1 means changes.
			if os.Args[1] == "diff" {
				os.Exit(2)
			}
			os.Exit(1)
		}
	case "admin-token":
		err := tokenCommand(os.Args[2:], os.Stdout, os.Stderr)
		var ue usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case errors.As(err, &ue):
			fmt.Fprintln(os.Stderr, "portico admin-token:", err)
			os.Exit(2)
		case err != nil:
			fmt.Fprintln(os.Stderr, "portico admin-token:", err)
			os.Exit(1)
		}
	case "version", "--version", "-v":
		fmt.Println("portico", versionString())
	case "help", "-h", "--help":
		usage(os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "portico: unknown command %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage:\n  portico serve [flags]   run a gateway node (portico serve -h lists the flags)\n"+
		"  portico store copy --from <data-dir or postgres:// DSN> --to <data-dir or postgres:// DSN> [--force]\n"+
		"                          copy a configuration store (e.g. the embedded one to PostgreSQL)\n"+
		"  portico export [-o FILE] [--format yaml|json]   the whole configuration as one document\n"+
		"  portico apply -f FILE [--prune] [--dry-run]      make the gateway match the document\n"+
		"  portico diff -f FILE [--prune]                   what apply would change (exit 1 if anything)\n"+
		"  portico admin-token rotate [--data-dir DIR] [--store DSN]\n"+
		"                          replace the admin token (the gateway stopped)\n"+
		"  portico version         print the version")
}

// versionString is the version as go build recorded it: the module version
// (go install …@v1.2.3) or "dev" for a build from a checkout, with the VCS
// revision, its time, and "modified" when the work tree had changes.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	return describeBuild(version, bi, ok)
}

func describeBuild(v string, bi *debug.BuildInfo, ok bool) string {
	if v == "" {
		v = "dev"
		if ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	if !ok {
		return v
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
			if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
				at = config.FormatTime(t) // the form of every other time shown
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	detail := "revision " + rev
	if at != "" {
		detail += ", " + at
	}
	if modified {
		detail += ", modified"
	}
	return v + " (" + detail + ")"
}

func serve(cfg *serveConfig, log *slog.Logger) error {
	drain := cfg.Drain
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	beat, err := heartbeatInterval(os.Getenv)
	if err != nil {
		return err
	}
	id, err := nodeID(cfg.DataDir)
	if err != nil {
		return err
	}
	started := time.Now().UTC()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	token, err := adminToken(ctx, cfg, st, log)
	if err != nil {
		return err
	}

	pool := upstream.NewPool()
	defer pool.Close()
	snaps := snapshot.NewManager(st, pool, log)
	lastApplied := filepath.Join(cfg.DataDir, snapshot.LastAppliedFile)
	snaps.SetLastApplied(lastApplied)
	jwtKeys := jwtauth.NewKeys(&http.Client{Timeout: 10 * time.Second}, log)
	defer jwtKeys.Close()
	snaps.SetJWTKeys(jwtKeys)

	var acc *proxy.AccessLog
	switch cfg.AccessLog {
	case "off", "":
	case "stdout":
		acc = proxy.NewAccessLog(os.Stdout)
	default:
		if acc, err = proxy.OpenAccessLogFile(cfg.AccessLog); err != nil {
			return fmt.Errorf("--access-log: %w", err)
		}
	}
	if acc != nil {
		defer acc.Close()
	}

	trusted, err := clientip.Parse(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	local := ratelimit.NewLocal()
	defer local.Close()
	var limiter ratelimit.Limiter = local
	if cfg.Redis != "" {
		rl, err := ratelimit.NewRedis(cfg.Redis, local, log)
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		defer rl.Close()
		limiter = rl
	}
	var logRing *observe.LogRing
	if acc != nil && cfg.LogBuffer > 0 {
		logRing = observe.NewLogRing(cfg.LogBuffer)
		acc.KeepRecent(logRing)
	}
	mo := observe.Options{NodesDown: snaps.NodesDown, Nodes: func(fn func(channel, node, state string)) {
		snaps.EachNode(func(n snapshot.NodeStatus) { fn(n.ChannelID, n.Addr, n.State) })
	}}
	if acc != nil {
		mo.AccessLogDropped = acc.Dropped
	}
	if rl, ok := limiter.(*ratelimit.Redis); ok {
		mo.RedisFallbacks = rl.Fallbacks
	}
	var (
		metrics *observe.Metrics
		stats   *observe.Stats
		handler http.Handler
	)
	if cfg.Metrics {
		metrics = observe.New(mo)
		snaps.SetMetrics(metrics)
		stats = observe.NewStats()
		snaps.SetStats(stats)
		handler = metrics.Handler()
	}
	checks := health.NewMonitor(log)
	defer checks.Close()
	if metrics != nil {
		checks.OnChange = func(c health.Change) { metrics.NodeStateChanged(c.Channel, c.To.String()) }
	}
	snaps.SetHealth(checks)
	tlsOn := cfg.ProxyTLSAddr != "off" && cfg.ProxyTLSAddr != ""
	if tlsOn {
		def, outcome, err := certs.LoadOrCreateDefault(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("the default TLS certificate in %s: %w", cfg.DataDir, err)
		}
		if outcome.Replaced != nil {
			log.Warn("the default TLS certificate was unusable and has been generated again", "reason", outcome.Replaced)
		} else if outcome.Created {
			log.Info("generated the default TLS certificate (self-signed)", "dir", cfg.DataDir)
		}
		snaps.SetDefaultCertificate(def)
	}
	if err := snaps.Refresh(ctx); err != nil {
		if !store.IsUnavailable(err) {
			return fmt.Errorf("loading the configuration: %w", err)
		}
		if err := restoreLastApplied(snaps, lastApplied, err); err != nil {
			return err
		}
	}
	// Run ends before the store closes (deferred earlier, so run later),
	// and has saved the newest applied configuration by then.
	runCtx, cancelRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		snaps.Run(runCtx)
	}()
	defer func() {
		cancelRun()
		<-runDone
	}()
	var tracer *observe.Tracer
	if cfg.OTLPEndpoint != "" {
		if tracer, err = observe.NewTracer(ctx, cfg.OTLPEndpoint, version); err != nil {
			return fmt.Errorf("--otlp-endpoint: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tracer.Shutdown(sctx)
		}()
	}
	px := proxy.New(proxy.Options{Source: snaps, Log: log, AccessLog: acc, MaxBody: cfg.MaxBody,
		TrustedProxies: trusted, Limiter: limiter, Metrics: metrics, Tracer: tracer})
	if acc != nil {
		// logrotate moves the file, then sends SIGHUP: continue in a new one.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				if err := acc.Reopen(); err != nil {
					log.Error("reopening the access log", "path", cfg.AccessLog, "error", err)
				} else {
					log.Info("access log reopened", "path", cfg.AccessLog)
				}
			}
		}()
	}
	proxySrv := &h1.Server{
		Handler:      px,
		ReadTimeout:  cfg.ReadTimeout,
		IdleTimeout:  cfg.IdleTimeout,
		WriteTimeout: cfg.WriteTimeout,
		Log:          log,
	}
	proxyLn, err := net.Listen("tcp", cfg.ProxyAddr)
	if err != nil {
		return fmt.Errorf("--proxy-addr: %w", err)
	}
	var tlsLn net.Listener
	if tlsOn {
		if tlsLn, err = net.Listen("tcp", cfg.ProxyTLSAddr); err != nil {
			proxyLn.Close()
			return fmt.Errorf("--proxy-tls-addr: %w", err)
		}
		px.SetHTTPSPort(tlsLn.Addr().(*net.TCPAddr).Port)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		proxyLn.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return fmt.Errorf("--admin-addr: %w", err)
	}

	var ready, draining atomic.Bool
	adminSrv := &http.Server{
		// The console under /console/ is a client of the same handler,
		// in process: one set of rules and messages for both.
		Handler: console.Mount(admin.New(admin.Options{
			Store: st, Token: token, Networks: cfg.Networks,
			Ready: ready.Load, Draining: draining.Load, Status: snaps.Status, Logger: log, Quota: quotaOf(limiter),
			Metrics: handler, Logs: logRing, Stats: stats, NodeHealth: nodeHealth(snaps),
			DataPlane: snaps, Stale: staleness(snaps), HeartbeatInterval: beat,
		}), console.Options{Token: token, Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       adminTimeout,
		WriteTimeout:      adminTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}
	errs := make(chan error, 3)
	go func() { errs <- proxySrv.Serve(proxyLn) }()
	var front *tlsfront.Front
	tlsAddr := "off"
	if tlsLn != nil {
		front = tlsfront.New(proxySrv, certs.ServerConfig(snaps.GetCertificate),
			tlsfront.Options{IdleTimeout: cfg.IdleTimeout, ReadTimeout: cfg.ReadTimeout, Log: log})
		go func() { errs <- front.Serve(tlsLn) }()
		tlsAddr = tlsLn.Addr().String()
	}
	go func() {
		if err := adminSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
	ready.Store(true)
	log.Info("portico serving", "version", versionString(), "proxy_addr", proxyLn.Addr().String(),
		"proxy_tls_addr", tlsAddr, "admin_addr", adminLn.Addr().String(), "networks", strings.Join(cfg.Networks, ","),
		"node_id", id)
	if c, ok := st.(store.Cluster); ok {
		hostname, _ := os.Hostname()
		info := store.NodeInfo{ID: id, Hostname: hostname, Version: versionString(),
			ProxyAddr: proxyLn.Addr().String(), StartedAt: started}
		beatCtx, stopBeats := context.WithCancel(context.Background())
		beatsDone := make(chan struct{})
		go func() {
			defer close(beatsDone)
			heartbeats(beatCtx, c, info, snaps, beat, log)
		}()
		defer func() {
			stopBeats()
			<-beatsDone
		}()
	}

	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	ready.Store(false)
	log.Info("draining", "timeout", drain.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	// HTTP/2 clients are told to go away while the engine drains; their
	// streams still in flight are the engine's exchanges, so both end
	// together.
	frontDone := make(chan error, 1)
	go func() {
		if front != nil {
			frontDone <- front.Shutdown(shutCtx)
			return
		}
		frontDone <- nil
	}()
	if err := proxySrv.Shutdown(shutCtx); err != nil {
		log.Warn("drain ended before every request finished", "error", err)
	}
	if err := <-frontDone; err != nil {
		log.Warn("drain of HTTP/2 connections ended before every stream finished", "error", err)
	}
	_ = adminSrv.Shutdown(shutCtx)
	log.Info("stopped")
	return nil
}

func openStore(ctx context.Context, cfg *serveConfig) (store.Store, error) {
	switch {
	case cfg.Store == "" || cfg.Store == "sqlite":
		st, err := sqlite.Open(ctx, cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("opening the embedded store in %s: %w", cfg.DataDir, err)
		}
		return st, nil
	case isPostgresDSN(cfg.Store):
		// Connect, not Open: a node starts while the server is unreachable
		// (it serves its last applied configuration, see serve).
		st, err := postgres.Connect(ctx, cfg.Store)
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store %s: %w", redactDSN(cfg.Store), err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("--store: %q is neither empty (embedded SQLite) nor a postgres:// URL", cfg.Store)
	}
}

// isPostgresDSN reports whether s names a PostgreSQL store.
func isPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactDSN is a DSN fit for logs and messages: its password hidden.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a DSN that does not parse as a URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// prepareDataDir creates the data directory, private: it holds the admin
// token and the last applied configuration, secrets included. An existing
// directory keeps its mode (it may be one the operator made), with a
// warning when others may enter it; the files in it are 0600 anyway.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the data directory may be entered by other users; it holds secrets (in files of mode 0600): chmod 700 it",
			"dir", dir, "mode", fi.Mode().Perm().String())
	}
	return nil
}

// restoreLastApplied serves the configuration the node applied last, from
// the data directory, because the store cannot be read at start (cause).
func restoreLastApplied(snaps *snapshot.Manager, path string, cause error) error {
	st, appliedAt, err := snapshot.ReadLastApplied(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the configuration store cannot be read (%w), and this node has applied no configuration before (%s does not exist): nothing to serve; start it with the store reachable", cause, path)
	}
	if err != nil {
		return fmt.Errorf("the configuration store cannot be read (%w), and the last applied configuration cannot be used: %v", cause, err)
	}
	if err := snaps.Restore(st, cause); err != nil {
		return fmt.Errorf("the configuration store cannot be read (%w), and the last applied configuration (revision %d, applied %s) does not build: %v",
			cause, st.Revision, config.FormatTime(appliedAt), err)
	}
	return nil
}

// staleness adapts the manager's view for /healthz.
func staleness(snaps *snapshot.Manager) func() (time.Time, string, bool) {
	return func() (time.Time, string, bool) {
		s, ok := snaps.Stale()
		if !ok {
			return time.Time{}, "", false
		}
		return s.Since, s.Reason(), true
	}
}

// adminToken picks the admin token: the flag or variable wins, then the
// stored one; on first start one is generated, stored and written 0600 to
// <data-dir>/admin.token. While the store is unreachable, the copy in
// <data-dir>/admin.token stands in for the stored one.
func adminToken(ctx context.Context, cfg *serveConfig, st store.Store, log *slog.Logger) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.DataDir, "admin.token")
	tok, err := st.AdminToken(ctx)
	if store.IsUnavailable(err) {
		b, ferr := os.ReadFile(path)
		if t := strings.TrimSpace(string(b)); ferr == nil && t != "" {
			log.Warn("the configuration store cannot be read; using the admin token kept in the data directory", "path", path, "error", err)
			return t, nil
		}
		return "", fmt.Errorf("reading the admin token: %w; and %s holds none: set --admin-token, or start the node with the store reachable", err, path)
	}
	if err != nil {
		return "", err
	}
	if tok == "" {
		if tok, err = newToken(); err != nil {
			return "", err
		}
		if c, ok := st.(store.Cluster); ok {
			// Nodes starting together on an empty store agree on one.
			if tok, err = c.EnsureAdminToken(ctx, tok); err != nil {
				return "", err
			}
		} else if err := st.SetAdminToken(ctx, tok); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	log.Info("admin token", "path", path)
	return tok, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// quotaOf is the quota counter of the limiter, if it keeps totals.
func quotaOf(l ratelimit.Limiter) admin.Quota {
	if q, ok := l.(ratelimit.Quota); ok {
		return q
	}
	return nil
}

// nodeHealth adapts the data plane's view of channel nodes to the admin
// API's.
func nodeHealth(snaps *snapshot.Manager) func(string) (map[string]config.NodeHealth, bool) {
	return func(id string) (map[string]config.NodeHealth, bool) {
		nodes, ok := snaps.ChannelHealth(id)
		if !ok {
			return nil, false
		}
		out := make(map[string]config.NodeHealth, len(nodes))
		for _, n := range nodes {
			out[n.Addr] = config.NodeHealth{State: n.State, Reason: n.Reason, Since: n.Since}
		}
		return out, true
	}
}

// logTime writes the time of a log record in the form of every other
// timestamp the node shows (RFC 3339, UTC, milliseconds), so that a log line
// and an API answer about the same event can be matched by eye.
func logTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, config.FormatTime(a.Value.Time()))
	}
	return a
}
