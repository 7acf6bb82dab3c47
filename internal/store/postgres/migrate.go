package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migration is one step of the schema's history. Steps are never edited once
// released: a schema records how many it has applied, so a changed step
// would silently differ between old and new schemas. Add a step instead.
type migration struct {
	name  string
	stmts []string
}

// migrations is the schema's history, oldest first; schema_version holds how
// many of them a schema has applied. The steps are those of the SQLite store,
// in PostgreSQL's types, so that the two stores keep the same tables.
//
// Every object keeps its full JSON in body, beside the columns that queries
// filter, order or enforce uniqueness on. Bodies are TEXT, as in SQLite,
// rather than JSONB: the store only ever reads them whole, TEXT keeps the
// bytes the SQLite store keeps (a copy between the two is a plain copy), and
// JSONB would refuse a string holding U+0000 that SQLite accepts. The one
// query that looks inside (channel bindings of served versions) casts to
// json. Times in columns are Unix milliseconds, as in SQLite, so that they
// sort as numbers; the RFC 3339 form lives in body.
var migrations = []migration{
	{
		name: "initial schema",
		stmts: []string{
			`CREATE TABLE revision (
				id    INTEGER PRIMARY KEY CHECK (id = 1),
				value BIGINT NOT NULL
			)`,
			`INSERT INTO revision (id, value) VALUES (1, 0)`,
			`CREATE TABLE meta (
				key   TEXT PRIMARY KEY,
				value TEXT NOT NULL
			)`,
			// name is NULL for an unnamed channel: NULLs never collide in a
			// UNIQUE column, so the constraint is "unique when given".
			//
			// seq orders lists: ids are random, so objects created in the
			// same millisecond would otherwise list in random order rather
			// than the order they were created in. Writes are serialized on
			// the revision row, so identity values follow commit order.
			`CREATE TABLE channels (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT UNIQUE,
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX channels_order ON channels (created_at, seq)`,
			// release_seq is the last version number handed out; it lives on
			// the service rather than being derived from releases so that a
			// number is never reused.
			`CREATE TABLE services (
				seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id          TEXT NOT NULL UNIQUE,
				name        TEXT NOT NULL UNIQUE,
				created_at  BIGINT NOT NULL,
				release_seq BIGINT NOT NULL DEFAULT 0,
				body        TEXT NOT NULL
			)`,
			`CREATE INDEX services_order ON services (created_at, seq)`,
			// One row per custom domain makes "a host belongs to one service"
			// a primary key instead of a scan of every service's body.
			`CREATE TABLE service_domains (
				host       TEXT PRIMARY KEY,
				service_id TEXT NOT NULL REFERENCES services (id)
			)`,
			`CREATE INDEX service_domains_service ON service_domains (service_id)`,
			// channel_id is set only for channel backends; the foreign key is
			// a backstop behind DeleteChannel's own check.
			`CREATE TABLE apis (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				service_id TEXT NOT NULL REFERENCES services (id),
				name       TEXT NOT NULL,
				channel_id TEXT REFERENCES channels (id),
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL,
				UNIQUE (service_id, name)
			)`,
			`CREATE INDEX apis_order ON apis (service_id, created_at, seq)`,
			`CREATE INDEX apis_channel ON apis (channel_id)`,
			// apis is the JSON array of the APIs as they were when published;
			// a release is never updated.
			`CREATE TABLE releases (
				service_id  TEXT NOT NULL REFERENCES services (id),
				version     TEXT NOT NULL,
				seq         BIGINT NOT NULL,
				environment TEXT NOT NULL,
				description TEXT NOT NULL,
				created_at  BIGINT NOT NULL,
				apis        TEXT NOT NULL,
				PRIMARY KEY (service_id, version),
				UNIQUE (service_id, seq)
			)`,
			`CREATE TABLE environments (
				service_id   TEXT NOT NULL REFERENCES services (id),
				environment  TEXT NOT NULL,
				version      TEXT NOT NULL,
				published_at BIGINT NOT NULL,
				PRIMARY KEY (service_id, environment),
				FOREIGN KEY (service_id, version) REFERENCES releases (service_id, version)
			)`,
			`CREATE INDEX environments_env ON environments (environment)`,
		},
	},
	{
		name: "plugins",
		stmts: []string{
			`CREATE TABLE plugins (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				type       TEXT NOT NULL,
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX plugins_order ON plugins (created_at, seq)`,
			// api_id is '' for a binding to the whole service; one row per
			// named API makes "one plugin of a type per target" a unique
			// key. binding_id groups the rows of one binding.
			`CREATE TABLE plugin_bindings (
				seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				binding_id  TEXT NOT NULL,
				plugin_id   TEXT NOT NULL REFERENCES plugins (id),
				type        TEXT NOT NULL,
				service_id  TEXT NOT NULL,
				environment TEXT NOT NULL,
				api_id      TEXT NOT NULL,
				created_at  BIGINT NOT NULL,
				UNIQUE (type, service_id, environment, api_id)
			)`,
			`CREATE INDEX plugin_bindings_plugin ON plugin_bindings (plugin_id, binding_id)`,
			`CREATE INDEX plugin_bindings_service ON plugin_bindings (service_id)`,
		},
	},
	{
		name: "key pairs and usage plans",
		stmts: []string{
			`CREATE TABLE keys (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				secret_id  TEXT NOT NULL UNIQUE,
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX keys_order ON keys (created_at, seq)`,
			`CREATE TABLE usage_plans (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX usage_plans_order ON usage_plans (created_at, seq)`,
			`CREATE TABLE plan_keys (
				seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				plan_id TEXT NOT NULL REFERENCES usage_plans (id),
				key_id  TEXT NOT NULL REFERENCES keys (id),
				UNIQUE (plan_id, key_id)
			)`,
			`CREATE INDEX plan_keys_key ON plan_keys (key_id)`,
			// As plugin_bindings: api_id '' is the whole service; one plan
			// per target.
			`CREATE TABLE plan_bindings (
				seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				binding_id  TEXT NOT NULL,
				plan_id     TEXT NOT NULL REFERENCES usage_plans (id),
				service_id  TEXT NOT NULL,
				environment TEXT NOT NULL,
				api_id      TEXT NOT NULL,
				created_at  BIGINT NOT NULL,
				UNIQUE (service_id, environment, api_id)
			)`,
			`CREATE INDEX plan_bindings_plan ON plan_bindings (plan_id, binding_id)`,
			`CREATE INDEX plan_bindings_service ON plan_bindings (service_id)`,
		},
	},
	{
		name: "applications",
		stmts: []string{
			`CREATE TABLE apps (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				app_key    TEXT NOT NULL UNIQUE,
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX apps_order ON apps (created_at, seq)`,
			`CREATE TABLE app_bindings (
				seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id          TEXT NOT NULL UNIQUE,
				app_id      TEXT NOT NULL REFERENCES apps (id),
				service_id  TEXT NOT NULL,
				api_id      TEXT NOT NULL,
				environment TEXT NOT NULL,
				created_at  BIGINT NOT NULL,
				body        TEXT NOT NULL,
				UNIQUE (app_id, api_id, environment)
			)`,
			`CREATE INDEX app_bindings_api ON app_bindings (service_id, api_id)`,
		},
	},
	{
		name: "certificates",
		stmts: []string{
			`CREATE TABLE certificates (
				seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				created_at BIGINT NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX certificates_order ON certificates (created_at, seq)`,
			// The certificate a custom domain names (NULL: chosen by the
			// host's name). The foreign key is a backstop behind
			// DeleteCertificate's own check.
			`ALTER TABLE service_domains ADD COLUMN certificate_id TEXT REFERENCES certificates (id)`,
			`CREATE INDEX service_domains_certificate ON service_domains (certificate_id)`,
		},
	},
	{
		name: "nodes",
		stmts: []string{
			// One row per gateway node, replaced by each of its heartbeats;
			// not configuration (no revision, never copied). Times are Unix
			// milliseconds by the server's clock (last_seen) or the node's
			// (started_at); stale is 0 or 1, as in SQLite.
			`CREATE TABLE nodes (
				id         TEXT PRIMARY KEY,
				hostname   TEXT NOT NULL,
				version    TEXT NOT NULL,
				proxy_addr TEXT NOT NULL,
				revision   BIGINT NOT NULL,
				stale      INTEGER NOT NULL,
				started_at BIGINT NOT NULL,
				last_seen  BIGINT NOT NULL
			)`,
		},
	},
	{
		name: "release history",
		stmts: []string{
			// One row per change of what a service serves in an
			// environment: a publish, a promotion, a rollback or an
			// unpublish, numbered per service. Rows are only ever added,
			// and go when their service does.
			`CREATE TABLE release_events (
				service_id       TEXT NOT NULL REFERENCES services (id),
				seq              BIGINT NOT NULL,
				action           TEXT NOT NULL,
				environment      TEXT NOT NULL,
				version          TEXT NOT NULL,
				previous_version TEXT NOT NULL,
				description      TEXT NOT NULL,
				created_at       BIGINT NOT NULL,
				PRIMARY KEY (service_id, seq)
			)`,
			// The publishes made before the history was kept are known
			// from the releases themselves; what they replaced is not.
			`INSERT INTO release_events (service_id, seq, action, environment, version, previous_version, description, created_at)
				SELECT service_id, seq, 'publish', environment, version, '', description, created_at FROM releases`,
		},
	},
}

// migrateTimeout bounds Open's migration when the caller's context has no
// deadline. It is longer than a call's: the migration may have to wait for
// another node that is migrating the same schema.
const migrateTimeout = 30 * time.Second

// migrateLockClass is the first key of the advisory lock that serializes
// migrations ("port"); the second is a hash of the schema's name, so that
// stores in different schemas of one database do not wait for each other.
const migrateLockClass int32 = 0x706f7274

// migrate brings the schema up to the newest version this binary knows.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return migrateTo(ctx, pool, schema, migrations)
}

// migrateTo applies the pending steps, and the version bump, in one
// transaction (PostgreSQL's DDL is transactional): a failure leaves the
// schema as it was. The transaction first takes a transaction-scoped
// advisory lock, so several nodes starting together on a new schema migrate
// it once: the others wait, then find it up to date. Reopening an
// up-to-date schema writes nothing.
func migrateTo(ctx context.Context, pool *pgxpool.Pool, schema string, steps []migration) error {
	fail := func(err error) error { return fmt.Errorf("postgres: migrate schema %s: %w", schema, err) }
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	limit := millis(migrateTimeout)
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $1, true)`, limit); err != nil {
		return fail(err)
	}
	// READ COMMITTED: the statements after the lock see what a node that
	// held it before committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, migrateLockClass, lockKey(schema)); err != nil {
		return fail(err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'schema_version')`,
		schema).Scan(&exists); err != nil {
		return fail(err)
	}
	if !exists {
		for _, q := range []string{
			`CREATE TABLE schema_version (
				id      INTEGER PRIMARY KEY CHECK (id = 1),
				version BIGINT NOT NULL
			)`,
			`INSERT INTO schema_version (id, version) VALUES (1, 0)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fail(err)
			}
		}
	}
	v, err := readSchemaVersion(ctx, tx, schema)
	if err != nil {
		return err
	}
	switch {
	case v < 0:
		return fmt.Errorf("postgres: schema %s has schema version %d, which no portico writes (versions count applied migrations from 0): the schema_version table is damaged; restore the database from a backup", schema, v)
	case v > len(steps):
		return fmt.Errorf("postgres: schema %s has schema version %d but this build of portico knows only up to %d: it was written by a newer portico; run that version or a newer one", schema, v, len(steps))
	case v == len(steps) && exists:
		return nil
	}
	for i := v; i < len(steps); i++ {
		for _, stmt := range steps[i].stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("postgres: migration %d (%s): %w", i+1, steps[i].name, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1 WHERE id = 1`, len(steps)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// readSchemaVersion reads the version row; a missing one is refused rather
// than taken for a new schema.
func readSchemaVersion(ctx context.Context, tx pgx.Tx, schema string) (int, error) {
	var v int64
	err := tx.QueryRow(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: the schema_version table of schema %s has no version row: the schema is damaged; restore the database from a backup", schema)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: read the schema version of schema %s: %w", schema, err)
	}
	if int64(int(v)) != v { // only on 32-bit platforms
		return 0, fmt.Errorf("postgres: schema %s has schema version %d, which no portico writes: the schema_version table is damaged; restore the database from a backup", schema, v)
	}
	return int(v), nil
}

// lockKey is the second key of the migration lock of schema.
func lockKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte(schema))
	return int32(h.Sum32())
}
