package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// downStore is a store whose server cannot be reached.
type downStore struct{ store.Store }

var errDown = &store.UnavailableError{Op: "create channel", Err: errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")}

func (downStore) CreateChannel(context.Context, *config.Channel) error { return errDown }

func (downStore) ListChannels(context.Context, store.Page) ([]config.Channel, int, error) {
	return nil, 0, errDown
}

// TestStoreUnavailable: a call the store cannot serve because it is
// unreachable answers 503 StoreUnavailable with the cause, not a 500.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.Store = downStore{o.Store} })
	for _, r := range []response{
		e.do("POST", "/api/v1/channels", channelMap("down", "default")),
		e.do("GET", "/api/v1/channels", nil),
	} {
		ae := e.wantErr(r, http.StatusServiceUnavailable, "StoreUnavailable", "")
		if !strings.HasPrefix(ae.Message, "the configuration store is unreachable: ") || !strings.Contains(ae.Message, "connection refused") {
			t.Errorf("message %q", ae.Message)
		}
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
}

// TestHealthzStale: a node serving a configuration it cannot check
// against the store stays healthy (200) and says it is stale.
func TestHealthzStale(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var stale atomic.Bool
	e := newEnv(t, func(o *Options) {
		o.Stale = func() (time.Time, string, bool) {
			if stale.Load() {
				return since, "the configuration store is unreachable: connection refused", true
			}
			return time.Time{}, "", false
		}
	})
	var h struct {
		Status     string     `json:"status"`
		Stale      bool       `json:"stale"`
		StaleSince *time.Time `json:"stale_since"`
		StaleError string     `json:"stale_error"`
	}
	r := e.doAuth("GET", "/healthz", nil, "")
	r.decode(t, &h)
	if r.status != 200 || h.Status != "ok" || h.Stale || h.StaleSince != nil {
		t.Fatalf("healthy node: %d %s", r.status, r.raw)
	}
	stale.Store(true)
	h = struct {
		Status     string     `json:"status"`
		Stale      bool       `json:"stale"`
		StaleSince *time.Time `json:"stale_since"`
		StaleError string     `json:"stale_error"`
	}{}
	r = e.doAuth("GET", "/healthz", nil, "")
	r.decode(t, &h)
	if r.status != 200 || h.Status != "ok" || !h.Stale || h.StaleSince == nil || !h.StaleSince.Equal(since) ||
		!strings.Contains(h.StaleError, "unreachable") {
		t.Fatalf("stale node: %d %s", r.status, r.raw)
	}
}
