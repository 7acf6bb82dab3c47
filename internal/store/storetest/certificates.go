package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// newCertificate returns a certificate as the admin API would store it. The
// store does not parse PEM (config.ValidateCertificate does, before), so
// plain strings stand for the chain and the key.
func newCertificate(name string) *config.Certificate {
	nb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return &config.Certificate{
		Name:      name,
		CertPEM:   "chain of " + name,
		KeyPEM:    "key of " + name,
		Hosts:     []string{name + ".example.com", "*." + name + ".example.com"},
		NotBefore: config.At(nb),
		NotAfter:  config.At(nb.AddDate(1, 0, 0)),
	}
}

func mkCertificate(t *testing.T, s store.Store, name string) *config.Certificate {
	t.Helper()
	c := newCertificate(name)
	if err := s.CreateCertificate(t.Context(), c); err != nil {
		t.Fatalf("CreateCertificate(%q): %v", name, err)
	}
	return c
}

// newServiceDomains returns a valid service with the given custom domains.
func newServiceDomains(t *testing.T, name string, domains ...config.Domain) *config.Service {
	t.Helper()
	svc := &config.Service{Name: name, Domains: domains}
	if err := config.ValidateService(svc); err != nil {
		t.Fatalf("fixture service: %v", err)
	}
	return svc
}

func testCertificateCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCertificate("shop")
	c.ID = "cert-chosen-by-client" // ignored: ids are the store's
	c.Warnings = []string{"computed on read, never stored"}
	if err := s.CreateCertificate(ctx, c); err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	checkID(t, "cert-", c.ID)
	checkStamps(t, c.CreatedAt, c.UpdatedAt)
	if !c.UpdatedAt.Equal(c.CreatedAt.Time) {
		t.Fatalf("new certificate: updated_at %v != created_at %v", c.UpdatedAt, c.CreatedAt)
	}

	got, err := s.GetCertificate(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	want := *c
	want.Warnings = nil
	sameJSON(t, "GetCertificate", got, &want)
	if got.KeyPEM != "key of shop" {
		t.Fatalf("GetCertificate: key %q, want the stored key", got.KeyPEM)
	}

	time.Sleep(2 * time.Millisecond) // so that updated_at can move
	upd := *got
	upd.Name = "shop-2026"
	upd.CertPEM, upd.KeyPEM = "renewed chain", "renewed key"
	upd.Hosts = []string{"shop.example.com"}
	upd.NotAfter = config.At(upd.NotAfter.AddDate(1, 0, 0))
	upd.Warnings = []string{"not stored either"}
	upd.CreatedAt = config.Time{} // a client may send anything; created_at is kept
	if err := s.UpdateCertificate(ctx, &upd); err != nil {
		t.Fatalf("UpdateCertificate: %v", err)
	}
	if !upd.CreatedAt.Equal(c.CreatedAt.Time) {
		t.Fatalf("UpdateCertificate: created_at %v, want %v", upd.CreatedAt, c.CreatedAt)
	}
	if !upd.UpdatedAt.After(c.UpdatedAt.Time) {
		t.Fatalf("UpdateCertificate: updated_at %v not after %v", upd.UpdatedAt, c.UpdatedAt)
	}
	got, err = s.GetCertificate(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	want = upd
	want.Warnings = nil
	sameJSON(t, "GetCertificate after update", got, &want)

	missing := "cert-0000000000000000"
	_, err = s.GetCertificate(ctx, missing)
	wantNotFound(t, err, "certificate", missing)
	ghost := newCertificate("ghost")
	ghost.ID = missing
	wantNotFound(t, s.UpdateCertificate(ctx, ghost), "certificate", missing)
	wantNotFound(t, s.DeleteCertificate(ctx, missing), "certificate", missing)

	if err := s.DeleteCertificate(ctx, c.ID); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	_, err = s.GetCertificate(ctx, c.ID)
	wantNotFound(t, err, "certificate", c.ID)
	wantNotFound(t, s.DeleteCertificate(ctx, c.ID), "certificate", c.ID)
}

func testCertificateNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkCertificate(t, s, "shared")
	dup := newCertificate("shared")
	details := wantConflict(t, s.CreateCertificate(ctx, dup), "name")
	if !hasDetail(details, "id", a.ID) {
		t.Fatalf("conflict details %v do not name %s", details, a.ID)
	}
	if dup.ID != "" {
		t.Fatalf("a failed create set the id %q", dup.ID)
	}

	b := mkCertificate(t, s, "other")
	b.Name = "shared"
	wantConflict(t, s.UpdateCertificate(ctx, b), "name")

	// Keeping one's own name is not a conflict.
	a.CertPEM = "renewed"
	if err := s.UpdateCertificate(ctx, a); err != nil {
		t.Fatalf("UpdateCertificate keeping its name: %v", err)
	}
	// A name is free again once its holder is deleted.
	if err := s.DeleteCertificate(ctx, a.ID); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	if err := s.UpdateCertificate(ctx, b); err != nil {
		t.Fatalf("UpdateCertificate to a freed name: %v", err)
	}
	mkCertificate(t, s, "other")
}

func testCertificatePaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	certs, total, err := s.ListCertificates(ctx, store.Page{})
	if err != nil || certs == nil || len(certs) != 0 || total != 0 {
		t.Fatalf("empty ListCertificates = %v, %d, %v; want [], 0, nil", certs, total, err)
	}
	var order []string
	for i := 0; i < 23; i++ {
		order = append(order, mkCertificate(t, s, fmt.Sprintf("cert%02d", i)).ID)
	}
	for _, pg := range []struct {
		p        store.Page
		from, to int
	}{
		{store.Page{}, 0, 20},
		{store.Page{Limit: -1}, 0, 20},
		{store.Page{Limit: 5}, 0, 5},
		{store.Page{Limit: 5, Offset: 20}, 20, 23},
		{store.Page{Limit: 100, Offset: 3}, 3, 23},
		{store.Page{Limit: 10, Offset: 23}, 23, 23},
		{store.Page{Limit: 10, Offset: 99}, 23, 23},
	} {
		certs, total, err := s.ListCertificates(ctx, pg.p)
		if err != nil {
			t.Fatalf("ListCertificates(%+v): %v", pg.p, err)
		}
		if total != 23 || certs == nil {
			t.Fatalf("ListCertificates(%+v): total %d (want 23), items %v", pg.p, total, certs)
		}
		got := make([]string, len(certs))
		for i, c := range certs {
			got[i] = c.ID
			if c.KeyPEM == "" {
				t.Fatalf("ListCertificates(%+v): %s without its key", pg.p, c.ID)
			}
		}
		if want := order[pg.from:pg.to]; !equal(got, want) {
			t.Fatalf("ListCertificates(%+v) = %v, want %v", pg.p, got, want)
		}
	}
}

// testCertificateInUse: a certificate named by a custom domain cannot be
// deleted, and the conflict lists exactly those domains.
func testCertificateInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	cert := mkCertificate(t, s, "wild")
	spare := mkCertificate(t, s, "spare")
	var svcs []*config.Service
	for _, spec := range []struct {
		name    string
		domains []config.Domain
	}{
		{"one", []config.Domain{
			{Host: "b.example.com", CertificateID: cert.ID},
			{Host: "plain.example.com"},
			{Host: "a.example.com", CertificateID: cert.ID, ForceHTTPS: true},
		}},
		{"two", []config.Domain{{Host: "two.example.com", CertificateID: cert.ID, Environment: "test"}}},
		{"three", []config.Domain{{Host: "three.example.com", CertificateID: spare.ID}}},
	} {
		svc := newServiceDomains(t, spec.name, spec.domains...)
		if err := s.CreateService(ctx, svc); err != nil {
			t.Fatalf("CreateService(%s): %v", spec.name, err)
		}
		got, err := s.GetService(ctx, svc.ID)
		if err != nil {
			t.Fatalf("GetService: %v", err)
		}
		sameJSON(t, "service with certificates", got, svc)
		svcs = append(svcs, svc)
	}

	// By service id (random), then host.
	want := []config.CertificateUse{
		{ServiceID: svcs[0].ID, ServiceName: "one", Host: "a.example.com"},
		{ServiceID: svcs[0].ID, ServiceName: "one", Host: "b.example.com"},
		{ServiceID: svcs[1].ID, ServiceName: "two", Host: "two.example.com"},
	}
	if svcs[1].ID < svcs[0].ID {
		want = append(want[2:], want[:2]...)
	}

	before := load(t, s)
	drain(s)
	err := s.DeleteCertificate(ctx, cert.ID)
	wantConflict(t, err, "")
	var cf *store.ConflictError
	errors.As(err, &cf)
	if msg := fmt.Sprintf("certificate %s is used by 3 custom domains; change them first", cert.ID); cf.Message != msg {
		t.Fatalf("conflict message %q, want %q", cf.Message, msg)
	}
	uses := make([]config.CertificateUse, len(cf.Details))
	for i, d := range cf.Details {
		u, ok := d.(config.CertificateUse)
		if !ok {
			t.Fatalf("conflict detail %d is a %T, want a config.CertificateUse", i, d)
		}
		uses[i] = u
	}
	sameJSON(t, "conflict details", uses, want)
	select {
	case <-s.Changed():
		t.Fatalf("a refused delete signalled Changed")
	default:
	}
	sameJSON(t, "state after a refused delete", load(t, s), before)

	// Once the domains move off it, the certificate can go.
	svcs[0].Domains = []config.Domain{{Host: "a.example.com", CertificateID: spare.ID}, {Host: "b.example.com"}}
	if err := s.UpdateService(ctx, svcs[0]); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	details := wantConflict(t, s.DeleteCertificate(ctx, cert.ID), "")
	if len(details) != 1 || !hasDetail(details, "service_id", svcs[1].ID, "service_name", "two", "host", "two.example.com") {
		t.Fatalf("conflict details %v, want only the domain of two", details)
	}
	if err := s.DeleteService(ctx, svcs[1].ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	if err := s.DeleteCertificate(ctx, cert.ID); err != nil {
		t.Fatalf("DeleteCertificate of an unused certificate: %v", err)
	}
	// spare is used by two services now.
	err = s.DeleteCertificate(ctx, spare.ID)
	wantConflict(t, err, "")
	errors.As(err, &cf)
	if len(cf.Details) != 2 {
		t.Fatalf("conflict details %v, want the domains of one and three", cf.Details)
	}
}

// testCertificateMustExist: a custom domain can only name a certificate
// that exists, and a refused write leaves nothing behind.
func testCertificateMustExist(t *testing.T, s store.Store) {
	ctx := t.Context()
	cert := mkCertificate(t, s, "real")
	missing := "cert-0000000000000000"
	wantMsg := fmt.Sprintf("domains[1].certificate_id: certificate %q does not exist", missing)
	check := func(what string, err error) {
		t.Helper()
		wantInvalid(t, err, "domains[1].certificate_id")
		var inv *store.InvalidError
		errors.As(err, &inv)
		if inv.Message != wantMsg {
			t.Fatalf("%s: message %q, want %q", what, inv.Message, wantMsg)
		}
	}

	before := load(t, s)
	rev := revision(t, s)
	drain(s)
	bad := newServiceDomains(t, "bad",
		config.Domain{Host: "ok.example.com", CertificateID: cert.ID},
		config.Domain{Host: "bad.example.com", CertificateID: missing})
	check("CreateService", s.CreateService(ctx, bad))
	if bad.ID != "" {
		t.Fatalf("a failed create set the id %q", bad.ID)
	}
	if got := revision(t, s); got != rev {
		t.Fatalf("a refused create moved the revision from %d to %d", rev, got)
	}
	sameJSON(t, "state after a refused create", load(t, s), before)
	if _, total, _ := s.ListServices(ctx, store.Page{}); total != 0 {
		t.Fatalf("a refused create left a service")
	}
	// Its domains are free.
	mkService(t, s, "first", "bad.example.com")

	svc := newServiceDomains(t, "good", config.Domain{Host: "ok.example.com", CertificateID: cert.ID})
	if err := s.CreateService(ctx, svc); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	rev = revision(t, s)
	before = load(t, s)
	drain(s)
	upd := *svc
	upd.Domains = []config.Domain{
		{Host: "ok.example.com"},
		{Host: "new.example.com", CertificateID: missing, ForceHTTPS: true},
	}
	check("UpdateService", s.UpdateService(ctx, &upd))
	if got := revision(t, s); got != rev {
		t.Fatalf("a refused update moved the revision from %d to %d", rev, got)
	}
	select {
	case <-s.Changed():
		t.Fatalf("a refused update signalled Changed")
	default:
	}
	sameJSON(t, "state after a refused update", load(t, s), before)
	got, err := s.GetService(ctx, svc.ID)
	if err != nil {
		t.Fatalf("GetService: %v", err)
	}
	sameJSON(t, "service after a refused update", got, svc)
	// The refused update did not take the domain it would have added.
	mkService(t, s, "other", "new.example.com")
}

// testCertificateLoad: Load returns every certificate, key included, in
// creation order.
func testCertificateLoad(t *testing.T, s store.Store) {
	ctx := t.Context()
	if st := load(t, s); st.Certificates == nil || len(st.Certificates) != 0 {
		t.Fatalf("Load of an empty store: certificates %v, want []", st.Certificates)
	}
	a := mkCertificate(t, s, "a")
	b := mkCertificate(t, s, "b")
	c := mkCertificate(t, s, "c")
	b.KeyPEM = "rotated key"
	if err := s.UpdateCertificate(ctx, b); err != nil {
		t.Fatalf("UpdateCertificate: %v", err)
	}
	if err := s.DeleteCertificate(ctx, c.ID); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	st := load(t, s)
	if st.Revision != revision(t, s) {
		t.Fatalf("Load().Revision = %d, Revision() = %d", st.Revision, revision(t, s))
	}
	sameJSON(t, "loaded certificates", st.Certificates, []*config.Certificate{a, b})
	if st.Certificates[1].KeyPEM != "rotated key" {
		t.Fatalf("loaded key %q, want the rotated one", st.Certificates[1].KeyPEM)
	}
}
