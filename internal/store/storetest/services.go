package storetest

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func testServiceCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := newService(t, "billing", "pay.example.com")
	svc.Description = "pays"
	if err := s.CreateService(ctx, svc); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	checkID(t, "svc-", svc.ID)
	checkStamps(t, svc.CreatedAt, svc.UpdatedAt)

	got, err := s.GetService(ctx, svc.ID)
	if err != nil {
		t.Fatalf("GetService: %v", err)
	}
	sameJSON(t, "GetService", got, svc)

	time.Sleep(2 * time.Millisecond)
	upd := *got
	upd.Description = "charges"
	upd.Protocols = []string{"https"}
	upd.Domains = []config.Domain{{Host: "billing.example.com", Environment: "test"}}
	upd.CreatedAt = config.Time{}
	if err := s.UpdateService(ctx, &upd); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	if !upd.CreatedAt.Equal(svc.CreatedAt.Time) || !upd.UpdatedAt.After(svc.UpdatedAt.Time) {
		t.Fatalf("UpdateService timestamps: created %v (want %v), updated %v (want after %v)",
			upd.CreatedAt, svc.CreatedAt, upd.UpdatedAt, svc.UpdatedAt)
	}
	got, _ = s.GetService(ctx, svc.ID)
	sameJSON(t, "GetService after update", got, &upd)

	missing := "svc-0000000000000000"
	_, err = s.GetService(ctx, missing)
	wantNotFound(t, err, "service", missing)
	ghost := newService(t, "ghost")
	ghost.ID = missing
	wantNotFound(t, s.UpdateService(ctx, ghost), "service", missing)
	wantNotFound(t, s.DeleteService(ctx, missing), "service", missing)
	_, err = s.Environments(ctx, missing)
	wantNotFound(t, err, "service", missing)
	_, _, err = s.ListReleases(ctx, missing, store.Page{})
	wantNotFound(t, err, "service", missing)

	// A service that was never published goes with its drafts.
	a := mkAPI(t, s, svc.ID, "charge", "POST", "/charge", "")
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	_, err = s.GetService(ctx, svc.ID)
	wantNotFound(t, err, "service", svc.ID)
	_, err = s.GetAPI(ctx, svc.ID, a.ID)
	if !store.IsNotFound(err) {
		t.Fatalf("GetAPI of a deleted service's API: %v, want not found", err)
	}
}

func testServiceNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkService(t, s, "users")
	details := wantConflict(t, s.CreateService(ctx, newService(t, "users")), "name")
	if !hasDetail(details, "id", a.ID, "name", "users") {
		t.Fatalf("conflict details %v do not name %s", details, a.ID)
	}
	b := mkService(t, s, "accounts")
	b.Name = "users"
	wantConflict(t, s.UpdateService(ctx, b), "name")
	a.Description = "same name, new text"
	if err := s.UpdateService(ctx, a); err != nil {
		t.Fatalf("UpdateService keeping its name: %v", err)
	}
	if err := s.DeleteService(ctx, a.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	if err := s.UpdateService(ctx, b); err != nil {
		t.Fatalf("UpdateService to a freed name: %v", err)
	}
}

func testServiceDomains(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkService(t, s, "a", "api.example.com")
	b := newService(t, "b", "b.example.com", "api.example.com")
	details := wantConflict(t, s.CreateService(ctx, b), "domains[1].host")
	if !hasDetail(details, "id", a.ID) {
		t.Fatalf("conflict details %v do not name %s", details, a.ID)
	}
	b = mkService(t, s, "b", "b.example.com")
	b.Domains = append(b.Domains, config.Domain{Host: "api.example.com", Environment: "release"})
	wantConflict(t, s.UpdateService(ctx, b), "domains[1].host")

	// A service keeps its own domain across updates.
	a.Description = "edited"
	if err := s.UpdateService(ctx, a); err != nil {
		t.Fatalf("UpdateService keeping its domain: %v", err)
	}
	// A domain given up is free for another service.
	a.Domains = []config.Domain{}
	if err := s.UpdateService(ctx, a); err != nil {
		t.Fatalf("UpdateService dropping its domain: %v", err)
	}
	if err := s.UpdateService(ctx, b); err != nil {
		t.Fatalf("UpdateService taking a freed domain: %v", err)
	}
	// So is the domain of a deleted service.
	if err := s.DeleteService(ctx, b.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	mkService(t, s, "c", "api.example.com", "b.example.com")
}

func testDeleteServicePublished(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := mkService(t, s, "live", "live.example.com")
	a := mkAPI(t, s, svc.ID, "ping", "GET", "/ping", "")
	publish(t, s, svc.ID, "test")
	publish(t, s, svc.ID, "release")

	details := wantConflict(t, s.DeleteService(ctx, svc.ID), "")
	if !hasDetail(details, "environment", "test") || !hasDetail(details, "environment", "release") || len(details) != 2 {
		t.Fatalf("conflict details %v, want the environments test and release", details)
	}
	if _, err := s.GetAPI(ctx, svc.ID, a.ID); err != nil {
		t.Fatalf("API gone after a refused delete: %v", err)
	}

	for _, env := range []string{"test", "release"} {
		if err := s.Unpublish(ctx, svc.ID, env, ""); err != nil {
			t.Fatalf("Unpublish(%s): %v", env, err)
		}
	}
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatalf("DeleteService after unpublishing: %v", err)
	}
	_, _, err := s.ListReleases(ctx, svc.ID, store.Page{})
	wantNotFound(t, err, "service", svc.ID)
	if p := published(load(t, s), svc.ID, "release"); p != nil {
		t.Fatalf("Load still serves a deleted service")
	}
	// Its name and domain are free again; its history does not leak into
	// a new service.
	again := mkService(t, s, "live", "live.example.com")
	rels, total, err := s.ListReleases(ctx, again.ID, store.Page{})
	if err != nil || total != 0 || len(rels) != 0 {
		t.Fatalf("ListReleases of a new service = %v, %d, %v", rels, total, err)
	}
}
