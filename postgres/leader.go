package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arena-hq/arena"
)

// leaderLock is the advisory lock the leading control plane holds, on a
// connection of its own: PostgreSQL releases it when that connection ends,
// whether the process exited, crashed or lost the network. Its second key
// is the schema's, so that installations sharing a database each have a
// leader of their own.
const leaderLock = 0x61726e61 // "arna"

// Term is one control plane's time as leader. It ends when Resign is
// called or the connection holding the lock fails; Lost tells.
type Term struct {
	// Epoch numbers the term: every new leader's is greater.
	Epoch int64

	conn   *pgx.Conn
	lost   chan struct{}
	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
}

// Lost is closed when the term has ended.
func (t *Term) Lost() <-chan struct{} { return t.lost }

// Resign ends the term, letting another replica lead.
func (t *Term) Resign() {
	t.cancel()
	<-t.done
}

// Campaign waits until this replica leads, trying every retry, and returns
// its term; url is the address other replicas forward requests to. From then
// on the store's writes are fenced with the term's epoch: once another
// replica has taken over, they fail with EUNAVAILABLE instead of
// overwriting what the new leader does.
func (st *Store) Campaign(ctx context.Context, url string, retry time.Duration) (*Term, error) {
	for {
		t, err := st.tryLead(ctx, url)
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
		case <-time.After(retry):
		}
	}
}

// ErrNotLeader is TryLead's answer while another replica leads.
var ErrNotLeader = errors.New("another replica leads")

// TryLead takes the lead if no replica holds it, once: it returns the term,
// ErrNotLeader, or why the database could not be asked.
func (st *Store) TryLead(ctx context.Context, url string) (*Term, error) {
	return st.tryLead(ctx, url)
}

func (st *Store) log(ctx context.Context, err error) {
	if st.logger != nil {
		st.logger.WarnContext(ctx, "campaigning for the lead", "err", err)
	}
}

func (st *Store) tryLead(ctx context.Context, url string) (*Term, error) {
	connCfg := st.pool.Config().ConnConfig.Copy()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, connCfg)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema()))`, int32(leaderLock)).Scan(&got); err != nil || !got {
		conn.Close(context.Background())
		if err == nil {
			err = ErrNotLeader
		}
		return nil, err
	}
	// The lock is ours: a new epoch fences the previous leader's writes. The
	// UPDATE waits for writes in flight under the old epoch (they hold the
	// row in share mode), so the new leader reads the state after them.
	var epoch int64
	if err := conn.QueryRow(cctx, `UPDATE arena_leader SET epoch = epoch + 1, url = $1, since = now()
		WHERE id = 1 RETURNING epoch`, url).Scan(&epoch); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	st.fence.Store(epoch)
	wctx, wcancel := context.WithCancel(context.Background())
	t := &Term{Epoch: epoch, conn: conn, lost: make(chan struct{}), cancel: wcancel, done: make(chan struct{})}
	go t.watch(wctx, st)
	return t, nil
}

// watch checks the lock's connection every second; when it fails, or the
// term is resigned, the term ends and the store stops writing under it.
func (t *Term) watch(ctx context.Context, st *Store) {
	defer close(t.done)
	defer t.end(st)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = t.conn.Exec(uctx, `SELECT pg_advisory_unlock($1, hashtext(current_schema()))`, int32(leaderLock))
			cancel()
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := t.conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			st.log(ctx, err)
			return
		}
	}
}

func (t *Term) end(st *Store) {
	t.once.Do(func() {
		st.fence.CompareAndSwap(t.Epoch, -1)
		t.conn.Close(context.Background())
		close(t.lost)
	})
}

// Leader returns the address of the replica that leads, and its epoch; an
// empty address when none has led yet.
func (st *Store) Leader(ctx context.Context) (url string, epoch int64, err error) {
	err = st.pool.QueryRow(ctx, `SELECT url, epoch FROM arena_leader WHERE id = 1`).Scan(&url, &epoch)
	if err != nil {
		return "", 0, arena.Internal(err, "reading the leader")
	}
	return url, epoch, nil
}

// errFenced is what a write of a replica that no longer leads fails with.
func errFenced() error {
	return arena.Errorf(arena.EUNAVAILABLE, "this control plane no longer leads; retry")
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
// checks the fence first on a fenced one.
func (st *Store) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	epoch := st.fence.Load()
	if epoch == 0 {
		return st.pool.Exec(ctx, sql, args...)
	}
	if epoch < 0 {
		return pgconn.CommandTag{}, errFenced()
	}
	var tag pgconn.CommandTag
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := checkFence(ctx, tx, epoch); err != nil {
			return err
		}
		var err error
		tag, err = tx.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// begin starts a write transaction, checking the fence first on a fenced store.
func (st *Store) begin(ctx context.Context) (pgx.Tx, error) {
	epoch := st.fence.Load()
	if epoch < 0 {
		return nil, errFenced()
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
