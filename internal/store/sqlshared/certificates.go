package sqlshared

import (
	"context"
	"fmt"
	"sort"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// CreateCertificate stores a new certificate, key included, and sets its id
// and timestamps. Warnings are not stored: they depend on when the
// certificate is read.
func (s *Store) CreateCertificate(ctx context.Context, c *config.Certificate) error {
	row := *c
	row.ID = NewID("cert-")
	row.Warnings = nil
	err := s.write(ctx, "create certificate", func(ctx context.Context, tx Tx) error {
		row.CreatedAt = now()
		row.UpdatedAt = row.CreatedAt
		if err := nameFree(ctx, tx, "certificates", "a certificate", row.Name, "", true); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO certificates (id, name, created_at, body) VALUES (?, ?, ?, ?)`,
			row.ID, row.Name, row.CreatedAt.UnixMilli(), body)
		return err
	})
	if err != nil {
		return err
	}
	c.ID, c.CreatedAt, c.UpdatedAt = row.ID, row.CreatedAt, row.UpdatedAt
	return nil
}

// GetCertificate returns a certificate, key included.
func (s *Store) GetCertificate(ctx context.Context, id string) (*config.Certificate, error) {
	return readOne(ctx, s, "get certificate", func(ctx context.Context, tx Tx) (*config.Certificate, error) {
		return getCertificate(ctx, tx, id)
	})
}

// ListCertificates returns a page of certificates, oldest first.
func (s *Store) ListCertificates(ctx context.Context, p store.Page) ([]config.Certificate, int, error) {
	return listPage(ctx, s, listing[config.Certificate]{op: "list certificates", from: `FROM certificates`}, p)
}

// UpdateCertificate replaces a certificate's name, chain and key;
// created_at is kept.
func (s *Store) UpdateCertificate(ctx context.Context, c *config.Certificate) error {
	row := *c
	row.Warnings = nil
	err := s.write(ctx, "update certificate", func(ctx context.Context, tx Tx) error {
		row.UpdatedAt = now()
		old, err := getCertificate(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		row.CreatedAt = old.CreatedAt
		if err := nameFree(ctx, tx, "certificates", "a certificate", row.Name, row.ID, true); err != nil {
			return err
		}
		body, err := marshal(row)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE certificates SET name = ?, body = ? WHERE id = ?`, row.Name, body, row.ID)
		return err
	})
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = row.CreatedAt, row.UpdatedAt
	return nil
}

// DeleteCertificate deletes a certificate that no custom domain names.
func (s *Store) DeleteCertificate(ctx context.Context, id string) error {
	return s.write(ctx, "delete certificate", func(ctx context.Context, tx Tx) error {
		if _, err := getCertificate(ctx, tx, id); err != nil {
			return err
		}
		uses, err := certificateUses(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(uses) > 0 {
			return certificateInUse(id, uses)
		}
		_, err = tx.Exec(ctx, `DELETE FROM certificates WHERE id = ?`, id)
		return err
	})
}

func getCertificate(ctx context.Context, tx Tx, id string) (*config.Certificate, error) {
	return getBody[config.Certificate](ctx, tx, `SELECT body FROM certificates WHERE id = ?`, "certificate", id)
}

// certificateUses lists the custom domains that name a certificate, by
// service id, then host.
func certificateUses(ctx context.Context, tx Tx, id string) ([]config.CertificateUse, error) {
	uses, err := collect(ctx, tx, func(r Rows) (u config.CertificateUse, err error) {
		return u, r.Scan(&u.ServiceID, &u.ServiceName, &u.Host)
	}, `
		SELECT d.service_id, s.name, d.host
		FROM service_domains d JOIN services s ON s.id = d.service_id
		WHERE d.certificate_id = ?`, id)
	if err != nil {
		return nil, err
	}
	sort.Slice(uses, func(i, j int) bool {
		if uses[i].ServiceID != uses[j].ServiceID {
			return uses[i].ServiceID < uses[j].ServiceID
		}
		return uses[i].Host < uses[j].Host
	})
	return uses, nil
}

// certificateInUse is the ConflictError of a refused DeleteCertificate.
func certificateInUse(id string, uses []config.CertificateUse) error {
	what := "1 custom domain; change it first"
	if len(uses) != 1 {
		what = fmt.Sprintf("%d custom domains; change them first", len(uses))
	}
	return &store.ConflictError{
		Message: fmt.Sprintf("certificate %s is used by %s", id, what),
		Details: bindingDetails(uses),
	}
}
