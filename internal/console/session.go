package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Names of the console's cookies and of the form field that carries the
// CSRF token.
const (
	sessionCookie = "portico_console"
	langCookie    = "portico_lang"
	csrfField     = "csrf"
)

// session is one signed-in browser. Its id is in the browser's cookie
// only: the store keys sessions by the id's SHA-256, so that neither a
// dump of the map nor the timing of a lookup says anything about a live
// id.
type session struct {
	key     [sha256.Size]byte
	csrf    string
	created time.Time
	seen    time.Time
	flash   *flash
}

// flash is a message shown once, on the next page the session sees (after
// the redirect that follows a successful POST).
type flash struct {
	key  string
	args []any
}

// sessionView is what a request reads of its session, copied out of the
// store so that the request needs no lock.
type sessionView struct {
	key  [sha256.Size]byte
	csrf string
}

// checkCSRF compares a submitted token with the session's in constant time.
func (s *sessionView) checkCSRF(got string) bool {
	if s == nil || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sessionStore keeps sessions in memory, bounded in number and in time.
type sessionStore struct {
	mu   sync.Mutex
	m    map[[sha256.Size]byte]*session
	max  int
	idle time.Duration
	life time.Duration
	now  func() time.Time
}

func newSessionStore(max int, idle, life time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{m: make(map[[sha256.Size]byte]*session), max: max, idle: idle, life: life, now: now}
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("console: crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns its id (for the cookie). When the
// store is full, expired sessions go first, then the least recently used.
func (s *sessionStore) create() (id string, v *sessionView) {
	id = randomToken()
	now := s.now()
	se := &session{key: sha256.Sum256([]byte(id)), csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweepLocked(now)
	}
	for len(s.m) >= s.max {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(s.m, oldest.key)
	}
	s.m[se.key] = se
	return id, &sessionView{key: se.key, csrf: se.csrf}
}

func (s *sessionStore) expiredLocked(se *session, now time.Time) bool {
	return now.Sub(se.seen) > s.idle || now.Sub(se.created) > s.life
}

func (s *sessionStore) sweepLocked(now time.Time) {
	for k, se := range s.m {
		if s.expiredLocked(se, now) {
			delete(s.m, k)
		}
	}
}

// get returns the live session of id and marks it used, or nil.
func (s *sessionStore) get(id string) *sessionView {
	if id == "" || len(id) > 100 {
		return nil
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[key]
	if !ok {
		return nil
	}
	if s.expiredLocked(se, now) {
		delete(s.m, key)
		return nil
	}
	se.seen = now
	return &sessionView{key: se.key, csrf: se.csrf}
}

// delete ends a session: its cookie opens nothing afterwards.
func (s *sessionStore) delete(key [sha256.Size]byte) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *sessionStore) setFlash(key [sha256.Size]byte, f *flash) {
	s.mu.Lock()
	if se, ok := s.m[key]; ok {
		se.flash = f
	}
	s.mu.Unlock()
}

func (s *sessionStore) takeFlash(key [sha256.Size]byte) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[key]
	if !ok {
		return nil
	}
	f := se.flash
	se.flash = nil
	return f
}

// sessionOf returns the live session the request's cookie names, or nil.
func (c *Console) sessionOf(r *http.Request) *sessionView {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return c.sessions.get(ck.Value)
}

// sessionCookieFor is the cookie that carries a session id: for the
// console's paths only, never readable by script, never sent along with a
// request another site starts, and only over TLS when the console is
// reached over TLS. It has no expiry of its own: the server ends sessions.
func (c *Console) sessionCookieFor(r *http.Request, id string) *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     Prefix,
		HttpOnly: true,
		Secure:   c.secure || r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

// failureLimiter counts wrong tokens per client address. Memory is
// bounded: past maxClients addresses, the oldest record is dropped.
type failureLimiter struct {
	mu     sync.Mutex
	m      map[string]*failures
	max    int
	window time.Duration
	now    func() time.Time
}

type failures struct {
	n     int
	first time.Time
}

const maxClients = 10000

func newFailureLimiter(max int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{m: make(map[string]*failures), max: max, window: window, now: now}
}

// blocked reports whether client has used up its attempts.
func (l *failureLimiter) blocked(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[client]
	if !ok {
		return false
	}
	if l.now().Sub(f.first) > l.window {
		delete(l.m, client)
		return false
	}
	return f.n >= l.max
}

// fail counts one wrong token from client.
func (l *failureLimiter) fail(client string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[client]
	if ok && now.Sub(f.first) > l.window {
		ok = false
	}
	if !ok {
		if len(l.m) >= maxClients {
			var oldestKey string
			var oldest time.Time
			for k, o := range l.m {
				if oldestKey == "" || o.first.Before(oldest) {
					oldestKey, oldest = k, o.first
				}
			}
			delete(l.m, oldestKey)
		}
		f = &failures{first: now}
		l.m[client] = f
	}
	f.n++
}

// reset forgets client's failures (after a good token).
func (l *failureLimiter) reset(client string) {
	l.mu.Lock()
	delete(l.m, client)
	l.mu.Unlock()
}
