package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// drain empties Changed so that the next receive is caused by the next write.
func drain(s store.Store) {
	for {
		select {
		case <-s.Changed():
		default:
			return
		}
	}
}

func wantChanged(t *testing.T, s store.Store, what string) {
	t.Helper()
	select {
	case <-s.Changed():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Changed got no value", what)
	}
}

// testRevision: every committed write moves the revision forward and signals
// Changed; reads do neither.
func testRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	var (
		ch   *config.Channel
		cert *config.Certificate
		svc  *config.Service
		api  *config.API
		rel  *config.Release
	)
	writes := []struct {
		name string
		fn   func() error
	}{
		{"CreateChannel", func() error { ch = newChannel(t, "c"); return s.CreateChannel(ctx, ch) }},
		{"UpdateChannel", func() error { ch.Description = "d"; return s.UpdateChannel(ctx, ch) }},
		{"CreateCertificate", func() error { cert = newCertificate("c"); return s.CreateCertificate(ctx, cert) }},
		{"UpdateCertificate", func() error { cert.CertPEM = "renewed"; return s.UpdateCertificate(ctx, cert) }},
		{"CreateService", func() error { svc = newService(t, "s"); return s.CreateService(ctx, svc) }},
		{"UpdateService", func() error { svc.Description = "d"; return s.UpdateService(ctx, svc) }},
		{"UpdateService naming a certificate", func() error {
			svc.Domains = []config.Domain{{Host: "s.example.com", CertificateID: cert.ID, ForceHTTPS: true}}
			return s.UpdateService(ctx, svc)
		}},
		{"CreateAPI", func() error { api = newAPI(t, svc.ID, "a", "GET", "/a", ch.ID); return s.CreateAPI(ctx, api) }},
		{"UpdateAPI", func() error { api.Description = "d"; return s.UpdateAPI(ctx, api) }},
		{"Publish", func() (err error) { rel, err = s.Publish(ctx, svc.ID, "test", ""); return err }},
		{"Rollback", func() error { _, err := s.Rollback(ctx, svc.ID, "release", rel.Version, ""); return err }},
		{"Unpublish", func() error { return s.Unpublish(ctx, svc.ID, "release", "") }},
		{"SetAdminToken", func() error { return s.SetAdminToken(ctx, "secret") }},
		{"Unpublish test", func() error { return s.Unpublish(ctx, svc.ID, "test", "") }},
		{"DeleteAPI", func() error { return s.DeleteAPI(ctx, svc.ID, api.ID) }},
		{"DeleteService", func() error { return s.DeleteService(ctx, svc.ID) }},
		{"DeleteChannel", func() error { return s.DeleteChannel(ctx, ch.ID) }},
		{"DeleteCertificate", func() error { return s.DeleteCertificate(ctx, cert.ID) }},
	}
	reads := func() {
		t.Helper()
		var errs []error
		if ch != nil {
			_, err := s.GetChannel(ctx, ch.ID)
			errs = append(errs, ignoreNotFound(err))
			_, err = s.ChannelBindings(ctx, ch.ID)
			errs = append(errs, ignoreNotFound(err))
		}
		if svc != nil {
			_, err := s.GetService(ctx, svc.ID)
			errs = append(errs, ignoreNotFound(err))
			_, _, err = s.ListAPIs(ctx, svc.ID, store.Page{})
			errs = append(errs, ignoreNotFound(err))
			_, _, err = s.ListReleases(ctx, svc.ID, store.Page{})
			errs = append(errs, ignoreNotFound(err))
			_, err = s.Environments(ctx, svc.ID)
			errs = append(errs, ignoreNotFound(err))
		}
		if api != nil {
			_, err := s.GetAPI(ctx, svc.ID, api.ID)
			errs = append(errs, ignoreNotFound(err))
		}
		if cert != nil {
			_, err := s.GetCertificate(ctx, cert.ID)
			errs = append(errs, ignoreNotFound(err))
		}
		_, _, err := s.ListCertificates(ctx, store.Page{})
		errs = append(errs, err)
		_, _, err = s.ListChannels(ctx, store.Page{})
		errs = append(errs, err)
		_, _, err = s.ListServices(ctx, store.Page{})
		errs = append(errs, err)
		_, err = s.Load(ctx)
		errs = append(errs, err)
		_, err = s.AdminToken(ctx)
		errs = append(errs, err)
		for _, err := range errs {
			if err != nil {
				t.Fatalf("read: %v", err)
			}
		}
	}

	prev := revision(t, s)
	for _, w := range writes {
		drain(s)
		if err := w.fn(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		wantChanged(t, s, w.name)
		rev := revision(t, s)
		if rev <= prev {
			t.Fatalf("%s: revision %d, was %d: want it to increase", w.name, rev, prev)
		}
		reads()
		if again := revision(t, s); again != rev {
			t.Fatalf("reads after %s moved the revision from %d to %d", w.name, rev, again)
		}
		if st := load(t, s); st.Revision != rev {
			t.Fatalf("Load().Revision = %d, Revision() = %d", st.Revision, rev)
		}
		prev = rev
	}
}

func ignoreNotFound(err error) error {
	if store.IsNotFound(err) {
		return nil
	}
	return err
}

// testFailedWrites: a refused write leaves no trace, the revision included,
// and does not signal Changed.
func testFailedWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch := mkChannel(t, s, "c")
	cert := mkCertificate(t, s, "c")
	mkCertificate(t, s, "taken")
	svc := newServiceDomains(t, "s", config.Domain{Host: "s.example.com", CertificateID: cert.ID})
	if err := s.CreateService(ctx, svc); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	api := mkAPI(t, s, svc.ID, "a", "GET", "/a", ch.ID)
	publish(t, s, svc.ID, "release")
	other := mkService(t, s, "other")
	mkAPI(t, s, other.ID, "a", "GET", "/a", "")

	before := load(t, s)
	missing := "svc-0000000000000000"
	missingCert := "cert-0000000000000000"
	refused := []struct {
		name string
		fn   func() error
	}{
		{"duplicate channel name", func() error { return s.CreateChannel(ctx, newChannel(t, "c")) }},
		{"duplicate service name", func() error { return s.CreateService(ctx, newService(t, "s")) }},
		{"taken domain", func() error { return s.CreateService(ctx, newService(t, "t", "s.example.com")) }},
		{"api of a missing service", func() error { return s.CreateAPI(ctx, newAPI(t, missing, "x", "GET", "/x", "")) }},
		{"api on a missing channel", func() error {
			return s.CreateAPI(ctx, newAPI(t, svc.ID, "x", "GET", "/x", "ch-0000000000000000"))
		}},
		{"duplicate api name", func() error { return s.CreateAPI(ctx, newAPI(t, svc.ID, "a", "GET", "/x", "")) }},
		{"colliding route", func() error { return s.CreateAPI(ctx, newAPI(t, svc.ID, "b", "ANY", "/a", "")) }},
		{"delete used channel", func() error { return s.DeleteChannel(ctx, ch.ID) }},
		{"delete served service", func() error { return s.DeleteService(ctx, svc.ID) }},
		{"publish colliding", func() error { _, err := s.Publish(ctx, other.ID, "release", ""); return err }},
		{"publish bad env", func() error { _, err := s.Publish(ctx, svc.ID, "prod", ""); return err }},
		{"rollback unknown", func() error { _, err := s.Rollback(ctx, svc.ID, "release", "nope", ""); return err }},
		{"unpublish unserved", func() error { return s.Unpublish(ctx, svc.ID, "test", "") }},
		{"update missing api", func() error {
			a := *api
			a.ID = "api-0000000000000000"
			return s.UpdateAPI(ctx, &a)
		}},
		{"duplicate certificate name", func() error { return s.CreateCertificate(ctx, newCertificate("c")) }},
		{"rename to a taken certificate name", func() error { c := *cert; c.Name = "taken"; return s.UpdateCertificate(ctx, &c) }},
		{"update missing certificate", func() error { c := *cert; c.ID = missingCert; return s.UpdateCertificate(ctx, &c) }},
		{"delete missing certificate", func() error { return s.DeleteCertificate(ctx, missingCert) }},
		{"delete used certificate", func() error { return s.DeleteCertificate(ctx, cert.ID) }},
		{"service naming a missing certificate", func() error {
			return s.CreateService(ctx, newServiceDomains(t, "x", config.Domain{Host: "x.example.com", CertificateID: missingCert}))
		}},
		{"update naming a missing certificate", func() error {
			u := *svc
			u.Domains = []config.Domain{{Host: "s.example.com", CertificateID: missingCert}}
			return s.UpdateService(ctx, &u)
		}},
	}
	drain(s)
	for _, r := range refused {
		if err := r.fn(); err == nil {
			t.Fatalf("%s: accepted", r.name)
		}
	}
	select {
	case <-s.Changed():
		t.Fatalf("refused writes signalled Changed")
	default:
	}
	after := load(t, s)
	sameJSON(t, "state after refused writes", after, before)
	if _, total, _ := s.ListReleases(ctx, other.ID, store.Page{}); total != 0 {
		t.Fatalf("a refused publish left a release")
	}
}

// testLoad: Load returns exactly the channels and the served versions, all at
// the revision it reports.
func testLoad(t *testing.T, s store.Store) {
	ctx := t.Context()
	st := load(t, s)
	if st.Channels == nil || st.Published == nil || len(st.Channels)+len(st.Published) != 0 {
		t.Fatalf("Load of an empty store = %+v, want empty non-nil lists", st)
	}
	if st.Revision != revision(t, s) {
		t.Fatalf("Load().Revision = %d, Revision() = %d", st.Revision, revision(t, s))
	}

	c1 := mkChannel(t, s, "one")
	c2 := mkChannel(t, s, "")
	svcs := make([]*config.Service, 3)
	apis := make([][]config.API, 3)
	for i := range svcs {
		svcs[i] = mkService(t, s, fmt.Sprintf("svc%d", i), fmt.Sprintf("svc%d.example.com", i))
		for j := 0; j < 2; j++ {
			ch := ""
			if j == 0 {
				ch = c1.ID
			}
			a := mkAPI(t, s, svcs[i].ID, fmt.Sprintf("api%d", j), "GET", fmt.Sprintf("/s%d/a%d", i, j), ch)
			apis[i] = append(apis[i], *a)
		}
	}
	// svc0 in test and release, svc1 in release, svc2 only in the draft.
	v0t := publish(t, s, svcs[0].ID, "test")
	v0r := publish(t, s, svcs[0].ID, "release")
	v1r := publish(t, s, svcs[1].ID, "release")

	st = load(t, s)
	if st.Revision != revision(t, s) {
		t.Fatalf("Load().Revision = %d, Revision() = %d", st.Revision, revision(t, s))
	}
	var gotCh []string
	for _, c := range st.Channels {
		gotCh = append(gotCh, c.ID)
	}
	sameIDs(t, "loaded channels", gotCh, []string{c1.ID, c2.ID})
	for _, c := range st.Channels {
		if c.ID == c1.ID {
			sameJSON(t, "loaded channel", c, c1)
		}
	}
	if len(st.Published) != 3 {
		t.Fatalf("Load serves %d (service, environment) pairs, want 3: %+v", len(st.Published), st.Published)
	}
	for _, want := range []struct {
		svc  int
		env  string
		rel  *config.Release
		apis []config.API
	}{
		{0, "test", v0t, apis[0]},
		{0, "release", v0r, apis[0]},
		{1, "release", v1r, apis[1]},
	} {
		p := published(st, svcs[want.svc].ID, want.env)
		if p == nil {
			t.Fatalf("Load does not serve svc%d in %s", want.svc, want.env)
		}
		if p.Version != want.rel.Version {
			t.Fatalf("svc%d in %s serves %s, want %s", want.svc, want.env, p.Version, want.rel.Version)
		}
		sameJSON(t, "loaded service", p.Service, svcs[want.svc])
		sameJSON(t, "loaded APIs", byID(p.APIs), byID(want.apis))
	}
	if published(st, svcs[2].ID, "release") != nil {
		t.Fatalf("Load serves a service that was never published")
	}

	// Channel edits are live: no publish needed.
	c1.Description = "live"
	if err := s.UpdateChannel(ctx, c1); err != nil {
		t.Fatalf("UpdateChannel: %v", err)
	}
	for _, c := range load(t, s).Channels {
		if c.ID == c1.ID && c.Description != "live" {
			t.Fatalf("Load returns a stale channel")
		}
	}
}

func testAdminToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok, err := s.AdminToken(ctx)
	if err != nil || tok != "" {
		t.Fatalf("AdminToken of a new store = %q, %v; want \"\"", tok, err)
	}
	for _, want := range []string{"first-token", "second-token"} {
		if err := s.SetAdminToken(ctx, want); err != nil {
			t.Fatalf("SetAdminToken: %v", err)
		}
		tok, err = s.AdminToken(ctx)
		if err != nil || tok != want {
			t.Fatalf("AdminToken = %q, %v; want %q", tok, err, want)
		}
	}
}
