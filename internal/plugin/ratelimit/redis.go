package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Timeouts and back-off of the Redis limiter. A rate limit is checked on
// every request, so a slow Redis must cost a request a few tens of
// milliseconds at most, and once it has failed, nothing: requests are then
// counted locally until a single probe finds it again.
const (
	redisTimeout      = 50 * time.Millisecond // dial, read, write, and waiting for a pooled connection
	redisMinBackoff   = time.Second           // first pause after a failure
	redisMaxBackoff   = 5 * time.Second       // the pause doubles after each failed probe, up to this
	redisConnsPerProc = 16                    // pool size per GOMAXPROCS: one decision holds a connection for one round trip
)

// DefaultPrefix starts every Redis key the limiter writes, so that its keys
// can be told apart (and scanned, or given their own eviction policy) in a
// Redis shared with other uses. Window counters are under DefaultPrefix+"w:",
// totals under DefaultPrefix+"q:".
const DefaultPrefix = "portico:rl:"

// windowScript is the algorithm of admits and roll, run atomically in
// Redis: one round trip reads the key's state, decides, and counts. Time is
// the Redis server's (TIME), so that gateway nodes with skewed clocks agree
// on the window; ARGV[5] overrides it in tests only. All values are
// integers below 2^53, so Lua's doubles compute exactly what Go does.
//
// The key is a hash: w (window, µs), b (start of the window counted in c,
// µs), p (count of the window before b), c. It expires when both counts
// would have rolled to zero, about two windows after the last request.
// It returns {allowed, previous count, current count, now µs}; the caller
// computes Remaining and Reset from them with decide.
var windowScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local u = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local e = math.fmod(now, w)
local start = now - e
local s = math.floor(e / u)
local st = redis.call('HMGET', KEYS[1], 'w', 'b', 'p', 'c')
local b, prev, cur = start, 0, 0
if tonumber(st[1]) == w then
  local sb, sp, sc = tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
  if sb >= start then
    b, prev, cur = sb, sp, sc
  elseif sb == start - w then
    prev = sc
  end
end
if prev * (n - s) + cur * n < limit * n then
  cur = cur + 1
  redis.call('HSET', KEYS[1], 'w', w, 'b', b, 'p', prev, 'c', cur)
  redis.call('PEXPIRE', KEYS[1], math.ceil((b + 2 * w - now) / 1000))
  return {1, prev, cur, now}
end
return {0, prev, cur, now}
`)

// totalScript counts one request against a total without a window.
// It returns {allowed, used}.
var totalScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used < tonumber(ARGV[1]) then
  return {1, redis.call('INCR', KEYS[1])}
end
return {0, used}
`)

// Redis counts in a Redis shared by every gateway node, so that a limit is
// one limit for the whole cluster rather than one per node. Each decision is
// one round trip running one Lua script (EVALSHA; EVAL when Redis does not
// know the script yet).
//
// When Redis fails or is slow (50 ms timeouts), the decision is taken by
// the fallback limiter instead, so Allow never fails and never waits longer
// than that. After a failure Redis is left alone for a back-off period (1 s,
// doubling up to 5 s after each failed probe); the first request after it
// probes Redis while the others keep counting locally. The start and the end
// of an outage are logged once each, and Fallbacks counts the decisions
// taken locally. During an outage each node counts on its own, so a key may
// get up to limit per node.
type Redis struct {
	client   *redis.Client
	network  string
	addr     string
	fallback Limiter
	own      *Local // the fallback NewRedis made, closed by Close
	log      *slog.Logger
	prefix   string

	// scriptNow, when set (tests only), replaces the Redis server's time.
	scriptNow func() time.Time

	minBackoff, maxBackoff time.Duration
	base                   time.Time // for a monotonic clock: time.Since(base)

	down      atomic.Bool
	retryAt   atomic.Int64 // monotonic ns before which Redis is not asked while down
	fallbacks atomic.Uint64

	mu            sync.Mutex // serializes outage transitions (rare), not decisions
	backoff       time.Duration
	downAt        time.Duration
	downFallbacks uint64
}

// NewRedis returns a limiter that counts in the Redis at url
// ("redis://[user:password@]host:port/db"; "rediss://" for TLS). It does not
// connect: an unreachable Redis is an outage handled by falling back, not an
// error, so the gateway starts and serves without it. The error is for a
// malformed URL only. fallback takes the decisions while Redis is
// unavailable; nil means a new Local, which Close then closes. log receives
// the outage messages; nil means slog.Default().
func NewRedis(url string, fallback Limiter, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: redis URL: %w", err)
	}
	// Timeouts given in the URL (?dial_timeout=…) win; otherwise tight ones.
	if opt.DialTimeout == 0 {
		opt.DialTimeout = redisTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = redisTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = redisTimeout
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = redisTimeout
	}
	if opt.PoolSize == 0 {
		opt.PoolSize = redisConnsPerProc * runtime.GOMAXPROCS(0)
	}
	// No retries: a retry multiplies the wait of a request when Redis is
	// down, and the fallback already answers it.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	// Maintenance notifications are for managed Redis clusters; off, so a
	// connection costs no extra command.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	if log == nil {
		log = slog.Default()
	}
	r := &Redis{
		client:     redis.NewClient(opt),
		network:    opt.Network,
		addr:       opt.Addr,
		fallback:   fallback,
		log:        log,
		prefix:     DefaultPrefix,
		minBackoff: redisMinBackoff,
		maxBackoff: redisMaxBackoff,
		base:       time.Now(),
	}
	if fallback == nil {
		r.own = NewLocal()
		r.fallback = r.own
	}
	return r, nil
}

// Close closes the connections to Redis, and the fallback if NewRedis made
// it.
func (r *Redis) Close() error {
	err := r.client.Close()
	if r.own != nil {
		_ = r.own.Close()
	}
	return err
}

// Fallbacks is the number of decisions the fallback took because Redis was
// unavailable (for a metric: it grows only during outages).
func (r *Redis) Fallbacks() uint64 { return r.fallbacks.Load() }

// Allow counts one request for key against limit per window, in Redis when
// it answers, else in the fallback.
func (r *Redis) Allow(ctx context.Context, key []byte, limit int64, window time.Duration) Decision {
	if limit < 1 {
		return refuseAll(limit, window)
	}
	if use, probe := r.route(); use {
		d, err := r.allowRedis(ctx, key, limit, window)
		if err == nil {
			if probe {
				r.recovered()
			}
			return d
		}
		r.failed(ctx, err, probe)
	}
	r.fallbacks.Add(1)
	return r.fallback.Allow(ctx, key, limit, window)
}

func (r *Redis) allowRedis(ctx context.Context, key []byte, limit int64, window time.Duration) (Decision, error) {
	limit = clampLimit(limit)
	p := windowParams(window)
	var now any = "" // the script reads the server's time
	if r.scriptNow != nil {
		now = r.scriptNow().UnixMicro()
	}
	res, err := windowScript.Run(ctx, r.client, []string{r.prefix + "w:" + string(key)},
		limit, p.w, p.u, p.n, now).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: redis script answered %d values, want 4", len(res))
	}
	return decide(res[0] == 1, res[1], res[2], limit, positionAt(res[3], p), p), nil
}

// AllowTotal counts one request for key against a total of limit, in Redis
// when it answers. During an outage the fallback counts if it is a Quota
// (its count starts from zero, so a key may get up to limit more per node);
// otherwise the request is allowed, because refusing every paying client
// for an outage of the counter is worse than not counting for a while.
func (r *Redis) AllowTotal(ctx context.Context, key []byte, limit int64) Decision {
	if limit < 1 {
		return totalDecision(false, 0, limit)
	}
	if use, probe := r.route(); use {
		res, err := totalScript.Run(ctx, r.client, []string{r.prefix + "q:" + string(key)}, limit).Int64Slice()
		if err == nil && len(res) != 2 {
			err = fmt.Errorf("ratelimit: redis script answered %d values, want 2", len(res))
		}
		if err == nil {
			if probe {
				r.recovered()
			}
			return totalDecision(res[0] == 1, res[1], limit)
		}
		r.failed(ctx, err, probe)
	}
	r.fallbacks.Add(1)
	if q, ok := r.fallback.(Quota); ok {
		return q.AllowTotal(ctx, key, limit)
	}
	return Decision{Allowed: true, Limit: limit, Remaining: limit}
}

// Used is the count of key in Redis. It asks Redis even during an outage
// and returns its error: the admin API must not show a node's local count as
// the cluster's.
func (r *Redis) Used(ctx context.Context, key []byte) (int64, error) {
	n, err := r.client.Get(ctx, r.prefix+"q:"+string(key)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// ResetTotal deletes the count of key in Redis, and in the fallback when it
// is a Quota, so that a reset during an outage is not undone by the local
// count.
func (r *Redis) ResetTotal(ctx context.Context, key []byte) error {
	if q, ok := r.fallback.(Quota); ok {
		_ = q.ResetTotal(ctx, key)
	}
	return r.client.Del(ctx, r.prefix+"q:"+string(key)).Err()
}

func (r *Redis) mono() time.Duration { return time.Since(r.base) }

// route says whether this decision goes to Redis, and whether it is the
// probe that ends a back-off. Healthy, it costs one atomic load. During an
// outage only one request per back-off period gets through, and it first
// opens a plain connection: if even that fails, Redis is not asked (which
// also keeps the client library from logging a failed dial per probe).
func (r *Redis) route() (use, probe bool) {
	if !r.down.Load() {
		return true, false
	}
	now := int64(r.mono())
	at := r.retryAt.Load()
	// Holding off the others for maxBackoff while the probe runs; the
	// probe's outcome sets the real time of the next one.
	if now < at || !r.retryAt.CompareAndSwap(at, now+int64(r.maxBackoff)) {
		return false, false
	}
	c, err := net.DialTimeout(r.network, r.addr, redisTimeout)
	if err != nil {
		r.failed(context.Background(), err, true)
		return false, false
	}
	_ = c.Close()
	return true, true
}

// failed records a failed call. The first failure starts an outage (one
// log line); a failed probe doubles the back-off. A failure of a request
// that was already on its way when the outage began changes nothing.
func (r *Redis) failed(ctx context.Context, err error, probe bool) {
	if ctx.Err() != nil {
		// The caller gave up (client gone, deadline): nothing is known about
		// Redis. A probe hands its turn to the next request.
		if probe {
			r.retryAt.Store(int64(r.mono()))
		}
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.mono()
	if !r.down.Load() {
		r.backoff = r.minBackoff
		r.retryAt.Store(int64(now + r.backoff))
		r.downAt = now
		r.downFallbacks = r.fallbacks.Load()
		r.down.Store(true)
		r.log.Warn("rate limit: Redis unavailable, counting on this node meanwhile",
			"addr", r.addr, "error", err.Error(), "retry_in", r.backoff.String())
		return
	}
	if probe {
		r.backoff = min(2*r.backoff, r.maxBackoff)
		r.retryAt.Store(int64(now + r.backoff))
	}
}

// recovered ends an outage after a successful probe (one log line).
func (r *Redis) recovered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down.Load() {
		return
	}
	r.down.Store(false)
	r.log.Info("rate limit: Redis is back, counting there again",
		"addr", r.addr, "outage", (r.mono() - r.downAt).Round(time.Millisecond).String(),
		"local_decisions", r.fallbacks.Load()-r.downFallbacks)
}
