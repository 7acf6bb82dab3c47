package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/config"
)

// certificateBody is a certificate as sent: the read-only fields of an
// answer may come back (GET, edit, PUT) and are ignored.
type certificateBody struct {
	config.Certificate
	ID        json.RawMessage `json:"id"`
	Hosts     json.RawMessage `json:"hosts"`
	NotBefore json.RawMessage `json:"not_before"`
	NotAfter  json.RawMessage `json:"not_after"`
	Warnings  json.RawMessage `json:"warnings"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

// parseCertificate decodes a certificate and validates its chain and key.
func parseCertificate(b []byte) (*config.Certificate, error) {
	var body certificateBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	c := body.Certificate
	if err := config.ValidateCertificate(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// certificateView is what the API shows of a certificate: never its key,
// and the warnings of now.
func certificateView(c *config.Certificate) any {
	c.KeyPEM = ""
	p := certs.Parsed{Hosts: c.Hosts, NotBefore: c.NotBefore.Time, NotAfter: c.NotAfter.Time}
	c.Warnings = p.Warnings(time.Now())
	return c
}

func (s *server) createCertificate(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseCertificate, nil, s.store.CreateCertificate, certificateView)
}

func (s *server) listCertificates(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListCertificates, func(c *config.Certificate) { certificateView(c) })
}

func (s *server) getCertificate(w http.ResponseWriter, r *http.Request) {
	c, err := s.store.GetCertificate(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, certificateView(c))
}

func (s *server) updateCertificate(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parseCertificate, func(c *config.Certificate) { c.ID = r.PathValue("id") },
		s.store.UpdateCertificate, certificateView)
}

func (s *server) deleteCertificate(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteCertificate(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}
