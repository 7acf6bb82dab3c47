package sqlshared

import (
	"context"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreatePlan stores a usage plan.
func (s *Store) CreatePlan(ctx context.Context, p *config.UsagePlan) error {
	row := *p
	row.ID = NewID("plan-")
	row.KeyIDs, row.Bindings = nil, nil
	err := s.write(ctx, "create usage plan", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := nameFree(ctx, tx, "usage_plans", "a usage plan", row.Name, "", false); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO usage_plans (id, name, created_at, body) VALUES (?, ?, ?, ?)`,
			row.ID, row.Name, row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	row.KeyIDs, row.Bindings = []string{}, []config.PlanBinding{}
	*p = row
	return nil
}

// GetPlan returns a usage plan with its keys and bindings.
func (s *Store) GetPlan(ctx context.Context, id string) (*config.UsagePlan, error) {
	return readOne(ctx, s, "get usage plan", func(ctx context.Context, tx Tx) (*config.UsagePlan, error) {
		p, err := getPlan(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		return p, fillPlan(ctx, tx, p)
	})
}

// ListPlans returns a page of usage plans with their keys and bindings.
func (s *Store) ListPlans(ctx context.Context, pg store.Page) ([]config.UsagePlan, int, error) {
	return listPage(ctx, s, listing[config.UsagePlan]{
		op:   "list usage plans",
		from: `FROM usage_plans`,
		fill: func(ctx context.Context, tx Tx, items []config.UsagePlan) error {
			for i := range items {
				if err := fillPlan(ctx, tx, &items[i]); err != nil {
					return err
				}
			}
			return nil
		},
	}, pg)
}

// UpdatePlan replaces a plan's name and limits.
func (s *Store) UpdatePlan(ctx context.Context, p *config.UsagePlan) error {
	row := *p
	row.KeyIDs, row.Bindings = nil, nil
	err := s.write(ctx, "update usage plan", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getPlan(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		if err := nameFree(ctx, tx, "usage_plans", "a usage plan", row.Name, row.ID, false); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE usage_plans SET name = ?, body = ? WHERE id = ?`, row.Name, body, row.ID); err != nil {
			return err
		}
		return fillPlan(ctx, tx, &row)
	})
	if err != nil {
		return err
	}
	*p = row
	return nil
}

// DeletePlan deletes a plan that has no bindings, releasing its keys.
func (s *Store) DeletePlan(ctx context.Context, id string) error {
	return s.write(ctx, "delete usage plan", func(ctx context.Context, tx Tx) error {
		if _, err := getPlan(ctx, tx, id); err != nil {
			return err
		}
		bs, err := planBindings(ctx, tx, `WHERE plan_id = ?`, id)
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			return &store.ConflictError{
				Message: fmt.Sprintf("usage plan %s has %d binding(s); delete them first", id, len(bs)),
				Details: bindingDetails(bs),
			}
		}
		for _, q := range []string{`DELETE FROM plan_keys WHERE plan_id = ?`, `DELETE FROM usage_plans WHERE id = ?`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddPlanKeys puts keys in a plan.
func (s *Store) AddPlanKeys(ctx context.Context, planID string, keyIDs []string) error {
	return s.write(ctx, "add usage plan keys", func(ctx context.Context, tx Tx) error {
		if _, err := getPlan(ctx, tx, planID); err != nil {
			return err
		}
		for i, kid := range keyIDs {
			if _, err := getKey(ctx, tx, kid); err != nil {
				if store.IsNotFound(err) {
					return &store.InvalidError{Field: fmt.Sprintf("key_ids[%d]", i), Message: fmt.Sprintf("key_ids[%d]: key %s does not exist", i, kid)}
				}
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO plan_keys (plan_id, key_id) VALUES (?, ?) ON CONFLICT (plan_id, key_id) DO NOTHING`,
				planID, kid); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemovePlanKey takes a key out of a plan.
func (s *Store) RemovePlanKey(ctx context.Context, planID, keyID string) error {
	return s.write(ctx, "remove usage plan key", func(ctx context.Context, tx Tx) error {
		if _, err := getPlan(ctx, tx, planID); err != nil {
			return err
		}
		return deleteOne(ctx, tx, "key", keyID, `DELETE FROM plan_keys WHERE plan_id = ? AND key_id = ?`, planID, keyID)
	})
}

// BindPlan binds a plan to a service environment or to some of its APIs.
func (s *Store) BindPlan(ctx context.Context, b *config.PlanBinding) error {
	row := *b
	row.ID = NewID("pnb-")
	err := s.write(ctx, "bind usage plan", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		if _, err := getPlan(ctx, tx, row.PlanID); err != nil {
			return err
		}
		if err := checkTargets(ctx, tx, row.ServiceID, row.APIIDs); err != nil {
			return err
		}
		found, err := storeBinding(ctx, tx, planBindingsTable, "", &bindingRow{
			ID: row.ID, Owner: row.PlanID, ServiceID: row.ServiceID, Environment: row.Environment,
			APIIDs: row.APIIDs, CreatedAt: row.CreatedAt,
		})
		if err != nil || len(found) == 0 {
			return err
		}
		conflicts := make([]any, len(found))
		for i, c := range found {
			conflicts[i] = map[string]string{"plan_id": c.Owner, "binding_id": c.BindingID, "api_id": c.APIID}
		}
		return &store.ConflictError{
			Message: fmt.Sprintf("a usage plan is already bound there in %s; unbind it first", row.Environment),
			Details: conflicts,
		}
	})
	if err != nil {
		return err
	}
	b.ID, b.CreatedAt = row.ID, row.CreatedAt
	return nil
}

// UnbindPlan deletes one binding of a plan.
func (s *Store) UnbindPlan(ctx context.Context, planID, bindingID string) error {
	return s.write(ctx, "unbind usage plan", func(ctx context.Context, tx Tx) error {
		if _, err := getPlan(ctx, tx, planID); err != nil {
			return err
		}
		return deleteBinding(ctx, tx, planBindingsTable, planID, bindingID)
	})
}

func getPlan(ctx context.Context, tx Tx, id string) (*config.UsagePlan, error) {
	return getBody[config.UsagePlan](ctx, tx, `SELECT body FROM usage_plans WHERE id = ?`, "usage plan", id)
}

// fillPlan reads a plan's keys and bindings.
func fillPlan(ctx context.Context, tx Tx, p *config.UsagePlan) error {
	var err error
	if p.KeyIDs, err = queryStrings(ctx, tx, `SELECT key_id FROM plan_keys WHERE plan_id = ? ORDER BY seq`, p.ID); err != nil {
		return err
	}
	p.Bindings, err = planBindings(ctx, tx, `WHERE plan_id = ?`, p.ID)
	return err
}

// planBindings reads the bindings of plans that match where.
func planBindings(ctx context.Context, tx Tx, where string, args ...any) ([]config.PlanBinding, error) {
	rows, err := readBindings(ctx, tx, planBindingsTable, where, args...)
	if err != nil {
		return nil, err
	}
	out := make([]config.PlanBinding, len(rows))
	for i, r := range rows {
		out[i] = config.PlanBinding{ID: r.ID, PlanID: r.Owner, ServiceID: r.ServiceID, Environment: r.Environment,
			APIIDs: r.APIIDs, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// loadPlans reads every plan with its keys and bindings, for Load.
func loadPlans(ctx context.Context, tx Tx) ([]config.UsagePlan, error) {
	ps, err := queryBodies[config.UsagePlan](ctx, tx, `SELECT body FROM usage_plans ORDER BY created_at, seq`)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if err := fillPlan(ctx, tx, &ps[i]); err != nil {
			return nil, err
		}
	}
	return ps, nil
}
