package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// migration is one step of the schema's history. Steps are never edited once
// released: a database records how many it has applied, so a changed step
// would silently differ between old and new databases. Add a step instead.
type migration struct {
	name  string
	stmts []string
}

// migrations is the schema's history, oldest first; schema_version holds how
// many of them a database has applied.
//
// Every object keeps its full JSON in body, beside the columns that queries
// filter, order or enforce uniqueness on; the PostgreSQL store mirrors this
// with JSONB. Times in columns are Unix milliseconds so that they sort as
// numbers; the RFC 3339 form lives in body.
var migrations = []migration{
	{
		name: "initial schema",
		stmts: []string{
			`CREATE TABLE revision (
				id    INTEGER PRIMARY KEY CHECK (id = 1),
				value INTEGER NOT NULL
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
			// than the order they were created in. AUTOINCREMENT, because a
			// plain rowid may be reused after a delete and renumbered by
			// VACUUM.
			`CREATE TABLE channels (
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT UNIQUE,
				created_at INTEGER NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX channels_order ON channels (created_at, seq)`,
			// release_seq is the last version number handed out; it lives on
			// the service rather than being derived from releases so that a
			// number is never reused.
			`CREATE TABLE services (
				seq         INTEGER PRIMARY KEY AUTOINCREMENT,
				id          TEXT NOT NULL UNIQUE,
				name        TEXT NOT NULL UNIQUE,
				created_at  INTEGER NOT NULL,
				release_seq INTEGER NOT NULL DEFAULT 0,
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
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				service_id TEXT NOT NULL REFERENCES services (id),
				name       TEXT NOT NULL,
				channel_id TEXT REFERENCES channels (id),
				created_at INTEGER NOT NULL,
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
				seq         INTEGER NOT NULL,
				environment TEXT NOT NULL,
				description TEXT NOT NULL,
				created_at  INTEGER NOT NULL,
				apis        TEXT NOT NULL,
				PRIMARY KEY (service_id, version),
				UNIQUE (service_id, seq)
			)`,
			`CREATE TABLE environments (
				service_id   TEXT NOT NULL REFERENCES services (id),
				environment  TEXT NOT NULL,
				version      TEXT NOT NULL,
				published_at INTEGER NOT NULL,
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
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				type       TEXT NOT NULL,
				created_at INTEGER NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX plugins_order ON plugins (created_at, seq)`,
			// api_id is '' for a binding to the whole service; one row per
			// named API makes "one plugin of a type per target" a unique
			// key. binding_id groups the rows of one binding.
			`CREATE TABLE plugin_bindings (
				seq         INTEGER PRIMARY KEY AUTOINCREMENT,
				binding_id  TEXT NOT NULL,
				plugin_id   TEXT NOT NULL REFERENCES plugins (id),
				type        TEXT NOT NULL,
				service_id  TEXT NOT NULL,
				environment TEXT NOT NULL,
				api_id      TEXT NOT NULL,
				created_at  INTEGER NOT NULL,
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
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				secret_id  TEXT NOT NULL UNIQUE,
				created_at INTEGER NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX keys_order ON keys (created_at, seq)`,
			`CREATE TABLE usage_plans (
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				created_at INTEGER NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX usage_plans_order ON usage_plans (created_at, seq)`,
			`CREATE TABLE plan_keys (
				seq     INTEGER PRIMARY KEY AUTOINCREMENT,
				plan_id TEXT NOT NULL REFERENCES usage_plans (id),
				key_id  TEXT NOT NULL REFERENCES keys (id),
				UNIQUE (plan_id, key_id)
			)`,
			`CREATE INDEX plan_keys_key ON plan_keys (key_id)`,
			// As plugin_bindings: api_id '' is the whole service; one plan
			// per target.
			`CREATE TABLE plan_bindings (
				seq         INTEGER PRIMARY KEY AUTOINCREMENT,
				binding_id  TEXT NOT NULL,
				plan_id     TEXT NOT NULL REFERENCES usage_plans (id),
				service_id  TEXT NOT NULL,
				environment TEXT NOT NULL,
				api_id      TEXT NOT NULL,
				created_at  INTEGER NOT NULL,
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
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				app_key    TEXT NOT NULL UNIQUE,
				created_at INTEGER NOT NULL,
				body       TEXT NOT NULL
			)`,
			`CREATE INDEX apps_order ON apps (created_at, seq)`,
			`CREATE TABLE app_bindings (
				seq         INTEGER PRIMARY KEY AUTOINCREMENT,
				id          TEXT NOT NULL UNIQUE,
				app_id      TEXT NOT NULL REFERENCES apps (id),
				service_id  TEXT NOT NULL,
				api_id      TEXT NOT NULL,
				environment TEXT NOT NULL,
				created_at  INTEGER NOT NULL,
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
				seq        INTEGER PRIMARY KEY AUTOINCREMENT,
				id         TEXT NOT NULL UNIQUE,
				name       TEXT NOT NULL UNIQUE,
				created_at INTEGER NOT NULL,
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
			// milliseconds by the store's clock (last_seen) or the node's
			// (started_at); stale is 0 or 1.
			`CREATE TABLE nodes (
				id         TEXT PRIMARY KEY,
				hostname   TEXT NOT NULL,
				version    TEXT NOT NULL,
				proxy_addr TEXT NOT NULL,
				revision   INTEGER NOT NULL,
				stale      INTEGER NOT NULL,
				started_at INTEGER NOT NULL,
				last_seen  INTEGER NOT NULL
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
				seq              INTEGER NOT NULL,
				action           TEXT NOT NULL,
				environment      TEXT NOT NULL,
				version          TEXT NOT NULL,
				previous_version TEXT NOT NULL,
				description      TEXT NOT NULL,
				created_at       INTEGER NOT NULL,
				PRIMARY KEY (service_id, seq)
			)`,
			// The publishes made before the history was kept are known
			// from the releases themselves; what they replaced is not.
			`INSERT INTO release_events (service_id, seq, action, environment, version, previous_version, description, created_at)
				SELECT service_id, seq, 'publish', environment, version, '', description, created_at FROM releases`,
		},
	},
}

// migrate brings the database up to the newest schema this binary knows. Each
// step runs in its own transaction together with the version bump, so a
// crash leaves the database at a step boundary and the next Open resumes.
func migrate(ctx context.Context, db *sql.DB) error {
	return migrateTo(ctx, db, migrations)
}

func migrateTo(ctx context.Context, db *sql.DB, steps []migration) error {
	if err := ensureVersionTable(ctx, db); err != nil {
		return err
	}
	for {
		done, err := migrateStep(ctx, db, steps)
		if err != nil || done {
			return err
		}
	}
}

// ensureVersionTable creates schema_version on a new database. On an existing
// one it only reads, so that reopening an up-to-date database writes nothing.
func ensureVersionTable(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("sqlite: read schema: %w", err)
	}
	if n > 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create schema_version: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, 0)`); err != nil {
		return fmt.Errorf("sqlite: create schema_version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create schema_version: %w", err)
	}
	return nil
}

// migrateStep applies the next pending step, if any. Reading the version
// inside the write transaction makes two processes opening the same new
// database at once apply each step exactly once.
func migrateStep(ctx context.Context, db *sql.DB, steps []migration) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	v, err := readSchemaVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	switch {
	case v < 0:
		return false, fmt.Errorf("sqlite: the database has schema version %d, which no portico writes (versions count applied migrations from 0): the schema_version table is damaged; restore the database from a backup", v)
	case v > len(steps):
		return false, fmt.Errorf("sqlite: the database has schema version %d but this build of portico knows only up to %d: it was written by a newer portico; run that version or a newer one", v, len(steps))
	case v == len(steps):
		return true, nil
	}
	step := steps[v]
	for _, stmt := range step.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("sqlite: migration %d (%s): %w", v+1, step.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ? WHERE id = 1`, v+1); err != nil {
		return false, fmt.Errorf("sqlite: migration %d (%s): %w", v+1, step.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migration %d (%s): %w", v+1, step.name, err)
	}
	return v+1 == len(steps), nil
}

// readSchemaVersion reads the version row. SQLite keeps whatever a hand
// edit or a damaged file puts in a column, so anything but one integer row
// is refused, naming what was found, rather than misread.
func readSchemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var raw any
	err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("sqlite: the schema_version table has no version row: the database is damaged; restore it from a backup")
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	v, ok := raw.(int64)
	if !ok {
		return 0, fmt.Errorf("sqlite: the database has schema version %s, not an integer: the schema_version table is damaged; restore the database from a backup", describeValue(raw))
	}
	if int64(int(v)) != v { // only on 32-bit platforms
		return 0, fmt.Errorf("sqlite: the database has schema version %d, which no portico writes: the schema_version table is damaged; restore the database from a backup", v)
	}
	return int(v), nil
}

// describeValue shows a value read from SQLite in an error message.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return strconv.Quote(x)
	case []byte:
		return fmt.Sprintf("X'%X' (a blob)", x)
	}
	return fmt.Sprint(v)
}
