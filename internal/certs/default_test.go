package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the call
	certPath, keyPath := filepath.Join(dir, DefaultCertFile), filepath.Join(dir, DefaultKeyFile)

	c, out, err := LoadOrCreateDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Created || out.Replaced != nil {
		t.Errorf("first start: outcome %+v, want created", out)
	}
	leaf := c.Leaf
	if leaf == nil {
		t.Fatal("Leaf not set")
	}
	if leaf.Subject.CommonName != "portico default" || !slices.Equal(leaf.DNSNames, []string{"localhost", "portico.invalid"}) {
		t.Errorf("subject %q, DNS names %q", leaf.Subject.CommonName, leaf.DNSNames)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if v := time.Until(leaf.NotAfter); v < DefaultValidity-2*time.Hour || v > DefaultValidity {
		t.Errorf("valid for %v more, want about %v", v, DefaultValidity)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(certPath); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("certificate file: %v, %v; want mode 0644", fi.Mode(), err)
	}
	assertOnlyPair(t, dir)

	// A later start loads the same pair.
	again, out, err := LoadOrCreateDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out.Created || out.Replaced != nil {
		t.Errorf("second start: outcome %+v, want loaded", out)
	}
	if !bytes.Equal(again.Certificate[0], c.Certificate[0]) || again.Leaf == nil {
		t.Error("second start did not load the same certificate")
	}
}

func TestLoadOrCreateDefaultRegenerates(t *testing.T) {
	otherKey := pkcs8(t, newP256(t))
	expired := issue(t, spec{cn: "old", notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	tests := []struct {
		name   string
		spoil  func(t *testing.T, certPath, keyPath string)
		reason string
	}{
		{"garbage certificate", func(t *testing.T, certPath, _ string) { write(t, certPath, "garbage") }, "cert_pem: is not PEM"},
		{"empty key", func(t *testing.T, _, keyPath string) { write(t, keyPath, "") }, "key_pem: is empty"},
		{"truncated key", func(t *testing.T, _, keyPath string) {
			b, _ := os.ReadFile(keyPath)
			write(t, keyPath, string(b[:len(b)/2]))
		}, "key_pem: PEM block 1 has no \"-----END\" line"},
		{"key of another certificate", func(t *testing.T, _, keyPath string) { write(t, keyPath, otherKey) }, "does not match"},
		{"certificate missing", func(t *testing.T, certPath, _ string) { remove(t, certPath) }, DefaultCertFile + " is missing"},
		{"key missing", func(t *testing.T, _, keyPath string) { remove(t, keyPath) }, DefaultKeyFile + " is missing"},
		{"expired", func(t *testing.T, certPath, keyPath string) {
			write(t, certPath, chainPEM(expired))
			write(t, keyPath, pkcs8(t, expired.key))
		}, DefaultCertFile + " expired on "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, DefaultCertFile), filepath.Join(dir, DefaultKeyFile)
			orig, _, err := LoadOrCreateDefault(dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, certPath, keyPath)

			c, out, err := LoadOrCreateDefault(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Created || out.Replaced == nil || !strings.Contains(out.Replaced.Error(), tt.reason) {
				t.Fatalf("outcome %+v, want created, replaced because %q", out, tt.reason)
			}
			if bytes.Equal(c.Certificate[0], orig.Certificate[0]) {
				t.Error("the certificate was not regenerated")
			}
			if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v, %v; want mode 0600", fi.Mode(), err)
			}
			assertOnlyPair(t, dir)

			again, out, err := LoadOrCreateDefault(dir)
			if err != nil || out.Created || out.Replaced != nil || !bytes.Equal(again.Certificate[0], c.Certificate[0]) {
				t.Errorf("the regenerated pair does not load back: outcome %+v, %v", out, err)
			}
		})
	}
}

func TestLoadOrCreateDefaultReadError(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, DefaultKeyFile)
	if err := os.Mkdir(keyPath, 0o700); err != nil { // unreadable as a file
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateDefault(dir); err == nil {
		t.Fatal("no error reading a key path that is a directory")
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultCertFile)); !os.IsNotExist(err) {
		t.Errorf("a certificate was written despite the read error: %v", err)
	}
}

func TestLoadOrCreateDefaultRemovesStaleTemp(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+DefaultKeyFile+".12345.tmp")
	write(t, stale, "half a key")
	if _, _, err := LoadOrCreateDefault(dir); err != nil {
		t.Fatal(err)
	}
	assertOnlyPair(t, dir)
}

// assertOnlyPair checks that dir holds the two files and no temporary one.
func assertOnlyPair(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{DefaultCertFile, DefaultKeyFile}; !slices.Equal(names, want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
