package ratelimit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedisAddr is the Redis the Redis tests run against. Without it they
// are skipped, unless CI=true, where a missing Redis is a failure: CI must
// not pass by skipping.
const testRedisAddr = "127.0.0.1:6379"

// testRedisURL has generous timeouts: the tests of the algorithm must not
// see a decision fall back because a loaded test machine stalled a read
// for 50 ms. The outage tests use the real, tight timeouts.
var testRedisURL = "redis://" + testRedisAddr + "/0?dial_timeout=5s&read_timeout=5s&write_timeout=5s&pool_timeout=5s"

// t0 starts a day, so it starts a window of every length the gateway uses.
var t0 = time.Unix(1_799_971_200, 0).UTC()

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// needRedis returns a plain client to the test Redis, or skips the test
// (fails it when CI=true) if Redis does not answer.
func needRedis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1, DialerRetries: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s does not answer (%v); CI=true requires it", testRedisAddr, err)
		}
		t.Skipf("Redis at %s does not answer (%v): skipping; start one (redis-server) to run this test, with CI=true this is a failure", testRedisAddr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix is a key prefix of the test's own, so concurrent and repeated
// runs do not see each other's counters. Its keys are deleted at the end.
func testPrefix(t testing.TB, c *redis.Client) string {
	name := strings.NewReplacer("/", ".", " ", "_", "*", "_").Replace(t.Name())
	prefix := fmt.Sprintf("%stest:%s:%d:", DefaultPrefix, name, time.Now().UnixNano())
	t.Cleanup(func() { deleteKeys(t, c, prefix) })
	return prefix
}

func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning up %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Logf("cleaning up %s*: %v", prefix, err)
		}
	}
}

// newTestRedis is a Redis limiter on url with a prefix of the test's own.
// The fallback is a Local on the same clock as the script when clock is
// given (so a decision taken by the fallback would look the same, and the
// tests check Fallbacks to tell).
func newTestRedis(t testing.TB, c *redis.Client, url string, clock *fakeClock, log *slog.Logger) *Redis {
	t.Helper()
	var fb *Local
	if clock != nil {
		fb = newLocal(clock.Now, MaxKeys, false)
	} else {
		fb = newLocal(time.Now, MaxKeys, false)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	r, err := NewRedis(url, fb, log)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		r.prefix = testPrefix(t, c)
	}
	if clock != nil {
		r.scriptNow = clock.Now
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// impl makes a limiter of one kind on a fake clock.
type impl struct {
	name string
	new  func(t *testing.T, clock *fakeClock) Limiter
}

// impls are the limiters every algorithm test runs on: the same tables must
// pass in memory and in Redis, since they are meant to be one algorithm.
var impls = []impl{
	{"local", func(t *testing.T, clock *fakeClock) Limiter {
		return newLocal(clock.Now, MaxKeys, false)
	}},
	{"redis", func(t *testing.T, clock *fakeClock) Limiter {
		r := newTestRedis(t, needRedis(t), testRedisURL, clock, nil)
		t.Cleanup(func() {
			if n := r.Fallbacks(); n != 0 {
				t.Errorf("%d decisions were taken by the fallback, not Redis", n)
			}
		})
		return r
	}},
}

// forEachImpl runs f as a subtest per limiter kind.
func forEachImpl(t *testing.T, f func(t *testing.T, clock *fakeClock, lim Limiter)) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			clock := newClock(t0)
			f(t, clock, im.new(t, clock))
		})
	}
}

// logBuf collects log output for counting lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
