package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arena-hq/arena"
)

// maxGroup bounds the writes of one transaction; maxGroupsInFlight how
// many transactions of grouped writes run at once, each on a connection
// of its own.
const (
	maxGroup          = 64
	maxGroupsInFlight = 2
)

// groupTimeout bounds a group's transaction, which no caller's context
// does.
const groupTimeout = 30 * time.Second

// pgWrite is one caller's statement, run in the transaction of its group.
type pgWrite struct {
	ctx   context.Context
	epoch int64
	sql   string
	args  []any
	tag   pgconn.CommandTag
	err   error
	done  chan struct{}
}

// grouper gathers the statements written at once into shared
// transactions: one pipeline of BEGIN, the fence, the statements and
// COMMIT, which costs a round trip and a commit for all of them. A write
// that finds a transaction slot free starts one at once, so an idle store
// adds no wait; under load, what queues while the slots are busy shares
// the next transaction.
type grouper struct {
	st       *Store
	mu       sync.Mutex
	pending  []*pgWrite
	inFlight int
	// commits and writes count the transactions of more than one write
	// that committed, and their writes.
	commits, writes atomic.Int64
}

// execGrouped is exec, its statement run in a transaction with those of
// whoever else writes at the same moment. A statement that fails there
// makes the whole transaction fail; then each of its statements is run
// again alone, so that every caller gets its own statement's result.
func (st *Store) execGrouped(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	epoch, err := st.fenceEpoch()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	g := st.grouper()
	w := &pgWrite{ctx: ctx, epoch: epoch, sql: sql, args: args, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.inFlight < maxGroupsInFlight {
		g.inFlight++
		go g.flush()
	}
	g.mu.Unlock()
	// Once queued, the write is answered whatever the caller's context
	// does: a caller must not be told it failed when it committed.
	<-w.done
	return w.tag, w.err
}

// grouper returns the grouper of the store's pool, a view's its base's.
func (st *Store) grouper() *grouper {
	base := st
	if st.base != nil {
		base = st.base
	}
	base.groupOnce.Do(func() { base.groups = &grouper{st: base} })
	return base.groups
}

// flush commits groups until none is pending.
func (g *grouper) flush() {
	for {
		g.mu.Lock()
		group := g.take()
		if len(group) == 0 {
			g.inFlight--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(group)
		for _, w := range group {
			close(w.done)
		}
	}
}

// take removes from pending the next group: writes of the first's epoch,
// in the order they came. g.mu is held.
func (g *grouper) take() []*pgWrite {
	if len(g.pending) == 0 {
		return nil
	}
	epoch := g.pending[0].epoch
	var group, rest []*pgWrite
	for _, w := range g.pending {
		if w.epoch == epoch && len(group) < maxGroup {
			group = append(group, w)
		} else {
			rest = append(rest, w)
		}
	}
	g.pending = rest
	return group
}

// commit runs group in one transaction and sets each write's result.
func (g *grouper) commit(group []*pgWrite) {
	live := group[:0:0]
	for _, w := range group {
		if err := w.ctx.Err(); err != nil {
			w.err = arena.Internal(err, "waiting to write")
			continue
		}
		live = append(live, w)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		w := live[0]
		w.tag, w.err = g.st.execAt(w.ctx, w.epoch, w.sql, w.args...)
		return
	}
	err := g.commitTogether(live)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
	case errors.Is(err, errNotLeading):
		for _, w := range live {
			w.err = err
		}
	case errors.As(err, &pgErr), errors.Is(err, errRolledBack):
		// PostgreSQL refused a statement, or the commit, so the
		// transaction is undone: each write alone, for its own answer.
		for _, w := range live {
			w.tag, w.err = g.st.execAt(w.ctx, w.epoch, w.sql, w.args...)
		}
	default:
		// The connection broke: the transaction may have committed or
		// not, as a single write's may, and running the writes again
		// could make a committed create a conflict. Each is told.
		for _, w := range live {
			w.err = arena.Internal(err, "writing")
		}
	}
}

// commitTogether runs group as one pipeline and sets each write's tag
// once the transaction committed.
func (g *grouper) commitTogether(group []*pgWrite) error {
	// The transaction is not one caller's: one leaving must not roll back
	// the others' writes. It has a deadline of its own instead.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	stmts := make([]statement, len(group))
	for i, w := range group {
		stmts[i] = statement{sql: w.sql, args: w.args}
	}
	tags, err := g.st.pipeline(ctx, group[0].epoch, stmts)
	if err != nil {
		return err
	}
	for i, w := range group {
		w.tag = tags[i]
	}
	g.commits.Add(1)
	g.writes.Add(int64(len(group)))
	return nil
}
