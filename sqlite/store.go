// Package sqlite implements arena.Store on a single SQLite database file,
// using the pure-Go driver modernc.org/sqlite so that Arena stays one static
// binary.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
)

var _ arena.Store = (*Store)(nil)

const (
	// busyTimeout bounds how long a connection waits for a lock held by
	// another process. Within one process writers queue for the single write
	// connection instead, so it only matters when a second process opens the file.
	busyTimeout = 5 * time.Second

	// checkpointEvery is how often the WAL is copied back into the database
	// file, off the write path; see Store.checkpoints.
	checkpointEvery = 100 * time.Millisecond

	// autoCheckpointPages is the WAL size (in 4 KiB pages) at which the writer
	// checkpoints by itself: a backstop that bounds the WAL should the
	// background checkpoints fall behind.
	autoCheckpointPages = 10000
)

// Store is a arena.Store on one SQLite file. It is safe for concurrent use.
//
// SQLite admits one writer at a time, and a writer that finds the lock taken
// gets SQLITE_BUSY or sleeps in the busy handler, which ruins tail latency.
// So every write goes through a pool of exactly one connection, and
// concurrent writers queue for it in order, honouring their contexts, rather
// than contend for the lock. Reads use a pool of their own, which WAL lets
// run alongside the writer.
type Store struct {
	w *sql.DB
	r *sql.DB
	// writeTurn holds a token while a writer uses w. database/sql alone
	// would serialise writers on w's one connection too, but it hands a freed
	// connection to a random waiter, so that in a burst some writers wait far
	// longer than others; writeTurn serves them in the order they came.
	writeTurn chan struct{}
	// writes queues the writes that are committed in groups (see
	// grouped); closing stops their writer, which closes writesDone.
	writes     chan *groupedWrite
	queueing   sync.RWMutex
	closing    chan struct{}
	writesDone chan struct{}
	// groups and groupedWrites count the groups committed and their writes.
	groups, groupedWrites atomic.Int64
	// queued counts the writes queued, for tests to wait on.
	queued atomic.Int64

	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}
	closeOnce       sync.Once
	closeErr        error
}

// Open opens the database at path, creating it and its directory if needed,
// and brings its schema up to date. path must name a file: an in-memory
// database would not be shared between the read and write connections.
func Open(ctx context.Context, path string) (*Store, error) {
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, arena.Internal(err, "reading the schema migrations")
	}
	return open(ctx, path, ms)
}

func open(ctx context.Context, path string, ms []sqlstore.Migration) (*Store, error) {
	if path == "" || path == ":memory:" || strings.ContainsRune(path, '?') {
		return nil, arena.Errorf(arena.EINVALID, "database path %q must name a file without '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, arena.Internal(err, "creating the database directory")
	}
	// BEGIN IMMEDIATE takes the write lock up front, so that a write
	// transaction never fails halfway on a lock another process holds.
	w, err := sql.Open("sqlite", dsn(path, fmt.Sprintf("wal_autocheckpoint(%d)", autoCheckpointPages))+"&_txlock=immediate")
	if err != nil {
		return nil, arena.Internal(err, "opening the database")
	}
	w.SetMaxOpenConns(1)

	r, err := sql.Open("sqlite", dsn(path, "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, arena.Internal(err, "opening the database")
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	// The write connection is opened first: it switches the file to WAL
	// before any reader looks at it.
	if err := migrate(ctx, w, ms); err != nil {
		r.Close()
		w.Close()
		return nil, arena.Internal(err, "migrating the database schema")
	}
	bg, cancel := context.WithCancel(context.Background())
	st := &Store{w: w, r: r, writeTurn: make(chan struct{}, 1), stopCheckpoints: cancel, checkpointsDone: make(chan struct{}),
		writes: make(chan *groupedWrite, maxGroup), closing: make(chan struct{}), writesDone: make(chan struct{})}
	go st.checkpoints(bg)
	go st.groupWrites()
	return st, nil
}

// lockWrites waits for the turn of the caller to write, and returns the
// function that ends it.
func (st *Store) lockWrites(ctx context.Context) (unlock func(), err error) {
	select {
	case st.writeTurn <- struct{}{}: // blocked senders proceed first come, first served
		return func() { <-st.writeTurn }, nil
	case <-ctx.Done():
		return nil, arena.Internal(ctx.Err(), "waiting to write")
	}
}

// dsn returns the data source name of path with the pragmas every connection
// gets and then extra ones.
func dsn(path string, extra ...string) string {
	pragmas := append([]string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"foreign_keys(1)",
		"journal_mode(WAL)",
		// NORMAL in WAL mode syncs at checkpoints, not at every commit: a
		// power cut may lose the last commits but never corrupts the file.
		"synchronous(NORMAL)",
	}, extra...)
	return path + "?" + url.Values{"_pragma": pragmas}.Encode()
}

// checkpoints copies the WAL back into the database file every
// checkpointEvery until ctx ends.
//
// By default the writer does this itself whenever the WAL reaches 1000 pages,
// and the commit that triggers it waits for the copy and two fsyncs: a
// latency spike of milliseconds every second or so under load. A PASSIVE
// checkpoint from another connection does the same work alongside the writer
// without blocking it. A failed or partial checkpoint is simply retried at
// the next tick.
func (st *Store) checkpoints(ctx context.Context) {
	defer close(st.checkpointsDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = st.r.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// Close closes the database. It may be called more than once.
func (st *Store) Close() error {
	st.closeOnce.Do(func() {
		st.queueing.Lock()
		close(st.closing)
		st.queueing.Unlock()
		<-st.writesDone
		st.stopCheckpoints()
		<-st.checkpointsDone
		st.closeErr = errors.Join(st.r.Close(), st.w.Close())
	})
	return st.closeErr
}

// constraint returns the extended result code of err if it is a constraint
// violation, and 0 otherwise.
func constraint(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return e.Code()
	}
	return 0
}

// isDuplicate reports whether err is a violation of a primary key or a unique index.
func isDuplicate(err error) bool {
	c := constraint(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// isMissingParent reports whether err is a foreign key violation: a row
// referred to an organisation or session that does not exist.
func isMissingParent(err error) bool {
	return constraint(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
