package certs

import (
	"crypto/tls"
	"errors"
	"strings"
	"sync/atomic"
	"time"
)

// Index selects a certificate by SNI server name (see the package
// documentation for the rule). It is immutable once built: a change of
// certificates or domains builds a new Index, stored into a Selector. A
// lookup is at most three map reads and allocates nothing for a lower-case
// name.
type Index struct {
	domains map[string]entry // custom domain host → its certificate
	exact   map[string]entry // exact host → best certificate
	wild    map[string]entry // "example.com" for "*.example.com" → best certificate
	def     *tls.Certificate
}

type entry struct {
	id       string
	cert     *tls.Certificate
	notAfter time.Time
}

// better reports whether e should be chosen over o for the same host: the
// one that expires last, then the smallest id.
func (e entry) better(o entry) bool {
	if !e.notAfter.Equal(o.notAfter) {
		return e.notAfter.After(o.notAfter)
	}
	return e.id < o.id
}

// NewIndex builds an index of the certificates certs (by id), the custom
// domains domains (domain host → certificate id) and the default
// certificate def, which may be nil (Get then returns nil where it would
// return the default). Hosts and domain names are compared case-insensitively
// without a trailing dot. A domain naming an id absent from certs, or nil,
// is ignored: its host is then served by host matching. The maps are not
// kept; the Parsed values are shared and must not be modified.
func NewIndex(certs map[string]*Parsed, domains map[string]string, def *tls.Certificate) *Index {
	ix := &Index{
		domains: make(map[string]entry, len(domains)),
		exact:   make(map[string]entry),
		wild:    make(map[string]entry),
		def:     def,
	}
	add := func(m map[string]entry, key string, e entry) {
		if old, ok := m[key]; !ok || e.better(old) {
			m[key] = e
		}
	}
	for id, p := range certs {
		if p == nil {
			continue
		}
		e := entry{id: id, cert: &p.Certificate, notAfter: p.NotAfter}
		for _, h := range p.Hosts {
			h = normalizeHost(h)
			if parent, ok := strings.CutPrefix(h, "*."); ok && parent != "" {
				add(ix.wild, parent, e)
			} else if h != "" {
				add(ix.exact, h, e)
			}
		}
	}
	for host, id := range domains {
		if p := certs[id]; p != nil {
			ix.domains[normalizeHost(host)] = entry{id: id, cert: &p.Certificate, notAfter: p.NotAfter}
		}
	}
	return ix
}

// Get returns the certificate for a handshake with the SNI server name
// serverName ("" when the client sent none), following the selection rule;
// nil only when nothing matches and the index has no default (or ix is nil).
func (ix *Index) Get(serverName string) *tls.Certificate {
	_, c := ix.Match(serverName)
	return c
}

// Match is Get that also returns the id of the certificate chosen, "" for
// the default certificate.
func (ix *Index) Match(serverName string) (id string, cert *tls.Certificate) {
	if ix == nil {
		return "", nil
	}
	name := normalizeHost(serverName)
	if name == "" {
		return "", ix.def
	}
	if e, ok := ix.domains[name]; ok {
		return e.id, e.cert
	}
	if e, ok := ix.exact[name]; ok {
		return e.id, e.cert
	}
	// One label, then the wildcard's parent: "a.example.com" → "example.com".
	if i := strings.IndexByte(name, '.'); i > 0 && i+1 < len(name) {
		if e, ok := ix.wild[name[i+1:]]; ok {
			return e.id, e.cert
		}
	}
	return "", ix.def
}

// ErrNoCertificate is returned by Selector.GetCertificate when no
// certificate applies: no index stored, or an index without a default
// certificate and no match.
var ErrNoCertificate = errors.New("certs: no certificate for this server name")

// Selector holds the current Index for a TLS listener; Store swaps it
// atomically, so the next handshake uses the new index while handshakes in
// progress finish with the old one. The zero Selector holds no index.
type Selector struct {
	ix atomic.Pointer[Index]
}

// NewSelector returns a Selector holding ix.
func NewSelector(ix *Index) *Selector {
	s := new(Selector)
	s.Store(ix)
	return s
}

// Store makes ix the index of the next handshakes.
func (s *Selector) Store(ix *Index) { s.ix.Store(ix) }

// Load returns the current index, nil if none was stored.
func (s *Selector) Load() *Index { return s.ix.Load() }

// GetCertificate selects the certificate for hello's server name from the
// current index; it is meant for tls.Config.GetCertificate. It returns
// ErrNoCertificate rather than a nil certificate, which would make
// crypto/tls fall back to tls.Config.Certificates.
func (s *Selector) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.ix.Load().Get(hello.ServerName); c != nil {
		return c, nil
	}
	return nil, ErrNoCertificate
}
