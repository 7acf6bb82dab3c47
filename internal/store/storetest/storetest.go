// Package storetest is the conformance suite of store.Store: every
// implementation (SQLite, PostgreSQL) runs the same tests, so the admin API
// and the data plane can rely on one behaviour whichever store is configured.
//
// The suite checks behaviour through the interface only. Conflict details are
// compared through their JSON form, so an implementation may use maps or
// structs for them as long as the admin API would render the same keys.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Run runs the suite. open must return a new, empty store for each call and
// close it when t ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ChannelCRUD", testChannelCRUD},
		{"Batch", testBatch},
		{"ChannelNames", testChannelNames},
		{"ListPaging", testListPaging},
		{"ServiceCRUD", testServiceCRUD},
		{"ServiceNames", testServiceNames},
		{"ServiceDomains", testServiceDomains},
		{"APICRUD", testAPICRUD},
		{"APIWrongService", testAPIWrongService},
		{"APIChannelMustExist", testAPIChannelMustExist},
		{"APINames", testAPINames},
		{"APIRoutes", testAPIRoutes},
		{"ChannelBindings", testChannelBindings},
		{"DeleteChannelInUse", testDeleteChannelInUse},
		{"DeleteServicePublished", testDeleteServicePublished},
		{"Publish", testPublish},
		{"PublishSnapshot", testPublishSnapshot},
		{"Rollback", testRollback},
		{"RollbackDeletedChannel", testRollbackDeletedChannel},
		{"Unpublish", testUnpublish},
		{"History", testHistory},
		{"Collisions", testCollisions},
		{"Revision", testRevision},
		{"FailedWritesChangeNothing", testFailedWrites},
		{"Load", testLoad},
		{"AdminToken", testAdminToken},
		{"PluginCRUD", testPluginCRUD},
		{"PluginBindings", testPluginBindings},
		{"KeysAndPlans", testKeysAndPlans},
		{"Apps", testApps},
		{"CertificateCRUD", testCertificateCRUD},
		{"CertificateNames", testCertificateNames},
		{"CertificatePaging", testCertificatePaging},
		{"CertificateInUse", testCertificateInUse},
		{"CertificateMustExist", testCertificateMustExist},
		{"CertificateLoad", testCertificateLoad},
		{"Cluster", testCluster},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var idRE = map[string]*regexp.Regexp{
	"ch-":   regexp.MustCompile(`^ch-[0-9a-f]{16}$`),
	"svc-":  regexp.MustCompile(`^svc-[0-9a-f]{16}$`),
	"api-":  regexp.MustCompile(`^api-[0-9a-f]{16}$`),
	"cert-": regexp.MustCompile(`^cert-[0-9a-f]{16}$`),
}

func checkID(t *testing.T, prefix, id string) {
	t.Helper()
	if !idRE[prefix].MatchString(id) {
		t.Fatalf("id %q: want %s followed by 16 lower-case hex digits", id, prefix)
	}
}

// checkStamps checks server-set timestamps: set, in UTC, not before the
// object was created.
func checkStamps(t *testing.T, created, updated config.Time) {
	t.Helper()
	if created.IsZero() || updated.IsZero() {
		t.Fatalf("timestamps not set: created %v updated %v", created, updated)
	}
	if created.Location() != time.UTC || updated.Location() != time.UTC {
		t.Fatalf("timestamps not in UTC: %v %v", created, updated)
	}
	if updated.Before(created.Time) {
		t.Fatalf("updated_at %v before created_at %v", updated, created)
	}
	if d := time.Since(created.Time); d < -time.Minute || d > time.Minute {
		t.Fatalf("created_at %v is not now", created)
	}
}

func intp(n int) *int { return &n }

// newChannel returns a valid channel, defaults filled as the admin API
// would before storing it.
func newChannel(t *testing.T, name string) *config.Channel {
	t.Helper()
	c := &config.Channel{
		Name:    name,
		Network: "default",
		Scheme:  "http",
		Nodes:   []config.Node{{Host: "10.0.0.1", Port: 8080, Weight: intp(10)}},
	}
	if err := config.ValidateChannel(c); err != nil {
		t.Fatalf("fixture channel: %v", err)
	}
	return c
}

func mkChannel(t *testing.T, s store.Store, name string) *config.Channel {
	t.Helper()
	c := newChannel(t, name)
	if err := s.CreateChannel(t.Context(), c); err != nil {
		t.Fatalf("CreateChannel(%q): %v", name, err)
	}
	return c
}

func newService(t *testing.T, name string, hosts ...string) *config.Service {
	t.Helper()
	svc := &config.Service{Name: name}
	for _, h := range hosts {
		svc.Domains = append(svc.Domains, config.Domain{Host: h})
	}
	if err := config.ValidateService(svc); err != nil {
		t.Fatalf("fixture service: %v", err)
	}
	return svc
}

func mkService(t *testing.T, s store.Store, name string, hosts ...string) *config.Service {
	t.Helper()
	svc := newService(t, name, hosts...)
	if err := s.CreateService(t.Context(), svc); err != nil {
		t.Fatalf("CreateService(%q): %v", name, err)
	}
	return svc
}

// newAPI returns a valid API; channelID "" makes it a mock backend.
func newAPI(t *testing.T, serviceID, name, method, path, channelID string) *config.API {
	t.Helper()
	a := &config.API{
		ServiceID: serviceID,
		Name:      name,
		Frontend:  config.Frontend{Method: method, Path: path},
	}
	if channelID != "" {
		a.Backend = config.Backend{Type: config.BackendChannel, ChannelID: channelID}
	} else {
		a.Backend = config.Backend{Type: config.BackendMock, Mock: &config.Mock{Status: 200, Body: name}}
	}
	if err := config.ValidateAPI(a); err != nil {
		t.Fatalf("fixture api: %v", err)
	}
	return a
}

func mkAPI(t *testing.T, s store.Store, serviceID, name, method, path, channelID string) *config.API {
	t.Helper()
	a := newAPI(t, serviceID, name, method, path, channelID)
	if err := s.CreateAPI(t.Context(), a); err != nil {
		t.Fatalf("CreateAPI(%q %s %s): %v", name, method, path, err)
	}
	return a
}

func publish(t *testing.T, s store.Store, serviceID, env string) *config.Release {
	t.Helper()
	r, err := s.Publish(t.Context(), serviceID, env, "")
	if err != nil {
		t.Fatalf("Publish(%s, %s): %v", serviceID, env, err)
	}
	return r
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	r, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return r
}

func load(t *testing.T, s store.Store) *config.State {
	t.Helper()
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func wantNotFound(t *testing.T, err error, kind, id string) {
	t.Helper()
	var nf *store.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v (%T), want NotFoundError{%s %s}", err, err, kind, id)
	}
	if nf.Kind != kind || nf.ID != id {
		t.Fatalf("NotFoundError{%q %q}, want {%q %q}", nf.Kind, nf.ID, kind, id)
	}
	if !store.IsNotFound(err) {
		t.Fatalf("IsNotFound(%v) = false", err)
	}
}

// wantConflict checks the error and returns its details as JSON objects.
func wantConflict(t *testing.T, err error, field string) []map[string]any {
	t.Helper()
	var cf *store.ConflictError
	if !errors.As(err, &cf) {
		t.Fatalf("err = %v (%T), want ConflictError on %q", err, err, field)
	}
	if cf.Field != field {
		t.Fatalf("ConflictError field %q, want %q (%v)", cf.Field, field, err)
	}
	if cf.Message == "" {
		t.Fatalf("ConflictError without a message")
	}
	if len(cf.Details) == 0 {
		t.Fatalf("ConflictError lists nothing in the way: %v", err)
	}
	b, jerr := json.Marshal(cf.Details)
	if jerr != nil {
		t.Fatalf("details do not marshal: %v", jerr)
	}
	var out []map[string]any
	if jerr := json.Unmarshal(b, &out); jerr != nil {
		t.Fatalf("details are not JSON objects: %s", b)
	}
	return out
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var inv *store.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v (%T), want InvalidError on %q", err, err, field)
	}
	if inv.Field != field {
		t.Fatalf("InvalidError field %q, want %q (%v)", inv.Field, field, err)
	}
	if inv.Message == "" {
		t.Fatalf("InvalidError without a message")
	}
}

// hasDetail reports whether one of the details has all the given keys and
// values.
func hasDetail(details []map[string]any, kv ...string) bool {
	for _, d := range details {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(d[kv[i]]) != kv[i+1] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// sameJSON compares two values as the admin API would show them, which
// ignores how a time.Time carries its location.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// published finds the served entry of a service in env in a loaded state.
func published(st *config.State, serviceID, env string) *config.Published {
	for i := range st.Published {
		p := &st.Published[i]
		if p.Service.ID == serviceID && p.Environment == env {
			return p
		}
	}
	return nil
}

// byID returns a copy of apis sorted by id. Objects created in the same
// millisecond are ordered by their random ids, so tests compare sets.
func byID(apis []config.API) []config.API {
	out := append([]config.API(nil), apis...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	g := append([]string(nil), got...)
	w := append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}
