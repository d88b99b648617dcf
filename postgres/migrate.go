package postgres

import (
	"context"
	"embed"
	"fmt"
	"slices"

	"github.com/arena-hq/arena/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema as numbered steps, NNNN_name.sql. A step is
// never edited once released: a change of schema is a new file. The steps
// are PostgreSQL's own and numbered apart from the SQLite store's.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// embeddedMigrations returns the migrations built into the binary.
func embeddedMigrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFiles, "migrations")
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
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []sqlstore.Migration) error {
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
		if len(applied) > 0 {
			if err := sqlstore.CheckNotNewer(slices.Max(applied), ms); err != nil {
				return err
			}
		}
		for _, m := range ms {
			if slices.Contains(applied, m.Version) {
				continue
			}
			// Without arguments pgx sends the text as a simple query, which
			// may hold several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
				m.Version, m.Name); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
