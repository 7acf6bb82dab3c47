package config

import (
	"fmt"
	"regexp"
)

// Auth types of an API.
const (
	AuthNone = "none"
	AuthKey  = "key"
	AuthJWT  = "jwt"
)

// Key is a key pair: callers of APIs whose auth type is "key" sign their
// requests with SecretKey and name it by SecretID. A key works only on the
// APIs bound to a usage plan that holds it.
type Key struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	SecretID  string `json:"secret_id"`
	SecretKey string `json:"secret_key"`
	CreatedAt Time   `json:"created_at"`
	UpdatedAt Time   `json:"updated_at"`
}

// UsagePlan gives the keys it holds access to the APIs it is bound to, at
// most MaxRequestsPerSecond per key and Quota calls per key in all (-1:
// unlimited).
type UsagePlan struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	MaxRequestsPerSecond *int64 `json:"max_requests_per_second"`
	Quota                *int64 `json:"quota"`
	// KeyIDs and Bindings are read-only: they are changed under
	// /usage-plans/{id}/keys and /usage-plans/{id}/bindings.
	KeyIDs    []string      `json:"key_ids"`
	Bindings  []PlanBinding `json:"bindings"`
	CreatedAt Time          `json:"created_at"`
	UpdatedAt Time          `json:"updated_at"`
}

// PlanBinding binds a usage plan to a service in one environment: to all
// its APIs, or to the listed ones.
type PlanBinding struct {
	ID          string   `json:"id"`
	PlanID      string   `json:"plan_id"`
	ServiceID   string   `json:"service_id"`
	Environment string   `json:"environment"`
	APIIDs      []string `json:"api_ids,omitempty"`
	CreatedAt   Time     `json:"created_at"`
}

// RPS is the plan's per-key request rate, -1 when unlimited.
func (p *UsagePlan) RPS() int64 { return deref(p.MaxRequestsPerSecond) }

// QuotaLimit is the plan's per-key total, -1 when unlimited.
func (p *UsagePlan) QuotaLimit() int64 { return deref(p.Quota) }

func deref(v *int64) int64 {
	if v == nil {
		return -1
	}
	return *v
}

var (
	keyName  = regexp.MustCompile(`^[A-Za-z0-9_]{1,50}$`)
	secretID = regexp.MustCompile(`^[A-Za-z0-9_]{5,50}$`)
)

// ValidateKey checks a key; an empty secret_id or secret_key is generated
// by the store.
func ValidateKey(k *Key) error {
	if !keyName.MatchString(k.Name) {
		return fieldErr("name", "must be 1-50 of A-Z a-z 0-9 _")
	}
	if k.SecretID != "" && !secretID.MatchString(k.SecretID) {
		return fieldErr("secret_id", "must be 5-50 of A-Z a-z 0-9 _ (or left out to be generated)")
	}
	if k.SecretKey != "" {
		if n := len([]rune(k.SecretKey)); n < 10 || n > 50 {
			return fieldErr("secret_key", "must be 10-50 characters (or left out to be generated)")
		}
		for _, r := range k.SecretKey {
			if r < 0x21 || r > 0x7e {
				return fieldErr("secret_key", "must be printable ASCII without spaces")
			}
		}
	}
	return nil
}

// ValidatePlan checks a usage plan.
func ValidatePlan(p *UsagePlan) error {
	if !keyName.MatchString(p.Name) {
		return fieldErr("name", "must be 1-50 of A-Z a-z 0-9 _")
	}
	for _, f := range []struct {
		name string
		v    **int64
	}{{"max_requests_per_second", &p.MaxRequestsPerSecond}, {"quota", &p.Quota}} {
		if *f.v == nil {
			v := int64(-1)
			*f.v = &v
			continue
		}
		if v := **f.v; v != -1 && (v < 1 || v > MaxTrafficLimit) {
			return fieldErr(f.name, "must be -1 (unlimited) or 1-%d", MaxTrafficLimit)
		}
	}
	return nil
}

// ValidatePlanBinding checks a binding's own fields.
func ValidatePlanBinding(b *PlanBinding) error {
	pb := PluginBinding{ServiceID: b.ServiceID, Environment: b.Environment, APIIDs: b.APIIDs}
	return ValidatePluginBinding(&pb)
}

// ValidateKeyIDs checks the body of POST /usage-plans/{id}/keys.
func ValidateKeyIDs(ids []string) error {
	if len(ids) == 0 {
		return fieldErr("key_ids", "must list at least one key id")
	}
	if len(ids) > 1000 {
		return fieldErr("key_ids", "may list at most 1000 keys at once")
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" || seen[id] {
			return fieldErr(fmt.Sprintf("key_ids[%d]", i), "must be a distinct key id")
		}
		seen[id] = true
	}
	return nil
}

// QuotaCounterKey names the counter of one key pair's use of one usage
// plan's quota; the data plane counts under it and the admin API reads and
// resets it.
func QuotaCounterKey(planID, keyID string) []byte { return AppendQuotaCounterKey(nil, planID, keyID) }

// AppendQuotaCounterKey appends QuotaCounterKey to dst.
func AppendQuotaCounterKey(dst []byte, planID, keyID string) []byte {
	dst = append(dst, "quota:"...)
	dst = append(dst, planID...)
	dst = append(dst, ':')
	return append(dst, keyID...)
}
