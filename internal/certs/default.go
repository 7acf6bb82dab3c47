package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of the default certificate in the data directory.
const (
	DefaultCertFile = "default-cert.pem"
	DefaultKeyFile  = "default-key.pem"
)

// DefaultValidity is the validity of a generated default certificate.
const DefaultValidity = 10 * 365 * 24 * time.Hour

// DefaultOutcome says what LoadOrCreateDefault did.
type DefaultOutcome struct {
	// Created is true when a new pair was generated and written: at first
	// start (both files absent), or because the stored pair was unusable.
	Created bool

	// Replaced, when not nil, says why the stored pair was unusable (one
	// file missing, not a valid certificate and matching key, expired); the
	// new pair has overwritten it. The caller should log it.
	Replaced error
}

// LoadOrCreateDefault returns the default certificate kept in dir, the
// pair DefaultCertFile and DefaultKeyFile. When both files are absent it
// generates a self-signed ECDSA P-256 certificate (common name "portico
// default", DNS names "localhost" and "portico.invalid", valid
// DefaultValidity) and writes it, the key with mode 0600. When the stored
// pair does not pass Parse, or is expired, it is regenerated and
// DefaultOutcome.Replaced says why. The stored pair need not be one this
// function generated: an operator may put their own there.
//
// Each file is written atomically (temporary file, fsync, rename, fsync of
// dir), the key first: a crash between the two renames leaves a key that
// does not match the certificate, which the next start regenerates. An
// error reading the files, other than their absence, is returned and
// nothing is overwritten (a pair that cannot be read is not known to be
// corrupt); an error creating dir or writing a file is returned too.
func LoadOrCreateDefault(dir string) (*tls.Certificate, DefaultOutcome, error) {
	var out DefaultOutcome
	certPath, keyPath := filepath.Join(dir, DefaultCertFile), filepath.Join(dir, DefaultKeyFile)
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	for _, err := range []error{cerr, kerr} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, out, fmt.Errorf("certs: reading the default certificate: %w", err)
		}
	}
	switch {
	case cerr != nil && kerr != nil:
		// First start.
	case cerr != nil:
		out.Replaced = fmt.Errorf("%s is missing", certPath)
	case kerr != nil:
		out.Replaced = fmt.Errorf("%s is missing", keyPath)
	default:
		p, err := Parse(string(certPEM), string(keyPEM))
		switch {
		case err != nil:
			out.Replaced = fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
		case time.Now().After(p.NotAfter):
			out.Replaced = fmt.Errorf("%s expired on %s", certPath, stamp(p.NotAfter))
		default:
			return &p.Certificate, out, nil
		}
	}

	certPEM, keyPEM, err := generateDefault(time.Now())
	if err != nil {
		return nil, out, err
	}
	p, err := Parse(string(certPEM), string(keyPEM))
	if err != nil {
		return nil, out, fmt.Errorf("certs: generated default certificate: %w", err) // a bug
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, out, fmt.Errorf("certs: %w", err)
	}
	if err := writeFileAtomic(dir, DefaultKeyFile, keyPEM, 0o600); err != nil {
		return nil, out, err
	}
	if err := writeFileAtomic(dir, DefaultCertFile, certPEM, 0o644); err != nil {
		return nil, out, err
	}
	out.Created = true
	return &p.Certificate, out, nil
}

// generateDefault returns a new self-signed default certificate and its
// PKCS#8 key, in PEM.
func generateDefault(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generating the default key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generating the default certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "portico default"},
		NotBefore:             now.Add(-time.Hour), // tolerate clients' clock skew
		NotAfter:              now.Add(DefaultValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost", "portico.invalid"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: creating the default certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: encoding the default key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// writeFileAtomic replaces dir/name with data: it writes a temporary file
// in dir with mode perm, syncs it, renames it over dir/name and syncs dir.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) (err error) {
	prefix, suffix := "."+name+".", ".tmp"
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents { // temporary files left by a crash
			if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
				_ = os.Remove(filepath.Join(dir, n))
			}
		}
	}
	f, err := os.CreateTemp(dir, prefix+"*"+suffix)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("certs: writing %s: %w", filepath.Join(dir, name), err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
