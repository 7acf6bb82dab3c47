package config

import (
	"errors"

	"github.com/portico-gw/portico/internal/certs"
)

// Certificate is a TLS certificate chain (leaf first) and its private key,
// served to clients by SNI on the TLS port. Hosts, NotBefore and NotAfter
// are read from the leaf when it is saved; Warnings are computed on every
// read. KeyPEM is stored but never shown.
type Certificate struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	CertPEM   string   `json:"cert_pem"`
	KeyPEM    string   `json:"key_pem,omitempty"`
	Hosts     []string `json:"hosts"`
	NotBefore Time     `json:"not_before"`
	NotAfter  Time     `json:"not_after"`
	Warnings  []string `json:"warnings,omitempty"`
	CreatedAt Time     `json:"created_at"`
	UpdatedAt Time     `json:"updated_at"`
}

// CertificateUse is a custom domain that serves a certificate (the
// details of a refused delete).
type CertificateUse struct {
	ServiceID   string `json:"service_id"`
	ServiceName string `json:"service_name"`
	Host        string `json:"host"`
}

// ValidateCertificate checks a certificate and fills the fields read from
// its leaf. The chain and key are parsed strictly (see package certs).
func ValidateCertificate(c *Certificate) error {
	if c.Name == "" {
		return fieldErr("name", "is required")
	}
	if err := checkWordName("name", c.Name, 50); err != nil {
		return err
	}
	p, err := certs.Parse(c.CertPEM, c.KeyPEM)
	if err != nil {
		var fe *certs.FieldError
		if errors.As(err, &fe) {
			return &FieldError{Field: fe.Field, Message: fe.Error()}
		}
		return fieldErr("cert_pem", "%v", err)
	}
	c.Hosts = p.Hosts
	if c.Hosts == nil {
		c.Hosts = []string{}
	}
	c.NotBefore, c.NotAfter = At(p.NotBefore), At(p.NotAfter)
	c.Warnings = nil
	return nil
}
