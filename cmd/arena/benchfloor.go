package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the floor's own SQLite connection

	"github.com/arena-hq/arena/postgres"
)

// storeFloor is the ceiling a store itself sets on Arena's creates: a
// loop of minimal single-row write transactions, with the fence Arena's
// writes carry where it has one, on the same connection settings, at a
// given concurrency. A create of Arena is two such writes (the session,
// then the agent's report that it runs), so a ratio near 0.5 is a create
// costing the two and no more; group commit is what may go past it.
type storeFloor interface {
	// run returns the transactions committed a second with c writers for d.
	run(ctx context.Context, c int, d time.Duration) (float64, error)
	Close()
}

// floorLoop runs op from c writers for d, counting the successes.
func floorLoop(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, id string) error) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n       atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := op(ctx, fmt.Sprintf("%d-%d-%d", start.UnixNano(), w, i)); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { first = err })
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), first
}

// floorDoc is the size of a session's document.
var floorDoc = `{"doc":"` + strings.Repeat("x", 1500) + `"}`

// pgFloor is PostgreSQL's floor: BEGIN, the fence's share lock, one
// insert, COMMIT, sent as one pipeline as Arena's fenced writes are, in a
// schema of the run's own.
type pgFloor struct {
	pool   *pgxpool.Pool
	schema string
}

func newPGFloor(ctx context.Context, storeURL string) (*pgFloor, error) {
	cfg, err := pgxpool.ParseConfig(storeURL)
	if err != nil {
		return nil, fmt.Errorf("the store URL: %w", err)
	}
	if !strings.Contains(storeURL, "pool_max_conns") {
		cfg.MaxConns = postgres.DefaultMaxConns
	}
	schema := fmt.Sprintf("arena_floor_%d", time.Now().UnixNano())
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	f := &pgFloor{schema: schema}
	if f.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, err
	}
	for _, q := range []string{
		`CREATE SCHEMA ` + schema,
		`CREATE TABLE ` + schema + `.fence (id int PRIMARY KEY, epoch bigint NOT NULL)`,
		`INSERT INTO ` + schema + `.fence VALUES (1, 1)`,
		`CREATE TABLE ` + schema + `.writes (id text PRIMARY KEY, doc jsonb NOT NULL)`,
	} {
		if _, err := f.pool.Exec(ctx, q); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func (f *pgFloor) run(ctx context.Context, c int, d time.Duration) (float64, error) {
	return floorLoop(ctx, c, d, func(ctx context.Context, id string) error {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(`SELECT epoch FROM fence WHERE id = 1 FOR SHARE`)
		b.Queue(`INSERT INTO writes (id, doc) VALUES ($1, $2)`, id, floorDoc)
		b.Queue(`COMMIT`)
		return f.pool.SendBatch(ctx, b).Close()
	})
}

func (f *pgFloor) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = f.pool.Exec(ctx, `DROP SCHEMA `+f.schema+` CASCADE`)
	f.pool.Close()
}

// sqliteFloor is SQLite's floor: one insert a transaction on a WAL
// database with the store's settings, through its one write connection.
type sqliteFloor struct {
	db  *sql.DB
	dir string
}

func newSQLiteFloor() (*sqliteFloor, error) {
	dir, err := os.MkdirTemp("", "arena-floor-")
	if err != nil {
		return nil, err
	}
	pragmas := url.Values{"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)"}}
	db, err := sql.Open("sqlite", filepath.Join(dir, "floor.db")+"?"+pragmas.Encode())
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE writes (id TEXT PRIMARY KEY, doc TEXT NOT NULL) STRICT`); err != nil {
		db.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &sqliteFloor{db: db, dir: dir}, nil
}

func (f *sqliteFloor) run(ctx context.Context, c int, d time.Duration) (float64, error) {
	return floorLoop(ctx, c, d, func(ctx context.Context, id string) error {
		_, err := f.db.ExecContext(ctx, `INSERT INTO writes (id, doc) VALUES (?, ?)`, id, floorDoc)
		return err
	})
}

func (f *sqliteFloor) Close() {
	f.db.Close()
	os.RemoveAll(f.dir)
}
