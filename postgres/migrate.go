package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema as numbered steps, NNNN_name.sql. A step is
// never edited once released: a change of schema is a new file. The steps
// are PostgreSQL's own and numbered apart from the SQLite store's.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrationName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

type migration struct {
	version int
	name    string
	sql     string
}

// embeddedMigrations returns the migrations built into the binary.
func embeddedMigrations() ([]migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return readMigrations(sub)
}

// readMigrations returns the migrations in fsys's root in version order.
func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("migration %q is not named NNNN_name.sql", e.Name())
		}
		version, err := strconv.Atoi(m[1])
		if err != nil || version < 1 {
			return nil, fmt.Errorf("migration %q has no valid version", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrationLock is the key of the advisory lock that migrations hold. Any
// key works that no other program on the same database uses; this one is
// "arena" in ASCII.
const migrationLock int64 = 0x6172656e61

// migrate applies the migrations the database has not seen yet, all in one
// transaction together with their rows in schema_migrations: PostgreSQL's
// DDL is transactional, so a failed step leaves the schema as it was.
//
// Several replicas of the control plane may start at once. The transaction
// first takes an advisory lock, so that they queue: without it two of them
// could both find a step missing and both apply it, or race to create
// schema_migrations itself. The lock is held until the transaction ends,
// and a replica that waited then finds the steps applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("waiting for the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		if len(applied) > 0 && len(ms) > 0 && slices.Max(applied) > ms[len(ms)-1].version {
			// An older binary must not write to a schema it does not know.
			return fmt.Errorf("database schema is at version %d, newer than this build's %d",
				slices.Max(applied), ms[len(ms)-1].version)
		}
		for _, m := range ms {
			if slices.Contains(applied, m.version) {
				continue
			}
			// Without arguments pgx sends the text as a simple query, which
			// may hold several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
				m.version, m.name); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
