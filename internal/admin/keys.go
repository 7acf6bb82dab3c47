package admin

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/portico-gw/portico/internal/config"
)

// Quota is what the admin API reads and resets of usage-plan quotas; the
// counters live with the data plane's limiter.
type Quota interface {
	Used(ctx context.Context, key []byte) (int64, error)
	ResetTotal(ctx context.Context, key []byte) error
}

type keyBody struct {
	config.Key
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

type planBody struct {
	config.UsagePlan
	ID        json.RawMessage `json:"id"`
	KeyIDs    json.RawMessage `json:"key_ids"`
	Bindings  json.RawMessage `json:"bindings"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

type planBindingBody struct {
	config.PlanBinding
	ID        json.RawMessage `json:"id"`
	PlanID    json.RawMessage `json:"plan_id"`
	CreatedAt json.RawMessage `json:"created_at"`
}

type keyIDsBody struct {
	KeyIDs []string `json:"key_ids"`
}

func parseKey(b []byte) (*config.Key, error) {
	var body keyBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	k := body.Key
	if err := config.ValidateKey(&k); err != nil {
		return nil, err
	}
	return &k, nil
}

func parsePlan(b []byte) (*config.UsagePlan, error) {
	var body planBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	p := body.UsagePlan
	if err := config.ValidatePlan(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

func parsePlanBinding(b []byte) (*config.PlanBinding, error) {
	var body planBindingBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	pb := body.PlanBinding
	if err := config.ValidatePlanBinding(&pb); err != nil {
		return nil, err
	}
	return &pb, nil
}

func parseKeyIDs(b []byte) (*keyIDsBody, error) {
	var body keyIDsBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	if err := config.ValidateKeyIDs(body.KeyIDs); err != nil {
		return nil, err
	}
	return &body, nil
}

func (s *server) createKey(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseKey, nil, s.store.CreateKey, nil)
}

func (s *server) listKeys(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListKeys, nil)
}

func (s *server) getKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.store.GetKey(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (s *server) updateKey(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parseKey, func(k *config.Key) { k.ID = r.PathValue("id") }, s.store.UpdateKey, nil)
}

func (s *server) deleteKey(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteKey(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

func (s *server) createPlan(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parsePlan, nil, s.store.CreatePlan, nil)
}

func (s *server) listPlans(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListPlans, nil)
}

func (s *server) getPlan(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.GetPlan(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *server) updatePlan(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parsePlan, func(p *config.UsagePlan) { p.ID = r.PathValue("id") }, s.store.UpdatePlan, nil)
}

func (s *server) deletePlan(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeletePlan(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

func (s *server) addPlanKeys(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := parseKeyIDs(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := s.store.AddPlanKeys(r.Context(), id, body.KeyIDs); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.getPlan(w, r)
}

func (s *server) removePlanKey(w http.ResponseWriter, r *http.Request) {
	if err := s.store.RemovePlanKey(r.Context(), r.PathValue("id"), r.PathValue("kid")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

func (s *server) bindPlan(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parsePlanBinding, func(b *config.PlanBinding) { b.PlanID = r.PathValue("id") },
		s.store.BindPlan, nil)
}

func (s *server) unbindPlan(w http.ResponseWriter, r *http.Request) {
	if err := s.store.UnbindPlan(r.Context(), r.PathValue("id"), r.PathValue("bid")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

// quotaUse is one key's use of a plan's quota.
type quotaUse struct {
	KeyID string `json:"key_id"`
	Used  int64  `json:"used"`
	Quota int64  `json:"quota"`
}

// getQuota lists how much of the plan's quota each of its keys has used.
func (s *server) getQuota(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.GetPlan(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items := make([]quotaUse, 0, len(p.KeyIDs))
	for _, kid := range p.KeyIDs {
		var used int64
		if s.quota != nil {
			if used, err = s.quota.Used(r.Context(), config.QuotaCounterKey(p.ID, kid)); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		items = append(items, quotaUse{KeyID: kid, Used: used, Quota: p.QuotaLimit()})
	}
	writeJSON(w, http.StatusOK, newList(items, len(items)))
}

// resetQuota sets one key's use of the plan back to zero.
func (s *server) resetQuota(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.GetPlan(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	kid := r.PathValue("kid")
	held := false
	for _, k := range p.KeyIDs {
		held = held || k == kid
	}
	if !held {
		s.writeError(w, r, notFound("key", kid))
		return
	}
	if s.quota != nil {
		if err := s.quota.ResetTotal(r.Context(), config.QuotaCounterKey(p.ID, kid)); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeNoContent(w)
}
