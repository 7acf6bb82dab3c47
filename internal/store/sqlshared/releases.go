package sqlshared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Publish snapshots the service's draft APIs as a new version and serves it
// in env. Versions are "v1", "v2", ... per service, never reused.
//
// Publishing a service without APIs is refused: it would serve nothing, and
// is far more likely a mistake than a way to take the service down (which is
// what Unpublish is for).
func (s *Store) Publish(ctx context.Context, serviceID, env, description string) (*config.Release, error) {
	if !config.IsEnvironment(env) {
		return nil, &store.InvalidError{
			Field:   "environment",
			Message: fmt.Sprintf("environment must be one of %s", strings.Join(config.Environments, ", ")),
		}
	}
	rel := &config.Release{ServiceID: serviceID, Environment: env, Description: description}
	err := s.write(ctx, "publish", func(ctx context.Context, tx Tx) error {
		rel.CreatedAt = now()
		var seq int64
		err := tx.QueryRow(ctx, `SELECT release_seq FROM services WHERE id = ?`, serviceID).Scan(&seq)
		if errors.Is(err, ErrNoRows) {
			return &store.NotFoundError{Kind: "service", ID: serviceID}
		}
		if err != nil {
			return err
		}
		apis, err := queryBodies[config.API](ctx, tx,
			`SELECT body FROM apis WHERE service_id = ? ORDER BY created_at, seq`, serviceID)
		if err != nil {
			return err
		}
		if len(apis) == 0 {
			return &store.InvalidError{Message: "the service has no APIs to publish"}
		}
		if err := s.canServe(ctx, tx, serviceID, env, apis); err != nil {
			return err
		}
		seq++
		rel.Version = "v" + strconv.FormatInt(seq, 10)
		rel.APIs = apis
		body, err := marshal(apis)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE services SET release_seq = ? WHERE id = ?`, seq, serviceID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO releases (service_id, version, seq, environment, description, created_at, apis)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			serviceID, rel.Version, seq, env, description, rel.CreatedAt.UnixMilli(), body); err != nil {
			return err
		}
		return serve(ctx, tx, serviceID, config.ActionPublish, env, rel.Version, description, rel.CreatedAt)
	})
	if err != nil {
		return nil, err
	}
	return rel, nil
}

// ListReleases returns a page of the service's releases, newest first,
// without their APIs.
func (s *Store) ListReleases(ctx context.Context, serviceID string, p store.Page) ([]config.Release, int, error) {
	return newestFirst(ctx, s, "list releases", serviceID, "releases", "version, environment, description, created_at",
		func(rows Rows) (config.Release, error) {
			r := config.Release{ServiceID: serviceID}
			var created int64
			err := rows.Scan(&r.Version, &r.Environment, &r.Description, &created)
			r.CreatedAt = fromMillis(created)
			return r, err
		}, p)
}

// Environments lists the environments that serve a version of the service,
// in display order.
func (s *Store) Environments(ctx context.Context, serviceID string) ([]config.EnvironmentState, error) {
	return readOne(ctx, s, "environments", func(ctx context.Context, tx Tx) ([]config.EnvironmentState, error) {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return nil, err
		}
		return environments(ctx, tx, serviceID)
	})
}

// Rollback serves an existing version of the service in env, whichever
// environment it was first published to: a version tested in "test" is
// promoted to "release" the same way. The history calls it a rollback when
// env has served the version before, a promotion otherwise.
func (s *Store) Rollback(ctx context.Context, serviceID, env, version, description string) (*config.EnvironmentState, error) {
	// env comes from the URL, so an unknown one is a missing resource.
	if !config.IsEnvironment(env) {
		return nil, &store.NotFoundError{Kind: "environment", ID: env}
	}
	st := &config.EnvironmentState{Environment: env, Version: version}
	err := s.write(ctx, "rollback", func(ctx context.Context, tx Tx) error {
		st.PublishedAt = now()
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return err
		}
		var body string
		err := tx.QueryRow(ctx, `SELECT apis FROM releases WHERE service_id = ? AND version = ?`,
			serviceID, version).Scan(&body)
		if errors.Is(err, ErrNoRows) {
			return &store.NotFoundError{Kind: "release", ID: version}
		}
		if err != nil {
			return err
		}
		var apis []config.API
		if err := json.Unmarshal([]byte(body), &apis); err != nil {
			return err
		}
		if err := s.canServe(ctx, tx, serviceID, env, apis); err != nil {
			return err
		}
		action := config.ActionPromote
		if ok, err := exists(ctx, tx, `SELECT 1 FROM release_events WHERE service_id = ? AND environment = ? AND version = ?`,
			serviceID, env, version); err != nil {
			return err
		} else if ok {
			action = config.ActionRollback
		}
		return serve(ctx, tx, serviceID, action, env, version, description, st.PublishedAt)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Unpublish stops serving the service in env. Its releases are kept.
func (s *Store) Unpublish(ctx context.Context, serviceID, env, description string) error {
	return s.write(ctx, "unpublish", func(ctx context.Context, tx Tx) error {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return err
		}
		served, err := servedVersion(ctx, tx, serviceID, env)
		if err != nil {
			return err
		}
		if err := deleteOne(ctx, tx, "environment", env,
			`DELETE FROM environments WHERE service_id = ? AND environment = ?`, serviceID, env); err != nil {
			return err
		}
		return record(ctx, tx, serviceID, config.ReleaseEvent{Action: config.ActionUnpublish, Environment: env,
			PreviousVersion: served, Description: description, CreatedAt: now()})
	})
}

// serve makes env serve version of the service, and writes it down in the
// history as action.
func serve(ctx context.Context, tx Tx, serviceID, action, env, version, description string, at config.Time) error {
	prev, err := servedVersion(ctx, tx, serviceID, env)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO environments (service_id, environment, version, published_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (service_id, environment) DO UPDATE
		SET version = excluded.version, published_at = excluded.published_at`,
		serviceID, env, version, at.UnixMilli()); err != nil {
		return err
	}
	return record(ctx, tx, serviceID, config.ReleaseEvent{Action: action, Environment: env,
		Version: version, PreviousVersion: prev, Description: description, CreatedAt: at})
}

// servedVersion is the version the service serves in env, "" for none.
func servedVersion(ctx context.Context, tx Tx, serviceID, env string) (string, error) {
	var v string
	err := tx.QueryRow(ctx, `SELECT version FROM environments WHERE service_id = ? AND environment = ?`,
		serviceID, env).Scan(&v)
	if errors.Is(err, ErrNoRows) {
		return "", nil
	}
	return v, err
}

// record appends e to the service's history. Writes are serialized by the
// revision, so the next number cannot be taken twice.
func record(ctx context.Context, tx Tx, serviceID string, e config.ReleaseEvent) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO release_events (service_id, seq, action, environment, version, previous_version, description, created_at)
		SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ? FROM release_events WHERE service_id = ?`,
		serviceID, e.Action, e.Environment, e.Version, e.PreviousVersion, e.Description, e.CreatedAt.UnixMilli(), serviceID)
	return err
}

// History returns a page of the service's release history, newest first.
func (s *Store) History(ctx context.Context, serviceID string, p store.Page) ([]config.ReleaseEvent, int, error) {
	return newestFirst(ctx, s, "release history", serviceID, "release_events",
		"action, environment, version, previous_version, description, created_at",
		func(rows Rows) (e config.ReleaseEvent, err error) {
			var at int64
			err = rows.Scan(&e.Action, &e.Environment, &e.Version, &e.PreviousVersion, &e.Description, &at)
			e.CreatedAt = fromMillis(at)
			return e, err
		}, p)
}

// newestFirst reads a page of a service's rows of table (releases or
// release_events, numbered by seq), newest first, and their total, in one
// read transaction; the service must exist.
func newestFirst[T any](ctx context.Context, s *Store, op, serviceID, table, columns string,
	scan func(Rows) (T, error), p store.Page) ([]T, int, error) {
	limit, offset := limits(p)
	var (
		items []T
		total int
	)
	err := s.read(ctx, op, func(ctx context.Context, tx Tx) error {
		if err := serviceExists(ctx, tx, serviceID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE service_id = ?`, serviceID).Scan(&total); err != nil {
			return err
		}
		var err error
		items, err = collect(ctx, tx, scan, `SELECT `+columns+` FROM `+table+`
			WHERE service_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?`, serviceID, limit, offset)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

func environments(ctx context.Context, tx Tx, serviceID string) ([]config.EnvironmentState, error) {
	envs, err := collect(ctx, tx, func(rows Rows) (e config.EnvironmentState, err error) {
		var at int64
		err = rows.Scan(&e.Environment, &e.Version, &at)
		e.PublishedAt = fromMillis(at)
		return e, err
	}, `SELECT environment, version, published_at FROM environments WHERE service_id = ?`, serviceID)
	if err != nil {
		return nil, err
	}
	sort.Slice(envs, func(i, j int) bool { return envOrder(envs[i].Environment) < envOrder(envs[j].Environment) })
	return envs, nil
}

// canServe checks that apis can be served by serviceID in env: every channel
// they use still exists, and no other service served in env serves one of
// their routes.
//
// Every service is reachable on the default host (custom domains add hosts,
// they do not take the service off the default one), and a custom domain
// belongs to one service only, so two services share a host exactly when
// both are served in env: the check is against every other service there.
func (s *Store) canServe(ctx context.Context, tx Tx, serviceID, env string, apis []config.API) error {
	for _, a := range apis {
		if a.Backend.Type != config.BackendChannel {
			continue
		}
		ok, err := exists(ctx, tx, `SELECT 1 FROM channels WHERE id = ?`, a.Backend.ChannelID)
		if err != nil {
			return err
		}
		if !ok {
			return &store.InvalidError{
				Field: "backend.channel_id",
				Message: fmt.Sprintf("API %q (%s) uses channel %s, which no longer exists",
					a.Name, a.ID, a.Backend.ChannelID),
			}
		}
	}

	// Bucket this service's routes by path shape once, so that comparing
	// with many served services costs a map lookup per API rather than a
	// parse of every pair.
	mine := map[string][]*config.API{}
	for i := range apis {
		if sh, ok := shape(&apis[i]); ok {
			mine[sh] = append(mine[sh], &apis[i])
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT e.service_id, r.apis FROM environments e
		JOIN releases r ON r.service_id = e.service_id AND r.version = e.version
		WHERE e.environment = ? AND e.service_id <> ?
		ORDER BY e.service_id `+s.d.Binary, env, serviceID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var details []any
	var first string
	for rows.Next() {
		var other, body string
		if err := rows.Scan(&other, &body); err != nil {
			return err
		}
		var served []config.API
		if err := json.Unmarshal([]byte(body), &served); err != nil {
			return err
		}
		for i := range served {
			o := &served[i]
			sh, ok := shape(o)
			if !ok {
				continue
			}
			for _, a := range mine[sh] {
				if !config.RoutesCollide(a, o) {
					continue
				}
				if first == "" {
					first = fmt.Sprintf("%s %s collides with API %q of service %s (%s %s)",
						a.Frontend.Method, a.Frontend.Path, o.Name, other, o.Frontend.Method, o.Frontend.Path)
				}
				details = append(details, map[string]string{
					"service_id": other, "api_id": o.ID, "api_name": o.Name,
					"method": o.Frontend.Method, "path": o.Frontend.Path,
				})
				break // list each API in the way once
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(details) > 0 {
		return &store.ConflictError{
			Message: fmt.Sprintf("cannot serve in %s: %s (%d route(s) in the way)", env, first, len(details)),
			Details: details,
		}
	}
	return nil
}

// shape is the bucket key of an API's route; RoutesCollide stays the judge
// of what collides within a bucket.
func shape(a *config.API) (string, bool) {
	p, err := config.ParsePath(a.Frontend.Path)
	if err != nil {
		return "", false
	}
	return p.Shape(), true
}
