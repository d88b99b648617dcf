package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/arena-hq/arena"
)

// maxGroup bounds how many writes one transaction gathers, so that one
// commit's latency stays that of a few dozen rows.
const maxGroup = 128

// execer runs statements: the write connection itself, or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// groupedWrite is one caller's write, run in the transaction of its group.
type groupedWrite struct {
	ctx context.Context
	fn  func(ctx context.Context, ex execer) error
	// single marks a write of one statement, which needs no transaction
	// of its own when it is alone: its statement is one.
	single bool
	done   chan error
}

// errUndo, returned by a grouped write, undoes what it wrote and answers
// its caller nil: a write that finds nothing to do after all.
var errUndo = errors.New("undo this write")

// grouped runs fn in a transaction with the writes of whoever else is
// waiting to write, and returns once that transaction committed (or fn
// failed: then its writes alone are undone). Writers wait for each other
// only for as long as the commit before theirs takes: an idle store runs a
// write at once, as a group of one, and a busy one commits many for the
// price of one, which is what a commit in WAL mode costs (the pages it
// changed, written to the WAL, once per group).
//
// fn must do nothing but its statements: it may run a second time, alone,
// when the group it was in failed to commit.
func (st *Store) grouped(ctx context.Context, fn func(ctx context.Context, ex execer) error) error {
	return st.queue(&groupedWrite{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// groupedStatement is grouped for a write of one statement.
func (st *Store) groupedStatement(ctx context.Context, fn func(ctx context.Context, ex execer) error) error {
	return st.queue(&groupedWrite{ctx: ctx, fn: fn, single: true, done: make(chan error, 1)})
}

func (st *Store) queue(w *groupedWrite) error {
	ctx := w.ctx
	// Close waits for writes being queued, so that none is queued after
	// the writer's last look.
	st.queueing.RLock()
	select {
	case <-st.closing:
		st.queueing.RUnlock()
		return arena.Errorf(arena.EUNAVAILABLE, "the store is closed")
	default:
	}
	select {
	case st.writes <- w:
		st.queueing.RUnlock()
		st.queued.Add(1)
	case <-ctx.Done():
		st.queueing.RUnlock()
		return arena.Internal(ctx.Err(), "waiting to write")
	}
	// Once queued, the write is answered whatever the caller's context
	// does: a caller must not be told it failed when it committed.
	return <-w.done
}

// groupWrites gathers the queued writes into groups and commits each,
// until the store closes; writes queued then are answered unavailable.
func (st *Store) groupWrites() {
	defer close(st.writesDone)
	for {
		var first *groupedWrite
		select {
		case first = <-st.writes:
		case <-st.closing:
			for {
				select {
				case w := <-st.writes:
					w.done <- arena.Errorf(arena.EUNAVAILABLE, "the store is closed")
				default:
					return
				}
			}
		}
		// The turn is the other writers' (lockWrites) too; the writes that
		// queue while it is taken join this group.
		st.writeTurn <- struct{}{}
		group := []*groupedWrite{first}
	gather:
		for len(group) < maxGroup {
			select {
			case w := <-st.writes:
				group = append(group, w)
			default:
				break gather
			}
		}
		st.commitGroup(group)
		<-st.writeTurn
	}
}

// commitGroup runs group in one transaction, each write within a
// savepoint of its own so that one that fails is undone alone, and
// answers every write once the transaction is committed. When the commit
// itself fails, each write that had succeeded is run again alone, so that
// no write fails for its neighbours.
func (st *Store) commitGroup(group []*groupedWrite) {
	results := make([]error, len(group))
	if err := st.runGroup(group, results); err != nil {
		if len(group) == 1 {
			results[0] = err
		} else {
			for i := range group {
				if results[i] == nil {
					if err := st.runGroup(group[i:i+1], results[i:i+1]); err != nil {
						results[i] = err
					}
				}
			}
		}
	}
	st.groups.Add(1)
	st.groupedWrites.Add(int64(len(group)))
	for i, w := range group {
		w.done <- results[i]
	}
}

// groupStats is what the grouped writes came to: how many commits took how
// many writes.
type groupStats struct {
	Commits, Writes int64
}

// writeStats returns the store's grouped writes so far, for tests.
func (st *Store) writeStats() groupStats {
	return groupStats{Commits: st.groups.Load(), Writes: st.groupedWrites.Load()}
}

// runGroup runs group's writes in one transaction, setting each result; it
// returns the error of the transaction as a whole (begin or commit), for
// which results tell nothing.
func (st *Store) runGroup(group []*groupedWrite, results []error) error {
	if len(group) == 1 && group[0].single {
		w := group[0]
		if err := w.ctx.Err(); err != nil {
			results[0] = arena.Internal(err, "waiting to write")
			return nil
		}
		results[0] = call(w, st.w)
		return nil
	}
	// The transaction is not the callers': one leaving must not roll back
	// the others' writes. Each statement runs under its write's context.
	tx, err := st.w.BeginTx(context.Background(), nil)
	if err != nil {
		return arena.Internal(err, "beginning a write")
	}
	defer tx.Rollback()
	savepoints := len(group) > 1
	for i, w := range group {
		if err := w.ctx.Err(); err != nil {
			results[i] = arena.Internal(err, "waiting to write")
			continue
		}
		if savepoints {
			if _, err := tx.Exec(`SAVEPOINT write`); err != nil {
				return arena.Internal(err, "beginning a write")
			}
		}
		err := call(w, tx)
		undo := errors.Is(err, errUndo)
		if undo {
			err = nil
		}
		results[i] = err
		switch {
		case (err != nil || undo) && savepoints:
			if _, rerr := tx.Exec(`ROLLBACK TO write`); rerr != nil {
				return arena.Internal(rerr, "undoing a write")
			}
		case err != nil || undo:
			return nil // a group of one: the deferred rollback undoes it
		}
		if savepoints {
			if _, err := tx.Exec(`RELEASE write`); err != nil {
				return arena.Internal(err, "ending a write")
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return arena.Internal(err, "committing")
	}
	return nil
}

// call runs w's statements on ex. A panic fails w alone: the writer goes
// on, or every write after it would wait forever.
func call(w *groupedWrite, ex execer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = arena.Internal(fmt.Errorf("panic: %v", r), "writing")
		}
	}()
	return w.fn(w.ctx, ex)
}
