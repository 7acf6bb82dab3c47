package storetest

import (
	"errors"
	"regexp"
	"testing"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

func testKeysAndPlans(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := &config.Key{Name: "generated"}
	if err := s.CreateKey(ctx, gen); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_]{5,50}$`).MatchString(gen.SecretID) || len(gen.SecretKey) < 10 {
		t.Fatalf("generated secrets %q %q", gen.SecretID, gen.SecretKey)
	}
	manual := &config.Key{Name: "manual", SecretID: "client_42", SecretKey: "s3cret-s3cret"}
	if err := s.CreateKey(ctx, manual); err != nil {
		t.Fatalf("CreateKey manual: %v", err)
	}
	wantConflict(t, s.CreateKey(ctx, &config.Key{Name: "other", SecretID: "client_42"}), "secret_id")
	wantConflict(t, s.CreateKey(ctx, &config.Key{Name: "manual"}), "name")
	upd := *manual
	upd.SecretKey = ""
	if err := s.UpdateKey(ctx, &upd); err != nil || upd.SecretKey != "s3cret-s3cret" {
		t.Fatalf("UpdateKey without a secret must keep it: %q %v", upd.SecretKey, err)
	}

	rps, quota := int64(10), int64(1000)
	plan := &config.UsagePlan{Name: "gold", MaxRequestsPerSecond: &rps, Quota: &quota}
	if err := s.CreatePlan(ctx, plan); err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	var inv *store.InvalidError
	if err := s.AddPlanKeys(ctx, plan.ID, []string{manual.ID, "key-0000000000000000"}); !errors.As(err, &inv) || inv.Field != "key_ids[1]" {
		t.Fatalf("an unknown key: %v", err)
	}
	if err := s.AddPlanKeys(ctx, plan.ID, []string{manual.ID, gen.ID}); err != nil {
		t.Fatalf("AddPlanKeys: %v", err)
	}
	if err := s.AddPlanKeys(ctx, plan.ID, []string{manual.ID}); err != nil {
		t.Fatalf("adding a key twice is harmless: %v", err)
	}
	svc := mkService(t, s, "paid")
	a := mkAPI(t, s, svc.ID, "a", "GET", "/a", "")
	b := &config.PlanBinding{PlanID: plan.ID, ServiceID: svc.ID, Environment: "release"}
	if err := s.BindPlan(ctx, b); err != nil {
		t.Fatalf("BindPlan: %v", err)
	}
	other := &config.UsagePlan{Name: "silver"}
	if err := s.CreatePlan(ctx, other); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, s.BindPlan(ctx, &config.PlanBinding{PlanID: other.ID, ServiceID: svc.ID, Environment: "release"}), "")
	if err := s.BindPlan(ctx, &config.PlanBinding{PlanID: other.ID, ServiceID: svc.ID, Environment: "release", APIIDs: []string{a.ID}}); err != nil {
		t.Fatalf("an API-level binding beside the service's: %v", err)
	}
	got, err := s.GetPlan(ctx, plan.ID)
	if err != nil || len(got.KeyIDs) != 2 || len(got.Bindings) != 1 || got.RPS() != 10 || got.QuotaLimit() != 1000 {
		t.Fatalf("GetPlan: %+v %v", got, err)
	}
	st, err := s.Load(ctx)
	if err != nil || len(st.Keys) != 2 || len(st.Plans) != 2 {
		t.Fatalf("Load: %d keys %d plans %v", len(st.Keys), len(st.Plans), err)
	}
	// In use: neither the key nor the plan can go silently.
	wantConflict(t, s.DeleteKey(ctx, manual.ID), "")
	wantConflict(t, s.DeletePlan(ctx, plan.ID), "")
	if err := s.UnbindPlan(ctx, plan.ID, b.ID); err != nil {
		t.Fatalf("UnbindPlan: %v", err)
	}
	if err := s.RemovePlanKey(ctx, plan.ID, manual.ID); err != nil {
		t.Fatalf("RemovePlanKey: %v", err)
	}
	if err := s.DeleteKey(ctx, manual.ID); err != nil {
		t.Fatalf("DeleteKey after removing it from its plan: %v", err)
	}
	if err := s.DeletePlan(ctx, plan.ID); err != nil {
		t.Fatalf("DeletePlan without bindings: %v", err)
	}
	if err := s.DeleteKey(ctx, gen.ID); err != nil {
		t.Fatalf("a deleted plan releases its keys: %v", err)
	}
}
