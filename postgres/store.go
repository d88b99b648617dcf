// Package postgres implements arena.Store on a PostgreSQL database, for
// installations that run more than one control plane or want a database
// server of their own. It behaves as the sqlite package's store does: both
// pass the suite of storetest.
package postgres

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
)

var _ arena.Store = (*Store)(nil)

// Store is a arena.Store on a PostgreSQL database. It is safe for
// concurrent use, and several Stores, in one process or in several, may use
// the same database at once: unlike SQLite, PostgreSQL serialises
// conflicting writers itself, so the store needs no write queue of its own.
type Store struct {
	pool *pgxpool.Pool
	// lease is how long a leader's lease lasts (see leader.go).
	lease time.Duration
	// cur is the term the store writes under, its latest: nil for a store
	// that never led (no fencing); once it has ended, or its lease has run
	// out by this process's clock, the store writes nothing.
	cur atomic.Pointer[Term]
	// ahead moves the store's clock forward, for tests.
	ahead  atomic.Int64
	logger *slog.Logger
	// term, on a view made by Under, fences the view's writes with that
	// term alone; base is the store it is a view of.
	term *Term
	base *Store
	// groups gathers concurrent session writes into shared transactions
	// (see execGrouped); made once, on the base store.
	groupOnce sync.Once
	groups    *grouper
}

// Option configures Open.
type Option func(*options)

type options struct {
	lease time.Duration
}

// WithLease sets how long a leader's lease lasts from its last renewal,
// from MinLease to MaxLease; DefaultLease when not given. It bounds how
// long the replicas stay without a leader when the leader freezes or loses
// the database, and how quickly PostgreSQL gives up on a connection whose
// peer is gone (see tuneConnections). Replicas should share it.
func WithLease(d time.Duration) Option { return func(o *options) { o.lease = d } }

// DefaultMaxConns is the least number of connections the store's pool
// opens when the URL sets no pool_max_conns.
const DefaultMaxConns = 16

// SetLogger sets where the store reports trouble in the background, such
// as a failed campaign for the lead.
func (st *Store) SetLogger(l *slog.Logger) { st.logger = l }

// Open connects to the database at url, a postgres:// URL or a key=value
// connection string as pgx takes them, and brings its schema up to date. The
// tables live in the first schema of the connection's search_path (a
// search_path parameter of url sets it), so that one database can hold
// several installations. Parameters such as pool_max_conns size the pool;
// without it, it holds up to DefaultMaxConns or four per CPU, whichever is
// more.
//
// Every connection gets TCP keepalives and timeouts on both ends, and a
// bound on a session idle in a transaction, all derived from the lease
// (see tuneConnections); a parameter url sets itself is kept.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{lease: DefaultLease}
	for _, opt := range opts {
		opt(&o)
	}
	if o.lease < MinLease || o.lease > MaxLease {
		return nil, arena.Errorf(arena.EINVALID, "the leader's lease must be from %s to %s, not %s", MinLease, MaxLease, o.lease)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error of ParseConfig quotes the URL, whose password pgx
		// hides only as far as it can parse it: it is not passed on.
		return nil, arena.Errorf(arena.EINVALID, "the PostgreSQL connection string is invalid")
	}
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, arena.Internal(err, "reading the schema migrations")
	}
	tuneConnections(&cfg.ConnConfig.Config, o.lease)
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4, or one per CPU) leaves concurrent handlers
		// waiting for a connection while PostgreSQL idles: a write holds
		// one for a round trip, so a few per CPU keep it busy.
		cfg.MaxConns = int32(max(DefaultMaxConns, 4*runtime.GOMAXPROCS(0)))
	}
	st, err := open(ctx, cfg, ms)
	if err != nil {
		return nil, err
	}
	st.lease = o.lease
	return st, nil
}

func open(ctx context.Context, cfg *pgxpool.Config, ms []sqlstore.Migration) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, arena.Internal(err, "connecting to the database")
	}
	if err := migrate(ctx, pool, ms); err != nil {
		pool.Close()
		return nil, arena.Internal(err, "migrating the database schema")
	}
	return &Store{pool: pool, lease: DefaultLease}, nil
}

// Close closes the store's connections, waiting for the ones in use to be
// returned. It may be called more than once, and always returns nil: it
// returns an error at all so that the store is an io.Closer like the SQLite
// one.
func (st *Store) Close() error {
	if st.base != nil {
		return nil // a view's connections are its base's
	}
	st.pool.Close()
	return nil
}

// SQLSTATE codes, from PostgreSQL's errcodes.txt.
const (
	codeUniqueViolation = "23505"
	// codeFenced is arena_check_fence's: the write's epoch no longer leads.
	codeFenced              = "AR001"
	codeForeignKeyViolation = "23503"
	// A string that is not valid UTF-8, or holds a NUL, which a text column
	// cannot: PostgreSQL reports the one or the other code depending on
	// where it finds the character (the text itself, or an escape in JSON).
	codeCharacterNotInRepertoire = "22021"
	codeUntranslatableCharacter  = "22P05"
)

// sqlState returns the SQLSTATE of err if it is an error of the server, and "" otherwise.
func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// isDuplicate reports whether err is a violation of a primary key or a unique index.
func isDuplicate(err error) bool { return sqlState(err) == codeUniqueViolation }

// isMissingParent reports whether err is a foreign key violation: a row
// referred to an organisation or session that does not exist.
func isMissingParent(err error) bool { return sqlState(err) == codeForeignKeyViolation }

// isUnstorable reports whether err says a string held a character that
// PostgreSQL cannot store in text: a NUL, or bytes that are not UTF-8.
// SQLite stores any string, so there a write of one succeeds and a lookup by
// one finds nothing. Here a write fails with EINVALID, the caller's input
// being at fault, and a lookup still finds nothing: no row can hold the key.
func isUnstorable(err error) bool {
	c := sqlState(err)
	return c == codeCharacterNotInRepertoire || c == codeUntranslatableCharacter
}

// writeError classifies an error of a write that is neither a duplicate nor
// a missing parent: EINVALID for a string the database cannot hold, and
// EINTERNAL otherwise.
func writeError(err error, doing string) error {
	var ae *arena.Error
	if errors.As(err, &ae) {
		return err // already classified, e.g. a fenced write
	}
	if isUnstorable(err) {
		return &arena.Error{Code: arena.EINVALID, Message: "a value holds a NUL character or is not valid UTF-8", Err: err}
	}
	return arena.Internal(err, doing)
}

// isNoRows reports whether err says a query that returns one row found none.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// optional returns t for a nullable timestamptz column: NULL for the zero
// time. (pgx reads timestamptz values in the local zone: every time read is
// converted to UTC, the only zone the store hands out.)
func optional(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t.UTC(), Valid: !t.IsZero()}
}

// fromOptional is the inverse of optional.
func fromOptional(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
