package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateService stores a new service and sets its id and timestamps.
func (s *Store) CreateService(ctx context.Context, svc *config.Service) error {
	row := *svc
	row.ID = newID("svc-")
	err := s.write(ctx, "create service", func(tx *sql.Tx) error {
		// Stamped inside the transaction, so that creation times follow
		// commit order.
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := serviceNameFree(ctx, tx, row.Name, ""); err != nil {
			return err
		}
		hosts, err := domainsFree(ctx, tx, row.Domains, "")
		if err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO services (id, name, created_at, body) VALUES (?, ?, ?, ?)`,
			row.ID, row.Name, row.CreatedAt.UnixMilli(), body); err != nil {
			return err
		}
		return insertDomains(ctx, tx, row.ID, hosts)
	})
	if err != nil {
		return err
	}
	svc.ID, svc.CreatedAt, svc.UpdatedAt = row.ID, row.CreatedAt, row.UpdatedAt
	return nil
}

// GetService returns the service with the given id.
func (s *Store) GetService(ctx context.Context, id string) (*config.Service, error) {
	var svc *config.Service
	err := s.read(ctx, "get service", func(tx *sql.Tx) error {
		var err error
		svc, err = getService(ctx, tx, id)
		return err
	})
	return svc, err
}

// ListServices returns a page of services, oldest first.
func (s *Store) ListServices(ctx context.Context, p store.Page) ([]config.Service, int, error) {
	return listPage[config.Service](ctx, s, "list services", nil, `FROM services`, p)
}

// UpdateService replaces a service; created_at is kept. The change reaches
// the environments that serve the service at once (its protocols and
// domains are live settings, not part of a release).
func (s *Store) UpdateService(ctx context.Context, svc *config.Service) error {
	row := *svc
	err := s.write(ctx, "update service", func(tx *sql.Tx) error {
		row.UpdatedAt = now()
		old, err := getService(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		if err := serviceNameFree(ctx, tx, row.Name, row.ID); err != nil {
			return err
		}
		hosts, err := domainsFree(ctx, tx, row.Domains, row.ID)
		if err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE services SET name = ?, body = ? WHERE id = ?`,
			row.Name, body, row.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM service_domains WHERE service_id = ?`, row.ID); err != nil {
			return err
		}
		return insertDomains(ctx, tx, row.ID, hosts)
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
	return s.write(ctx, "delete service", func(tx *sql.Tx) error {
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
			`DELETE FROM releases WHERE service_id = ?`,
			`DELETE FROM apis WHERE service_id = ?`,
			`DELETE FROM service_domains WHERE service_id = ?`,
			// Plugin bindings name the service by id only: they go with it.
			`DELETE FROM plugin_bindings WHERE service_id = ?`,
			`DELETE FROM plan_bindings WHERE service_id = ?`,
			`DELETE FROM app_bindings WHERE service_id = ?`,
			`DELETE FROM services WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func getService(ctx context.Context, tx *sql.Tx, id string) (*config.Service, error) {
	var body string
	err := tx.QueryRowContext(ctx, `SELECT body FROM services WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &store.NotFoundError{Kind: "service", ID: id}
	}
	if err != nil {
		return nil, err
	}
	var svc config.Service
	if err := json.Unmarshal([]byte(body), &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// serviceExists is getService for callers that need only the NotFoundError.
func serviceExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM services WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return &store.NotFoundError{Kind: "service", ID: id}
	}
	return err
}

func serviceNameFree(ctx context.Context, tx *sql.Tx, name, self string) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM services WHERE name = ? AND id <> ?`, name, self).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &store.ConflictError{
		Message: fmt.Sprintf("a service named %q already exists (%s)", name, id),
		Field:   "name",
		Details: []any{map[string]string{"id": id, "name": name}},
	}
}

// domainsFree checks that no other service than self has one of the custom
// domains, and returns the hosts in the form they are stored (lower case:
// host names are case-insensitive).
func domainsFree(ctx context.Context, tx *sql.Tx, domains []config.Domain, self string) ([]string, error) {
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
		err := tx.QueryRowContext(ctx, `
			SELECT s.id, s.name FROM service_domains d JOIN services s ON s.id = d.service_id
			WHERE d.host = ? AND d.service_id <> ?`, host, self).Scan(&id, &name)
		switch {
		case errors.Is(err, sql.ErrNoRows):
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
	return hosts, nil
}

func insertDomains(ctx context.Context, tx *sql.Tx, serviceID string, hosts []string) error {
	for _, h := range hosts {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO service_domains (host, service_id) VALUES (?, ?)`, h, serviceID); err != nil {
			return err
		}
	}
	return nil
}
