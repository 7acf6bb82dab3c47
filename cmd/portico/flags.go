package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/clientip"
)

// serveConfig holds the flags of `portico serve` (docs/configuration.md).
type serveConfig struct {
	ProxyAddr      string
	ProxyTLSAddr   string
	AdminAddr      string
	DataDir        string
	Store          string
	AdminToken     string
	Networks       []string
	AccessLog      string
	MaxBody        int64
	Drain          time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	TrustedProxies string
	Redis          string
	LogBuffer      int
	Metrics        bool
	OTLPEndpoint   string
}

// parseServeFlags reads flags, each defaulting to its PORTICO_* variable and
// then to the built-in default; a flag on the command line wins.
func parseServeFlags(args []string, getenv func(string) string) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	// The flag package would print each error and the whole usage; the
	// caller prints the error once, and -h prints the usage (helpUsage).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c := &serveConfig{}
	var networks, maxBody string
	fs.StringVar(&c.ProxyAddr, "proxy-addr", ":8080", "where API traffic is served (HTTP)")
	fs.StringVar(&c.ProxyTLSAddr, "proxy-tls-addr", ":8443", "where API traffic is served over TLS (HTTP/1.1 and HTTP/2 by ALPN); off disables")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:9180", "admin API and health check address")
	fs.StringVar(&c.DataDir, "data-dir", "./portico-data", "the embedded store and other local state")
	fs.StringVar(&c.Store, "store", "", "configuration store: empty for embedded SQLite in --data-dir, or postgres://user:password@host:5432/db?search_path=schema shared by the nodes of a cluster")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token of the admin API (generated and stored when unset)")
	fs.StringVar(&networks, "networks", "default", "comma-separated networks this instance reaches, its own first")
	fs.StringVar(&c.AccessLog, "access-log", "stdout", "access log: a file path, stdout, or off")
	fs.StringVar(&maxBody, "max-body", "16MiB", "largest request body accepted (e.g. 512KiB, 16MiB, 1GiB)")
	fs.DurationVar(&c.Drain, "drain-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 60*time.Second, "time a client has to send a request head, and the longest silence within a request body")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 60*time.Second, "the longest a client may leave an answer unread before it is disconnected")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 90*time.Second, "how long an idle keep-alive client connection is kept")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of load balancers in front whose X-Forwarded-For is believed")
	fs.StringVar(&c.Redis, "redis", "", "redis://host:port/db: rate-limit counters shared by every node of a cluster (empty: counted in memory)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OTLP/HTTP collector (http://host:4318) that gets a span per request; empty: none")
	fs.BoolVar(&c.Metrics, "metrics", true, "count requests for /metrics and /api/v1/stats (false: neither)")
	fs.IntVar(&c.LogBuffer, "log-buffer", 10000, "recent access-log entries kept for GET /api/v1/logs (0: none)")
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%s: %s", name, v, expected(f))
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			helpUsage(os.Stdout, fs)
			return nil, err
		}
		return nil, flagError(fs, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	for _, n := range strings.Split(networks, ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.Networks = append(c.Networks, n)
		}
	}
	if len(c.Networks) == 0 {
		return nil, fmt.Errorf("--networks must name at least one network")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"drain-timeout", c.Drain}, {"read-timeout", c.ReadTimeout}, {"write-timeout", c.WriteTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("--%s must be a positive duration such as 30s", d.name)
		}
	}
	// Everything that can be checked is checked here, before the gateway
	// opens or writes anything.
	for _, a := range []struct{ name, v string }{{"proxy-addr", c.ProxyAddr}, {"admin-addr", c.AdminAddr}, {"proxy-tls-addr", c.ProxyTLSAddr}} {
		if a.name == "proxy-tls-addr" && (a.v == "off" || a.v == "") {
			continue
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil || port == "" {
			return nil, fmt.Errorf("--%s=%s: not an address such as :8080 or 127.0.0.1:8080", a.name, a.v)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("--%s=%s: the port must be 0-65535", a.name, a.v)
		}
	}
	if _, err := clientip.Parse(c.TrustedProxies); err != nil {
		return nil, err // it names the flag and the bad entry
	}
	if r := c.Redis; r != "" {
		if u, err := url.Parse(r); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return nil, fmt.Errorf("--redis=%s: not a redis:// or rediss:// address such as redis://127.0.0.1:6379/0", r)
		}
	}
	switch s := c.Store; {
	case s == "", s == "sqlite", strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
	default:
		return nil, fmt.Errorf("--store: %q is neither empty (the embedded store in --data-dir) nor a postgres:// URL", s)
	}
	if c.LogBuffer < 0 {
		return nil, fmt.Errorf("--log-buffer must be 0 or more entries, got %d", c.LogBuffer)
	}
	if e := c.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("--otlp-endpoint must be an http:// or https:// collector address such as http://127.0.0.1:4318, got %q", e)
		}
	}
	var err error
	if c.MaxBody, err = parseSize(maxBody); err != nil {
		return nil, fmt.Errorf("--max-body: %v", err)
	}
	return c, nil
}

// parseSize reads a byte size such as "16MiB", "512KB", "1048576".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a size such as 16MiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// envName is the variable of a flag: PORTICO_ + its name in upper case,
// - as _.
func envName(flagName string) string {
	return "PORTICO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// expected says what a flag's value must look like, by its type.
func expected(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "not a valid value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "not a duration (such as 30s, 500ms, 2m)"
	case bool:
		return "not true or false"
	case int, int64, uint, uint64:
		return "not a whole number"
	}
	return "not a valid value"
}

// badValue matches the flag package's error for a value that does not
// parse: invalid value "x" for flag -name: ...
var badValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([^:]+): `)

// flagError rewrites the flag package's errors to name the flag as it is
// written (--name) and say what was expected, once.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := badValue.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[2]); f != nil {
			return fmt.Errorf("--%s=%s: %s", m[2], m[1], expected(f))
		}
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown flag --%s (portico serve --help lists them)", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("--%s needs a value", name)
	}
	return err
}

// helpUsage prints every flag as it is written, with its variable and
// default, on w.
func helpUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: portico serve [flags]")
	fmt.Fprintln(w, "\nEvery flag can also be set by its variable; a flag on the command line wins.")
	fmt.Fprintln(w)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
	})
}
