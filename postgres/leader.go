package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arena-hq/arena"
)

// Leadership
//
// One replica leads at a time, by a lease: the arena_lease row names the
// term that holds it (its epoch), the holder's lease connection (its
// pg_backend_pid and backend_start) and when the lease expires, by the
// database's clock. The holder renews it every lease/3 on a connection of
// its own (now() + lease). Another replica takes the lead when
//
//   - the lease has expired, by the database's clock (the holder froze, or
//     lost the database), or
//   - the holder's lease connection is gone from pg_stat_activity (the
//     holder's process died: its kernel closed the connection, and
//     PostgreSQL ended the session), so that a crash fails over within one
//     campaign poll rather than a lease. A connection that merely looks
//     alive (a pid reused, a session PostgreSQL has not yet ended) only makes
//     the candidate wait for the expiry, which is safe.
//
// Taking the lead is one transaction on the candidate's lease connection:
// it locks the lease row, checks the above again, gives the lease to a new
// epoch and writes that epoch into arena_leader. That UPDATE waits for the
// writes in flight under the old epoch, which hold arena_leader's row in
// share mode (see checkFence), so the new leader reads the state only after
// them; lock_timeout bounds the wait, so that a candidate never hangs on a
// frozen leader's transaction, and tries again at its next poll, by which
// time idle_in_transaction_session_timeout (see tuneConnections) has ended
// that transaction.
//
// The holder judges its own lease by its monotonic clock only, never by
// comparing clocks: it is valid until the send time of its last successful
// renewal plus the lease, less a margin (lease/6). The database computed
// the expiry from its own clock when the renewal arrived, which is after it
// was sent, so the holder's deadline always falls before the database's
// expiry. A holder that cannot renew before its deadline ends its term
// (Lost); and every fenced write checks that deadline first, a cheap atomic
// load, so that a process waking from a pause (SIGSTOP, a long GC pause, a
// stalled VM) writes nothing even before its watch notices. Should a write
// slip past that check and its process then stall, the epoch fence in the
// database refuses it once a new leader has taken over.
//
// Time from a fault to a new leader, with lease L and a campaign poll of
// L/6 (both at most):
//
//   - the leader's process dies: the poll, L/6, plus the takeover;
//   - the leader freezes or loses the database: its lease expires at most L
//     after it was last renewed, then the poll: L + L/6.
//
// Replicas of an earlier version lead by the advisory lock legacyLeaderLock
// alone. Migration 0008 makes arena_leader's epoch follow the lease (a
// trigger refuses any other change of it), so that such a replica can no
// longer take the lead from a lease's holder, and new replicas do not take
// the lease while an old replica holds that lock. The lease's holder takes
// that lock too, so that old replicas see the lead taken and keep
// following. During a rolling upgrade, then: an old leader keeps leading
// until it stops, and a new replica takes over from it as from any crashed
// leader; old replicas that restart refuse the newer schema, as always.

// Limits and default of the lease's duration.
const (
	DefaultLease = 3 * time.Second
	MinLease     = time.Second
	MaxLease     = time.Minute
)

// legacyLeaderLock is the advisory lock replicas before schema version 8
// lead by, on a connection of their own, with the schema's hash as its
// second key.
const legacyLeaderLock = 0x61726e61 // "arna"

// clockBase anchors the store's monotonic clock: durations since it are
// measured on the monotonic clock, which no change of the wall clock moves.
var clockBase = time.Now()

// mono is the store's monotonic clock.
func (st *Store) mono() time.Duration {
	if st.base != nil {
		return st.base.mono()
	}
	return time.Since(clockBase) + time.Duration(st.ahead.Load())
}

// Under returns a view of the store whose writes are fenced with term t
// alone: from the moment t ends, or its lease runs out by this process's
// clock, they fail, even once this process leads again under a later term.
// A control plane is given the view of its own term, so that one that is
// closing (a request handler or a timer still running) cannot write under
// its successor's epoch from what it alone believes. Closing a view closes
// nothing: the store's connections are the base's.
func (st *Store) Under(t *Term) *Store {
	base := st
	if st.base != nil {
		base = st.base
	}
	return &Store{pool: base.pool, lease: base.lease, logger: base.logger, term: t, base: base}
}

// Lease is how long a leader's lease lasts from a renewal.
func (st *Store) Lease() time.Duration { return st.lease }

// margin is how long before its lease ends a leader stops acting.
func (st *Store) margin() time.Duration { return st.lease / 6 }

// renewEvery is how often a leader renews its lease: a renewal or two may
// fail before it has to step down.
func (st *Store) renewEvery() time.Duration { return st.lease / 3 }

// pollEvery is how often a candidate looks whether it may take the lead.
func (st *Store) pollEvery() time.Duration {
	return min(max(st.lease/6, 100*time.Millisecond), time.Second)
}

// lockTimeout bounds how long a takeover waits for the previous leader's
// writes in flight.
func (st *Store) lockTimeout() time.Duration { return max(st.lease/3, 100*time.Millisecond) }

// Term is one control plane's time as leader. It ends when Resign is
// called, when the lease cannot be renewed in time, or when another
// replica has taken it over; Lost tells, Err says why.
type Term struct {
	// Epoch numbers the term: every new leader's is greater.
	Epoch int64

	st   *Store
	conn *pgx.Conn
	// validUntil is when the term stops acting, on the store's monotonic clock.
	validUntil atomic.Int64
	lost       chan struct{}
	once       sync.Once
	err        error
	cancel     context.CancelFunc
	done       chan struct{}
}

// Lost is closed when the term has ended.
func (t *Term) Lost() <-chan struct{} { return t.lost }

// Err says why the term ended, once Lost is closed; nil before, or when it
// was resigned.
func (t *Term) Err() error {
	select {
	case <-t.lost:
		return t.err
	default:
		return nil
	}
}

// Valid reports whether the term still acts: it has not ended and its
// lease, by this process's clock, has not run out.
func (t *Term) Valid() bool {
	select {
	case <-t.lost:
		return false
	default:
		return t.st.mono() < time.Duration(t.validUntil.Load())
	}
}

// Resign ends the term and gives the lease up, so that another replica
// takes over at its next poll.
func (t *Term) Resign() {
	t.cancel()
	<-t.done
}

// ErrNotLeader is TryLead's answer while another replica leads.
var ErrNotLeader = errors.New("another replica leads")

// Campaign waits until this replica leads and returns its term; url is the
// address other replicas forward requests to. It looks every lease/6 (at
// most a second). From then on the store's writes are fenced with the
// term's epoch and its lease: once the lease has run out, or another
// replica has taken over, they fail with EUNAVAILABLE instead of
// overwriting what the new leader does.
func (st *Store) Campaign(ctx context.Context, url string) (*Term, error) {
	c := &candidate{st: st, url: url}
	defer c.close()
	for {
		t, err := c.try(ctx)
		if t != nil {
			return t, nil // the caller owns the term, even as ctx ends
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil && !errors.Is(err, ErrNotLeader) {
			st.log(ctx, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(st.pollEvery()):
		}
	}
}

// TryLead takes the lead if no replica holds it, once: it returns the term,
// ErrNotLeader, or why the database could not be asked.
func (st *Store) TryLead(ctx context.Context, url string) (*Term, error) {
	c := &candidate{st: st, url: url}
	defer c.close()
	return c.try(ctx)
}

func (st *Store) log(ctx context.Context, err error) {
	if st.logger != nil {
		st.logger.WarnContext(ctx, "campaigning for the lead", "err", err)
	}
}

// candidate is a replica that campaigns, with the connection its lease
// would be held on: the takeover records that connection as the holder's.
type candidate struct {
	st   *Store
	url  string
	conn *pgx.Conn
}

// close closes the candidate's connection unless a term took it.
func (c *candidate) close() {
	if c.conn != nil {
		c.conn.Close(context.Background())
		c.conn = nil
	}
}

// leaseFree is true when the lease may be taken: it has expired, or its
// holder's connection is gone, and no replica of an earlier version holds
// the advisory lock it led by. That lock counts only until a replica of this
// version has first held the lease (backend_pid is 0 until then): from
// then on the holders take it too, and one frozen after losing its lease
// would keep it, and every later takeover waiting, for as long as it stays
// frozen; while old replicas cannot lead any more anyway. Neither pg_stat_activity nor pg_locks is
// looked at while the lease is held and its holder's connection alive.
const leaseFree = `CASE
	WHEN s.expires_at > now() AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.backend_pid
		AND (a.backend_start IS NULL OR s.backend_start IS NULL OR a.backend_start = s.backend_start)) THEN false
	ELSE s.backend_pid <> 0 OR NOT ` + legacyLockHeld + `
	END`

// legacyLockHeld is true while a session holds the advisory lock an
// earlier version led by ($1 is legacyLeaderLock).
const legacyLockHeld = `EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.classid = $1
	AND k.objid = (hashtext(current_schema())::bigint & 4294967295)::oid AND k.objsubid = 2 AND k.granted)`

// try takes the lead if it is free, once.
func (c *candidate) try(ctx context.Context) (*Term, error) {
	st := c.st
	if c.conn == nil || c.conn.IsClosed() {
		c.close()
		conn, err := pgx.ConnectConfig(ctx, st.pool.Config().ConnConfig.Copy())
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	// A look first, without locks, so that candidates polling never hold
	// up the holder's renewals.
	lctx, cancel := context.WithTimeout(ctx, st.lease)
	defer cancel()
	var free bool
	if err := c.conn.QueryRow(lctx, `SELECT `+leaseFree+` FROM arena_lease s WHERE s.id = 1`, int32(legacyLeaderLock)).Scan(&free); err != nil {
		return nil, err
	}
	if !free {
		return nil, ErrNotLeader
	}
	// now() in the transaction is no earlier than this: the lease, by the
	// database's clock, ends no earlier than the term's own deadline.
	sent := st.mono()
	epoch, err := c.takeOver(lctx)
	if err != nil {
		return nil, err
	}
	// Old replicas, which lead by this lock alone, see the lead taken.
	// Nothing depends on getting it: the lock may still be held by a
	// previous holder's session that PostgreSQL has not yet ended.
	_, _ = c.conn.Exec(lctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema()))`, int32(legacyLeaderLock))

	wctx, wcancel := context.WithCancel(context.Background())
	t := &Term{Epoch: epoch, st: st, conn: c.conn, lost: make(chan struct{}), cancel: wcancel, done: make(chan struct{})}
	c.conn = nil // the term's now
	t.validUntil.Store(int64(sent + st.lease - st.margin()))
	st.cur.Store(t)
	go t.watch(wctx)
	return t, nil
}

// codeLockNotAvailable is the SQLSTATE of a lock_timeout.
const codeLockNotAvailable = "55P03"

// takeOver gives the lease to a new epoch in one transaction, if it is
// still free once its row is locked, and returns the epoch.
func (c *candidate) takeOver(ctx context.Context) (int64, error) {
	st := c.st
	var epoch int64
	err := pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, st.lockTimeout().Milliseconds())); err != nil {
			return err
		}
		var free bool
		if err := tx.QueryRow(ctx, `SELECT `+leaseFree+` FROM arena_lease s WHERE s.id = 1 FOR UPDATE OF s`, int32(legacyLeaderLock)).Scan(&free); err != nil {
			return err
		}
		if !free {
			return ErrNotLeader
		}
		if err := tx.QueryRow(ctx, `UPDATE arena_lease SET epoch = (SELECT epoch FROM arena_leader WHERE id = 1) + 1,
			holder = $1, backend_pid = pg_backend_pid(),
			backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),
			expires_at = now() + $2 * interval '1 millisecond'
			WHERE id = 1 RETURNING epoch`, c.url, st.lease.Milliseconds()).Scan(&epoch); err != nil {
			return err
		}
		// Waits for the writes in flight under the old epoch.
		_, err := tx.Exec(ctx, `UPDATE arena_leader SET epoch = $1, url = $2, since = now() WHERE id = 1`, epoch, c.url)
		return err
	})
	if sqlState(err) == codeLockNotAvailable {
		return 0, fmt.Errorf("the previous leader's writes still hold its epoch; trying again: %w", err)
	}
	return epoch, err
}

// Errors a term ends with.
var (
	errLeaseLapsed = errors.New("the lease could not be renewed in time")
	errTakenOver   = errors.New("the lease was taken over, or had expired in the database")
)

// watch renews the lease every lease/3 until the term is resigned, a
// renewal finds the lease taken, or the term's deadline passes without a
// renewal: then the term ends and the store stops writing under it.
func (t *Term) watch(ctx context.Context) {
	defer close(t.done)
	st := t.st
	renew := time.NewTicker(st.renewEvery())
	defer renew.Stop()
	for {
		left := time.Duration(t.validUntil.Load()) - st.mono()
		if left <= 0 {
			t.end(errLeaseLapsed, false)
			return
		}
		deadline := time.NewTimer(left)
		select {
		case <-ctx.Done():
			deadline.Stop()
			t.end(nil, true)
			return
		case <-deadline.C:
			t.end(errLeaseLapsed, false)
			return
		case <-renew.C:
			deadline.Stop()
		}
		sent := st.mono()
		left = time.Duration(t.validUntil.Load()) - sent
		if left <= 0 {
			t.end(errLeaseLapsed, false) // woken from a pause past the deadline
			return
		}
		// The renewal may take no longer than the term lasts: a renewal
		// that hangs (a partition) ends the term at its deadline.
		rctx, cancel := context.WithTimeout(ctx, left)
		tag, err := t.conn.Exec(rctx, `UPDATE arena_lease SET expires_at = now() + $2 * interval '1 millisecond'
			WHERE id = 1 AND epoch = $1 AND expires_at > now()`, t.Epoch, st.lease.Milliseconds())
		cancel()
		switch {
		case ctx.Err() != nil:
			t.end(nil, true)
			return
		case err != nil && t.conn.IsClosed():
			t.end(fmt.Errorf("%w: %v", errLeaseLapsed, err), false)
			return
		case err != nil:
			st.log(ctx, err) // the next tick tries again, while the term lasts
			continue
		case tag.RowsAffected() == 0:
			t.end(errTakenOver, false)
			return
		}
		valid := int64(sent + st.lease - st.margin())
		t.validUntil.Store(valid)
	}
}

// end ends the term: the store stops writing under it first, then a
// resigned term gives its lease up, so that no write of this term can
// follow the next term's first.
func (t *Term) end(err error, release bool) {
	t.once.Do(func() {
		t.err = err
		t.validUntil.Store(0) // not valid from now on: Valid is false before the lease is given up
		if release {
			rctx, cancel := context.WithTimeout(context.Background(), t.st.lease)
			_, _ = t.conn.Exec(rctx, `UPDATE arena_lease SET expires_at = '-infinity' WHERE id = 1 AND epoch = $1`, t.Epoch)
			cancel()
		}
		// Closing the connection also frees the advisory lock.
		t.conn.Close(context.Background())
		close(t.lost)
	})
}

// LeaderStatus is who leads, as the database says.
type LeaderStatus struct {
	// URL is the address of the replica that leads or led last; empty when
	// none has led yet.
	URL   string
	Epoch int64
	// Held tells that a replica leads now: its lease has not expired by the
	// database's clock, or a replica of an earlier version holds the lead
	// by its advisory lock.
	Held bool
}

// LeaderStatus reads who leads, without waiting for any lock.
func (st *Store) LeaderStatus(ctx context.Context) (LeaderStatus, error) {
	var ls LeaderStatus
	err := st.pool.QueryRow(ctx, `SELECT l.url, l.epoch, CASE WHEN s.epoch = l.epoch AND s.expires_at > now() THEN true
		ELSE s.backend_pid = 0 AND `+legacyLockHeld+` END
		FROM arena_leader l CROSS JOIN arena_lease s WHERE l.id = 1 AND s.id = 1`, int32(legacyLeaderLock)).Scan(&ls.URL, &ls.Epoch, &ls.Held)
	if err != nil {
		return LeaderStatus{}, arena.Internal(err, "reading the leader")
	}
	return ls, nil
}

// errNotLeading is what a write of a replica that no longer leads fails
// with; one value, so that it is told apart by identity.
var errNotLeading = arena.Errorf(arena.EUNAVAILABLE, "this control plane no longer leads; retry")

// errFenced returns errNotLeading.
func errFenced() error { return errNotLeading }

// fenceEpoch returns the epoch a write is fenced with, 0 for none, or
// errFenced once the term has ended or its lease, by this process's clock,
// has run out.
func (st *Store) fenceEpoch() (int64, error) {
	t := st.term
	if t == nil {
		t = st.cur.Load()
	}
	switch {
	case t == nil:
		return 0, nil
	case !t.Valid():
		return 0, errFenced()
	}
	return t.Epoch, nil
}

// checkFence makes a write transaction fail unless epoch still leads. The
// share lock it takes keeps a new leader from taking over until the
// transaction ends.
func checkFence(ctx context.Context, tx pgx.Tx, epoch int64) error {
	var current int64
	if err := tx.QueryRow(ctx, `SELECT epoch FROM arena_leader WHERE id = 1 FOR SHARE`).Scan(&current); err != nil {
		return arena.Internal(err, "checking the leader's epoch")
	}
	if current != epoch {
		return errFenced()
	}
	return nil
}

// exec runs one write: directly on an unfenced store, in a transaction that
// checks the fence first on a fenced one. The fenced transaction is sent as
// one pipeline (BEGIN, the fence, the write, COMMIT), so that it costs one
// round trip rather than four: PostgreSQL runs it statement after statement
// as before, and skips the rest after a failure.
func (st *Store) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	epoch, err := st.fenceEpoch()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return st.execAt(ctx, epoch, sql, args...)
}

// execAt is exec under the fence of epoch, none when 0.
func (st *Store) execAt(ctx context.Context, epoch int64, sql string, args ...any) (pgconn.CommandTag, error) {
	if epoch == 0 {
		return st.pool.Exec(ctx, sql, args...)
	}
	tags, err := st.pipeline(ctx, epoch, []statement{{sql: sql, args: args}})
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return tags[0], nil
}

// statement is one write of a pipeline.
type statement struct {
	sql  string
	args []any
}

// errRolledBack is a pipeline's COMMIT that rolled its transaction back.
var errRolledBack = arena.Errorf(arena.EINTERNAL, "the transaction was rolled back")

// pipeline runs stmts in one transaction, fenced with epoch unless it is
// 0, sent as one pipeline of BEGIN, the fence, the statements and COMMIT,
// and returns their tags once it committed. It fails with errFenced for
// the fence's refusal, a *pgconn.PgError (or errRolledBack) when
// PostgreSQL undid the transaction, and anything else when the outcome is
// not known: the connection broke.
func (st *Store) pipeline(ctx context.Context, epoch int64, stmts []statement) ([]pgconn.CommandTag, error) {
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	if epoch != 0 {
		b.Queue(`SELECT arena_check_fence($1)`, epoch)
	}
	for _, s := range stmts {
		b.Queue(s.sql, s.args...)
	}
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	tags, err := pipelineResults(br, epoch != 0, len(stmts))
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		// A failure before COMMIT leaves the connection in the aborted
		// transaction: end it, or the pool drops the connection.
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			conn.Conn().PgConn().Close(context.WithoutCancel(ctx))
		}
	}
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// pipelineResults reads the answers of pipeline's batch: the statements'
// tags, or the first failure, errFenced for the fence's.
func pipelineResults(br pgx.BatchResults, fenced bool, n int) ([]pgconn.CommandTag, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	if fenced {
		if _, err := br.Exec(); err != nil {
			if sqlState(err) == codeFenced {
				return nil, errFenced()
			}
			return nil, arena.Internal(err, "checking the leader's epoch")
		}
	}
	tags := make([]pgconn.CommandTag, n)
	for i := range tags {
		tag, err := br.Exec()
		if err != nil {
			return nil, err
		}
		tags[i] = tag
	}
	commit, err := br.Exec()
	if err != nil {
		return nil, err
	}
	if commit.String() != "COMMIT" {
		return nil, errRolledBack
	}
	return tags, nil
}

// begin starts a write transaction, checking the fence first on a fenced store.
func (st *Store) begin(ctx context.Context) (pgx.Tx, error) {
	epoch, err := st.fenceEpoch()
	if err != nil {
		return nil, err
	}
	tx, err := st.pool.Begin(ctx)
	if err != nil || epoch == 0 {
		return tx, err
	}
	if err := checkFence(ctx, tx, epoch); err != nil {
		tx.Rollback(ctx)
		return nil, err
	}
	return tx, nil
}
