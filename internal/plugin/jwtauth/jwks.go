package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// JWKS fetching.
const (
	// RefreshInterval is how often a JWKS is fetched again, so that keys
	// the provider withdrew stop verifying within this time.
	RefreshInterval = 10 * time.Minute

	// MinMissRefresh is the shortest time between two fetches of one URL
	// asked for by tokens with an unknown kid: kids are chosen by clients,
	// and a flood of made-up ones must not become a flood of fetches.
	MinMissRefresh = 30 * time.Second

	// MissWait is how long a token with an unknown kid may wait for the
	// refresh it triggered (or found running).
	MissWait = 2 * time.Second

	// FetchTimeout bounds one fetch, from connect to the end of the body.
	FetchTimeout = 5 * time.Second

	// MaxJWKSBytes bounds a JWKS document; real ones are a few KiB.
	MaxJWKSBytes = 1 << 20

	// Retries after a failed fetch start at retryMin and double up to
	// retryMax, so that a provider that is down is not hammered and one
	// that comes back is used within a minute.
	retryMin = time.Second
	retryMax = time.Minute

	maxRedirects = 5
)

// Keys is the long-lived owner of JWKS documents, shared by every snapshot
// so that a configuration change does not fetch again: there is one entry
// per URL, fetched in the background when the first verifier using it is
// built, refreshed every RefreshInterval, and on demand when a token names a
// kid that is not cached (at most once per MinMissRefresh). A failed fetch
// keeps the keys already cached — an identity provider that is down must not
// log everyone out — and is retried with backoff.
//
// An entry lives as long as a Verifier uses it: when the last one is garbage
// collected (its snapshot was replaced and finished its requests), the entry
// is dropped at its next scheduled fetch, so a URL removed from the
// configuration stops being fetched.
type Keys struct {
	client *http.Client
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	sets   map[string]*keySet
	closed bool

	// The timings, fixed before the first New; tests shorten them.
	refresh, minMiss, missWait, fetchTimeout, retryMin, retryMax time.Duration
}

// NewKeys returns an empty Keys fetching with client (nil: a default
// client) and logging fetches to log (nil: nowhere). client is copied, not
// changed: the copy refuses redirects to other schemes than http and https,
// from https to http, and after 5 hops.
func NewKeys(client *http.Client, log *slog.Logger) *Keys {
	if client == nil {
		client = &http.Client{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := *client
	c.CheckRedirect = redirectPolicy(client.CheckRedirect)
	ctx, cancel := context.WithCancel(context.Background())
	return &Keys{
		client:       &c,
		log:          log,
		ctx:          ctx,
		cancel:       cancel,
		sets:         make(map[string]*keySet),
		refresh:      RefreshInterval,
		minMiss:      MinMissRefresh,
		missWait:     MissWait,
		fetchTimeout: FetchTimeout,
		retryMin:     retryMin,
		retryMax:     retryMax,
	}
}

// redirectPolicy keeps a fetch on http and https, and off plain http once it
// was on https (a redirect must not undo the protection the URL asked for).
func redirectPolicy(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		switch {
		case req.URL.Scheme != "http" && req.URL.Scheme != "https":
			return fmt.Errorf("redirect to a %q URL refused", req.URL.Scheme)
		case req.URL.Scheme == "http" && via[len(via)-1].URL.Scheme == "https":
			return errors.New("redirect from https to http refused")
		case len(via) >= maxRedirects:
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		case next != nil:
			return next(req, via)
		}
		return nil
	}
}

// Close stops every fetch and background goroutine and waits for them.
// Verifiers built on k keep serving the keys already cached, but fetch no
// more; New with a JWKS URL fails after Close.
func (k *Keys) Close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.cancel()
	k.wg.Wait()
}

// acquire returns the entry for url, creating and starting it if needed, and
// counts v as a user until v is collected.
func (k *Keys) acquire(v *Verifier, url string) (*keySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errors.New("jwtauth: Keys is closed")
	}
	s := k.sets[url]
	if s == nil {
		s = &keySet{url: url, owner: k, kick: make(chan struct{}, 1)}
		k.sets[url] = s
		k.wg.Add(1)
		go s.run()
	}
	s.refs++
	runtime.AddCleanup(v, (*keySet).release, s)
	return s, nil
}

// keySet is one JWKS URL: the cached keys, and the goroutine that fetches
// them (the only one that does, so fetches of a URL never overlap).
type keySet struct {
	url   string
	owner *Keys
	ring  atomic.Pointer[keyring] // nil until the first successful fetch
	kick  chan struct{}           // asks run for a fetch now
	refs  int                     // live Verifiers; guarded by owner.mu

	mu        sync.Mutex
	inflight  chan struct{} // closed when the running or requested fetch ends
	lastStart time.Time     // start of the latest fetch, for MinMissRefresh
	stopped   bool          // run has returned: nothing will fetch again
}

// release is a Verifier's cleanup.
func (s *keySet) release() {
	s.owner.mu.Lock()
	s.refs--
	s.owner.mu.Unlock()
}

// run fetches at once, then on schedule and on request, until Close or
// until no Verifier uses the entry.
func (s *keySet) run() {
	k := s.owner
	defer k.wg.Done()
	defer s.stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-s.kick:
			s.mu.Lock()
			requested := s.inflight != nil
			s.mu.Unlock()
			if !requested {
				// The scheduled fetch already served this request.
				continue
			}
		case <-timer.C:
			if s.unused() {
				k.log.Debug("jwks no longer used", "url", s.url)
				return
			}
		}
		err := s.fetch()
		if err == nil {
			failures = 0
			timer.Reset(k.refresh)
			continue
		}
		failures++
		retry := min(k.retryMin<<min(failures-1, 16), k.retryMax)
		cached := 0
		if r := s.ring.Load(); r != nil {
			cached = len(r.keys)
		}
		if k.ctx.Err() == nil {
			k.log.Warn("jwks fetch failed", "url", s.url, "err", err, "cached_keys", cached, "retry_in", retry)
		}
		timer.Reset(retry)
	}
}

// unused drops the entry when no Verifier holds it.
func (s *keySet) unused() bool {
	k := s.owner
	k.mu.Lock()
	defer k.mu.Unlock()
	if s.refs > 0 {
		return false
	}
	if k.sets[s.url] == s {
		delete(k.sets, s.url)
	}
	return true
}

// stop marks the entry as no longer fetching and releases any waiter.
func (s *keySet) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.inflight != nil {
		close(s.inflight)
		s.inflight = nil
	}
}

// fetch downloads the document and, if it holds usable keys, makes them
// the cache; waiters are released either way.
func (s *keySet) fetch() error {
	s.mu.Lock()
	if s.inflight == nil {
		s.inflight = make(chan struct{})
	}
	done := s.inflight
	s.lastStart = time.Now()
	s.mu.Unlock()

	ring, skipped, err := s.download()
	if err == nil {
		old := s.ring.Swap(ring)
		kids := ring.kidList()
		level := slog.LevelDebug
		if old == nil || !slices.Equal(old.kidList(), kids) {
			level = slog.LevelInfo
		}
		s.owner.log.Log(context.Background(), level, "jwks loaded", "url", s.url, "kids", kids, "skipped", skipped)
	}

	s.mu.Lock()
	close(done)
	s.inflight = nil
	s.mu.Unlock()
	return err
}

func (s *keySet) download() (*keyring, []string, error) {
	k := s.owner
	ctx, cancel := context.WithTimeout(k.ctx, k.fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the document: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, nil, fmt.Errorf("document larger than %d bytes", MaxJWKSBytes)
	}
	return parseJWKS(body)
}

// refreshForMiss asks for a fetch on behalf of a token whose key is not
// cached. It returns a channel closed when the fetch ends, or nil when no
// fetch may start (one started less than minMiss ago, or the entry stopped).
// A fetch already running is joined whatever its age: waiting for it costs
// the provider nothing.
func (s *keySet) refreshForMiss() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	if s.stopped || time.Since(s.lastStart) < s.owner.minMiss {
		return nil
	}
	s.inflight = make(chan struct{})
	s.lastStart = time.Now()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return s.inflight
}

// find looks the token's key up in the cache.
func (s *keySet) find(kid string, hasKid bool, alg string) (*publicKey, *Error) {
	ring := s.ring.Load()
	if ring == nil {
		return nil, errKeysUnavailable
	}
	switch key, res := ring.find(kid, hasKid, alg); res {
	case found:
		return key, nil
	case algMismatchK:
		return nil, errAlgorithm
	}
	return nil, errUnknownKid
}

// lookup is find, plus one bounded wait for a refresh when the key is not
// cached (see Verify).
func (s *keySet) lookup(kid string, hasKid bool, alg string) (*publicKey, *Error) {
	key, err := s.find(kid, hasKid, alg)
	if err != errUnknownKid && err != errKeysUnavailable {
		return key, err
	}
	done := s.refreshForMiss()
	if done == nil {
		return nil, err
	}
	t := time.NewTimer(s.owner.missWait)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	return s.find(kid, hasKid, alg)
}
