package sqlshared

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateService stores a new service and sets its id and timestamps.
func (s *Store) CreateService(ctx context.Context, svc *config.Service) error {
	row := *svc
	row.ID = NewID("svc-")
	err := s.write(ctx, "create service", func(ctx context.Context, tx Tx) error {
		// Stamped inside the transaction, so that creation times follow
		// commit order.
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := serviceNameFree(ctx, tx, row.Name, ""); err != nil {
			return err
		}
		hosts, err := checkDomains(ctx, tx, row.Domains, "")
		if err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO services (id, name, created_at, body) VALUES (?, ?, ?, ?)`,
			row.ID, row.Name, row.CreatedAt.UnixMilli(), body); err != nil {
			return err
		}
		return insertDomains(ctx, tx, row.ID, row.Domains, hosts)
	})
	if err != nil {
		return err
	}
	svc.ID, svc.CreatedAt, svc.UpdatedAt = row.ID, row.CreatedAt, row.UpdatedAt
	return nil
}

// GetService returns the service with the given id.
func (s *Store) GetService(ctx context.Context, id string) (*config.Service, error) {
	return readOne(ctx, s, "get service", func(ctx context.Context, tx Tx) (*config.Service, error) {
		return getService(ctx, tx, id)
	})
}

// ListServices returns a page of services, oldest first.
func (s *Store) ListServices(ctx context.Context, p store.Page) ([]config.Service, int, error) {
	return listPage(ctx, s, listing[config.Service]{op: "list services", from: `FROM services`}, p)
}

// UpdateService replaces a service; created_at is kept. The change reaches
// the environments that serve the service at once (its protocols and
// domains are live settings, not part of a release).
func (s *Store) UpdateService(ctx context.Context, svc *config.Service) error {
	row := *svc
	err := s.write(ctx, "update service", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getService(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		if err := serviceNameFree(ctx, tx, row.Name, row.ID); err != nil {
			return err
		}
		hosts, err := checkDomains(ctx, tx, row.Domains, row.ID)
		if err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE services SET name = ?, body = ? WHERE id = ?`,
			row.Name, body, row.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM service_domains WHERE service_id = ?`, row.ID); err != nil {
			return err
		}
		return insertDomains(ctx, tx, row.ID, row.Domains, hosts)
	})
	if err != nil {
		return err
	}
	svc.CreatedAt, svc.UpdatedAt = row.CreatedAt, row.UpdatedAt
	return nil
}

// DeleteService deletes a service that no environment serves, with its draft
// APIs and its release history.
func (s *Store) DeleteService(ctx context.Context, id string) error {
	return s.write(ctx, "delete service", func(ctx context.Context, tx Tx) error {
		if _, err := getService(ctx, tx, id); err != nil {
			return err
		}
		envs, err := environments(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(envs) > 0 {
			details := make([]any, len(envs))
			names := make([]string, len(envs))
			for i, e := range envs {
				details[i] = map[string]string{"environment": e.Environment, "version": e.Version}
				names[i] = e.Environment
			}
			return &store.ConflictError{
				Message: fmt.Sprintf("service %s is published in %s; unpublish it first", id, strings.Join(names, ", ")),
				Details: details,
			}
		}
		// Children first: the foreign keys are checked per statement.
		for _, q := range []string{
			`DELETE FROM environments WHERE service_id = ?`,
			`DELETE FROM release_events WHERE service_id = ?`,
			`DELETE FROM releases WHERE service_id = ?`,
			`DELETE FROM apis WHERE service_id = ?`,
			`DELETE FROM service_domains WHERE service_id = ?`,
			// Bindings name the service by id only: they go with it.
			`DELETE FROM plugin_bindings WHERE service_id = ?`,
			`DELETE FROM plan_bindings WHERE service_id = ?`,
			`DELETE FROM app_bindings WHERE service_id = ?`,
			`DELETE FROM services WHERE id = ?`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func getService(ctx context.Context, tx Tx, id string) (*config.Service, error) {
	return getBody[config.Service](ctx, tx, `SELECT body FROM services WHERE id = ?`, "service", id)
}

// serviceExists is getService for callers that need only the NotFoundError.
func serviceExists(ctx context.Context, tx Tx, id string) error {
	ok, err := exists(ctx, tx, `SELECT 1 FROM services WHERE id = ?`, id)
	if err == nil && !ok {
		return &store.NotFoundError{Kind: "service", ID: id}
	}
	return err
}

func serviceNameFree(ctx context.Context, tx Tx, name, self string) error {
	return nameFree(ctx, tx, "services", "a service", name, self, true)
}

// checkDomains checks that no other service than self has one of the
// custom domains and that the certificates they name exist, and returns the
// hosts in the form they are stored (lower case: host names are
// case-insensitive).
func checkDomains(ctx context.Context, tx Tx, domains []config.Domain, self string) ([]string, error) {
	hosts := make([]string, 0, len(domains))
	seen := map[string]bool{}
	for i, d := range domains {
		field := fmt.Sprintf("domains[%d].host", i)
		host := strings.ToLower(d.Host)
		if seen[host] {
			return nil, &store.InvalidError{Field: field, Message: fmt.Sprintf("%s repeats %s", field, host)}
		}
		seen[host] = true
		var id, name string
		err := tx.QueryRow(ctx, `
			SELECT s.id, s.name FROM service_domains d JOIN services s ON s.id = d.service_id
			WHERE d.host = ? AND d.service_id <> ?`, host, self).Scan(&id, &name)
		switch {
		case errors.Is(err, ErrNoRows):
			hosts = append(hosts, host)
		case err != nil:
			return nil, err
		default:
			return nil, &store.ConflictError{
				Message: fmt.Sprintf("%s: domain %s is already used by service %q (%s)", field, host, name, id),
				Field:   field,
				Details: []any{map[string]string{"id": id, "name": name, "host": host}},
			}
		}
	}
	return hosts, certificatesExist(ctx, tx, domains)
}

// certificatesExist fails with an InvalidError when a domain names a
// certificate that does not exist.
func certificatesExist(ctx context.Context, tx Tx, domains []config.Domain) error {
	for i, d := range domains {
		if d.CertificateID == "" {
			continue
		}
		ok, err := exists(ctx, tx, `SELECT 1 FROM certificates WHERE id = ?`, d.CertificateID)
		if err != nil {
			return err
		}
		if !ok {
			field := fmt.Sprintf("domains[%d].certificate_id", i)
			return &store.InvalidError{
				Field:   field,
				Message: fmt.Sprintf("%s: certificate %q does not exist", field, d.CertificateID),
			}
		}
	}
	return nil
}

// insertDomains stores the custom domains of a service; hosts are their
// stored forms (see checkDomains).
func insertDomains(ctx context.Context, tx Tx, serviceID string, domains []config.Domain, hosts []string) error {
	for i, h := range hosts {
		if _, err := tx.Exec(ctx,
			`INSERT INTO service_domains (host, service_id, certificate_id) VALUES (?, ?, ?)`,
			h, serviceID, nullIfEmpty(domains[i].CertificateID)); err != nil {
			return err
		}
	}
	return nil
}
