package storetest

import (
	"fmt"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// RunReopen checks that a store keeps everything across Close and a new
// Open. open must return a store on the same database at every call; the
// test closes each store it opens.
func RunReopen(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	ch := mkChannel(t, s, "kept")
	cert := mkCertificate(t, s, "kept")
	svc := newServiceDomains(t, "svc",
		config.Domain{Host: "svc.example.com", CertificateID: cert.ID, ForceHTTPS: true})
	svc.Protocols = []string{"http"}
	if err := s.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	api := mkAPI(t, s, svc.ID, "a", "GET", "/a", ch.ID)
	rel := publish(t, s, svc.ID, "release")
	if err := s.SetAdminToken(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	rev := revision(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 3; i++ {
		s := open(t)
		after := load(t, s)
		p := published(after, svc.ID, "release")
		if after.Revision != rev || len(after.Channels) != 1 || after.Channels[0].ID != ch.ID ||
			p == nil || p.Version != rel.Version || len(p.APIs) != 1 || p.APIs[0].ID != api.ID {
			t.Fatalf("reopen %d: state %+v, want revision %d serving %s in release", i, after, rev, rel.Version)
		}
		sameJSON(t, "reopened service", p.Service, svc)
		sameJSON(t, "reopened certificates", after.Certificates, []*config.Certificate{cert})
		if tok, _ := s.AdminToken(ctx); tok != "tok" {
			t.Fatalf("reopen %d: admin token %q", i, tok)
		}
		// The domain still holds the certificate.
		details := wantConflict(t, s.DeleteCertificate(ctx, cert.ID), "")
		if !hasDetail(details, "service_id", svc.ID, "host", "svc.example.com") {
			t.Fatalf("reopen %d: certificate conflict %v does not list the domain", i, details)
		}
		// The version counter survives too: no version is handed out twice.
		rel2 := publish(t, s, svc.ID, "test")
		if want := fmt.Sprintf("v%d", i+2); rel2.Version != want {
			t.Fatalf("reopen %d: version %s, want %s", i, rel2.Version, want)
		}
		rev = revision(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// OldDomainSQL is how a database made before certificates holds a service
// with a custom domain: its body and its service_domains row, for a store
// test to write with its own driver before it opens (and so migrates) the
// database.
var OldDomainSQL = []string{
	`INSERT INTO services (id, name, created_at, body) VALUES ('svc-00000000000000a1', 'old', 1700000000000,
		'{"id":"svc-00000000000000a1","name":"old","domains":[{"host":"old.example.com"}],` +
		`"created_at":"2023-11-14T22:13:20Z","updated_at":"2023-11-14T22:13:20Z"}')`,
	`INSERT INTO service_domains (host, service_id) VALUES ('old.example.com', 'svc-00000000000000a1')`,
}

// CheckUpgradedDomains checks a store opened on a database that
// OldDomainSQL wrote before the certificates migration: the old domain
// names no certificate, keeps its host, and can be given one.
func CheckUpgradedDomains(t *testing.T, s store.Store) {
	ctx := t.Context()
	const id, host = "svc-00000000000000a1", "old.example.com"
	svc, err := s.GetService(ctx, id)
	if err != nil {
		t.Fatalf("GetService of an old service: %v", err)
	}
	if len(svc.Domains) != 1 || svc.Domains[0] != (config.Domain{Host: host}) {
		t.Fatalf("old domains %+v", svc.Domains)
	}
	wantConflict(t, s.CreateService(ctx, newService(t, "new", host)), "domains[0].host")
	cert := mkCertificate(t, s, "new")
	if err := s.DeleteCertificate(ctx, cert.ID); err != nil {
		t.Fatalf("an old domain holds a certificate: %v", err)
	}
	cert = mkCertificate(t, s, "again")
	svc.Domains[0].CertificateID = cert.ID
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatalf("UpdateService giving the old domain a certificate: %v", err)
	}
	details := wantConflict(t, s.DeleteCertificate(ctx, cert.ID), "")
	if len(details) != 1 || !hasDetail(details, "service_id", id, "service_name", "old", "host", host) {
		t.Fatalf("conflict details %v, want the old domain", details)
	}
}
