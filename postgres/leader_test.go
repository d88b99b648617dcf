package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arena-hq/arena"
)

// openLease opens a store on u with the given lease and closes it when the
// test ends.
func openLease(tb testing.TB, u string, lease time.Duration) *Store {
	tb.Helper()
	st, err := Open(context.Background(), u, WithLease(lease))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// write makes one fenced write through st.
func write(st *Store) error {
	id := fmt.Sprint("org-", time.Now().UnixNano())
	return st.CreateOrganization(context.Background(), &arena.Organization{ID: id, Name: id, Environment: arena.EnvProduction, CreatedAt: time.Now()})
}

// lead takes the lead through st, which must be free, and resigns it when
// the test ends.
func lead(tb testing.TB, st *Store, url string) *Term {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	term, err := st.TryLead(ctx, url)
	if err != nil {
		tb.Fatalf("TryLead(%s): %v", url, err)
	}
	tb.Cleanup(term.Resign)
	return term
}

// notLeader checks that st cannot take the lead now.
func notLeader(tb testing.TB, st *Store) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if term, err := st.TryLead(ctx, "http://late"); !errors.Is(err, ErrNotLeader) {
		if term != nil {
			term.Resign()
		}
		tb.Fatalf("TryLead while another leads: %v, want ErrNotLeader", err)
	}
}

// waitLost waits for the term to end.
func waitLost(tb testing.TB, term *Term) {
	tb.Helper()
	waitLostWithin(tb, term, 20*time.Second)
}

// waitLostWithin waits up to d for the term to end.
func waitLostWithin(tb testing.TB, term *Term, d time.Duration) {
	tb.Helper()
	select {
	case <-term.Lost():
	case <-time.After(d):
		tb.Fatalf("the term did not end within %s", d)
	}
}

// conn is a connection of the test's own to the schema of u, closed when
// the test ends.
func conn(tb testing.TB, u string) *pgx.Conn {
	tb.Helper()
	c, err := pgx.Connect(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// execer is a connection or a transaction.
type execer interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

func mustExec(tb testing.TB, q execer, sql string, args ...any) {
	tb.Helper()
	if _, err := q.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLease runs the lease's rules on replicas' stores sharing a schema.
func TestLease(t *testing.T) {
	ctx := context.Background()

	t.Run("taken and renewed", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		a, b := openLease(t, u, MinLease), openLease(t, u, MinLease)
		term := lead(t, a, "http://a")
		notLeader(t, b)
		ls, err := b.LeaderStatus(ctx)
		if err != nil || !ls.Held || ls.URL != "http://a" || ls.Epoch != term.Epoch {
			t.Fatalf("LeaderStatus = %+v, %v; want held by http://a in epoch %d", ls, err, term.Epoch)
		}
		c := conn(t, u)
		var first time.Time
		if err := c.QueryRow(ctx, `SELECT expires_at FROM arena_lease`).Scan(&first); err != nil {
			t.Fatal(err)
		}
		// Past the first expiry the lease still holds: it was renewed.
		eventually(t, 10*time.Second, func() error {
			var past bool
			if err := c.QueryRow(ctx, `SELECT now() > $1 AND expires_at > now() FROM arena_lease`, first).Scan(&past); err != nil {
				return err
			}
			if !past {
				return fmt.Errorf("the first expiry, %s, is not past yet", first)
			}
			return nil
		})
		if !term.Valid() {
			t.Fatalf("the term ended: %v", term.Err())
		}
		if err := write(a); err != nil {
			t.Fatalf("the leader's write past its first expiry: %v", err)
		}
		notLeader(t, b)
	})

	t.Run("resigned", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		a, b := openLease(t, u, MaxLease), openLease(t, u, MaxLease)
		term, err := a.TryLead(ctx, "http://a")
		if err != nil {
			t.Fatal(err)
		}
		term.Resign()
		if term.Valid() || term.Err() != nil {
			t.Fatalf("a resigned term: valid %v, err %v", term.Valid(), term.Err())
		}
		if err := write(a); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("a write after resigning: %v, want %s", err, arena.EUNAVAILABLE)
		}
		// A lease of a minute, given up: the next replica leads at once.
		next := lead(t, b, "http://b")
		if next.Epoch <= term.Epoch {
			t.Fatalf("epoch %d after %d", next.Epoch, term.Epoch)
		}
	})

	t.Run("holder gone", func(t *testing.T) {
		// As if the holder's process died: its connection goes, and another
		// replica takes over long before the lease would have expired.
		u := schemaURL(t, newSchema(t))
		a, b := openLease(t, u, 6*time.Second), openLease(t, u, 6*time.Second)
		term := lead(t, a, "http://a")
		c := conn(t, u)
		mustExec(t, c, `SELECT pg_terminate_backend(backend_pid) FROM arena_lease`)
		var expires time.Time
		if err := c.QueryRow(ctx, `SELECT expires_at FROM arena_lease`).Scan(&expires); err != nil {
			t.Fatal(err)
		}
		var next *Term
		eventually(t, 10*time.Second, func() error {
			// PostgreSQL ends the session shortly after it was told to.
			var err error
			next, err = b.TryLead(ctx, "http://b")
			return err
		})
		defer next.Resign()
		var since time.Time
		if err := c.QueryRow(ctx, `SELECT since FROM arena_leader`).Scan(&since); err != nil {
			t.Fatal(err)
		}
		if !since.Before(expires) || next.Epoch <= term.Epoch {
			t.Fatalf("taken over at %s in epoch %d; the lease expired at %s, in epoch %d", since, next.Epoch, expires, term.Epoch)
		}
		// The old leader's writes are refused (by the epoch in the database
		// if it has not noticed yet), and it notices at its next renewal.
		if err := write(a); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("the old leader's write: %v, want %s", err, arena.EUNAVAILABLE)
		}
		waitLost(t, term)
		if term.Err() == nil {
			t.Fatal("the old term ended without a reason")
		}
		if err := write(b); err != nil {
			t.Fatalf("the new leader's write: %v", err)
		}
	})

	t.Run("expired while the holder lives", func(t *testing.T) {
		// A lease held by a connection that lives (a frozen process, a
		// partition PostgreSQL has not noticed): it is waited for until it
		// expires, and no longer.
		u := schemaURL(t, newSchema(t))
		b := openLease(t, u, MinLease)
		holder := conn(t, u)
		mustExec(t, holder, `UPDATE arena_lease SET epoch = 1, holder = 'http://frozen', backend_pid = pg_backend_pid(),
			backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), expires_at = now() + interval '1 hour'`)
		mustExec(t, holder, `UPDATE arena_leader SET epoch = 1, url = 'http://frozen'`)
		notLeader(t, b)
		mustExec(t, holder, `UPDATE arena_lease SET expires_at = now() - interval '1 millisecond'`)
		term := lead(t, b, "http://b")
		if term.Epoch != 2 {
			t.Fatalf("epoch %d, want 2", term.Epoch)
		}
	})

	t.Run("a frozen former holder's lock holds up no later takeover", func(t *testing.T) {
		// A holder takes the advisory lock of the earlier version too, and
		// keeps it while frozen after losing its lease: the lock counts only
		// until a replica of this version first held the lease.
		u := schemaURL(t, newSchema(t))
		b, c := openLease(t, u, MinLease), openLease(t, u, MinLease)
		frozen := conn(t, u)
		mustExec(t, frozen, `UPDATE arena_lease SET epoch = 1, holder = 'http://frozen', backend_pid = pg_backend_pid(),
			backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), expires_at = now() - interval '1 millisecond'`)
		mustExec(t, frozen, `UPDATE arena_leader SET epoch = 1, url = 'http://frozen'`)
		mustExec(t, frozen, `SELECT pg_advisory_lock($1, hashtext(current_schema()))`, int32(legacyLeaderLock))
		lead(t, b, "http://b").Resign()
		if ls, err := c.LeaderStatus(ctx); err != nil || ls.Held {
			t.Fatalf("after the leader resigned: %+v %v, want the lead free", ls, err)
		}
		if term := lead(t, c, "http://c"); term.Epoch != 3 {
			t.Fatalf("epoch %d, want 3", term.Epoch)
		}
	})

	t.Run("a leader that cannot renew stops before its lease ends", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		a := openLease(t, u, DefaultLease)
		term := lead(t, a, "http://a")
		// Renewals wait for the row, as behind a partition.
		block := conn(t, u)
		tx, err := block.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		mustExec(t, tx, `SELECT 1 FROM arena_lease FOR UPDATE`)
		waitLost(t, term)
		var left float64
		if err := conn(t, u).QueryRow(ctx, `SELECT extract(epoch FROM expires_at - now())::float8 FROM arena_lease`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(term.Err(), errLeaseLapsed) || left <= 0 {
			t.Fatalf("the term ended (%v) with %.3fs of its lease left in the database, want errLeaseLapsed and some left", term.Err(), left)
		}
		if err := write(a); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("a write after the term ended: %v", err)
		}
	})

	t.Run("fenced by the local deadline", func(t *testing.T) {
		// The process wakes from a pause past its deadline: its first write
		// is refused before its watch notices, and before any other
		// replica has taken over.
		u := schemaURL(t, newSchema(t))
		a := openLease(t, u, MaxLease)
		term := lead(t, a, "http://a")
		a.ahead.Store(int64(MaxLease))
		if term.Valid() {
			t.Fatal("the term is valid past its deadline")
		}
		if err := write(a); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("a write past the deadline: %v, want %s", err, arena.EUNAVAILABLE)
		}
		ls, err := a.LeaderStatus(ctx)
		if err != nil || !ls.Held || ls.Epoch != term.Epoch {
			t.Fatalf("the database's lease: %+v %v; want still held in epoch %d", ls, err, term.Epoch)
		}
		// The watch notices at its next renewal, a third of the lease after
		// the term began: the jump of the clock set no timer off.
		waitLostWithin(t, term, MaxLease/3+20*time.Second)
	})

	t.Run("fenced by the epoch", func(t *testing.T) {
		// A write that passed the local check but reaches the database
		// after a takeover is refused there.
		u := schemaURL(t, newSchema(t))
		a, b, stale := openLease(t, u, MinLease), openLease(t, u, MinLease), openLease(t, u, MinLease)
		term := lead(t, a, "http://a")
		// A term of the epoch that, by its own clock, never runs out.
		forever := &Term{Epoch: term.Epoch, st: stale, lost: make(chan struct{})}
		forever.validUntil.Store(int64(time.Duration(1<<62) - 1))
		stale.cur.Store(forever)
		if err := write(stale); err != nil {
			t.Fatalf("a write in the term: %v", err)
		}
		term.Resign()
		lead(t, b, "http://b")
		if err := write(stale); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("a write of the old epoch: %v, want %s", err, arena.EUNAVAILABLE)
		}
	})

	t.Run("a fenced write that fails leaves its connection clean", func(t *testing.T) {
		// The fenced write is one pipeline: a failure within it must be
		// the write's own error, undo it, and leave the connection out of
		// the aborted transaction for the next write.
		u := schemaURL(t, newSchema(t))
		a := openLease(t, u, MinLease)
		w := a.Under(lead(t, a, "http://a"))
		ctx := context.Background()
		org := &arena.Organization{ID: "twice", Name: "twice", Environment: arena.EnvProduction, CreatedAt: time.Now()}
		if err := w.CreateOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		conns := a.pool.Stat().NewConnsCount()
		for range 5 {
			if err := w.CreateOrganization(ctx, org); arena.ErrorCode(err) != arena.ECONFLICT {
				t.Fatalf("a duplicate: %v, want %s", err, arena.ECONFLICT)
			}
			if err := write(w); err != nil {
				t.Fatalf("the write after a failed one: %v", err)
			}
		}
		if got := a.pool.Stat().NewConnsCount(); got != conns {
			t.Errorf("%d connections made during the failures: failed writes cost their connections", got-conns)
		}
		orgs, err := a.ListOrganizations(ctx)
		if err != nil || len(orgs) != 6 {
			t.Fatalf("%d organisations (%v), want the first and the five writes between the duplicates", len(orgs), err)
		}
	})

	t.Run("a view writes under its own term only", func(t *testing.T) {
		// A control plane closing late must not write under the term this
		// process leads in next.
		u := schemaURL(t, newSchema(t))
		a := openLease(t, u, MinLease)
		first := lead(t, a, "http://a")
		old := a.Under(first)
		if err := write(old); err != nil {
			t.Fatalf("a write in its term: %v", err)
		}
		first.Resign()
		second := lead(t, a, "http://a")
		if err := write(old); arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("the first term's write in the second: %v, want %s", err, arena.EUNAVAILABLE)
		}
		if err := write(a.Under(second)); err != nil {
			t.Fatalf("the second term's write: %v", err)
		}
		if err := old.Close(); err != nil || write(a.Under(second)) != nil {
			t.Fatalf("closing a view closed the store: %v", err)
		}
	})

	t.Run("a takeover waits for writes in flight, boundedly", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		b := openLease(t, u, MinLease)
		// A frozen leader's write: its share lock on the epoch, and a
		// lease that has run out.
		frozen := conn(t, u)
		mustExec(t, frozen, `UPDATE arena_lease SET epoch = 1, expires_at = now() - interval '1 millisecond'`)
		mustExec(t, frozen, `UPDATE arena_leader SET epoch = 1`)
		tx, err := frozen.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `SELECT epoch FROM arena_leader WHERE id = 1 FOR SHARE`)
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		term, err := b.TryLead(tctx, "http://b")
		if term != nil || sqlState(err) != codeLockNotAvailable {
			t.Fatalf("TryLead behind a write in flight: %v, %v; want the lock_timeout's error", term, err)
		}
		if ls, _ := b.LeaderStatus(ctx); ls.Epoch != 1 {
			t.Fatalf("epoch %d after a failed takeover, want 1", ls.Epoch)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if term := lead(t, b, "http://b"); term.Epoch != 2 {
			t.Fatalf("epoch %d, want 2", term.Epoch)
		}
	})

	t.Run("a leader of an earlier version", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		b := openLease(t, u, MinLease)
		// It leads by the advisory lock alone.
		old := conn(t, u)
		var got bool
		if err := old.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema()))`, int32(legacyLeaderLock)).Scan(&got); err != nil || !got {
			t.Fatalf("the old replica's lock: %v %v", got, err)
		}
		notLeader(t, b)
		if ls, err := b.LeaderStatus(ctx); err != nil || !ls.Held {
			t.Fatalf("LeaderStatus = %+v %v, want held", ls, err)
		}
		// Should it let go, it cannot take the lead back from a lease.
		mustExec(t, old, `SELECT pg_advisory_unlock($1, hashtext(current_schema()))`, int32(legacyLeaderLock))
		term := lead(t, b, "http://b")
		if err := old.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema()))`, int32(legacyLeaderLock)).Scan(&got); err != nil || got {
			t.Fatalf("an old replica took the advisory lock from the lease's holder: %v %v", got, err)
		}
		if _, err := old.Exec(ctx, `UPDATE arena_leader SET epoch = epoch + 1, url = 'http://old', since = now() WHERE id = 1`); err == nil {
			t.Fatal("an old replica bumped the epoch past the lease's")
		}
		if err := write(b); err != nil {
			t.Fatalf("the lease holder's write: %v (epoch %d)", err, term.Epoch)
		}
	})
}

// TestMigrateLease upgrades a database an earlier version leads: the lease
// starts free in the epoch of that leader.
func TestMigrateLease(t *testing.T) {
	ctx := context.Background()
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	u := schemaURL(t, newSchema(t))
	old := openWith(t, u, shipped[:7])
	if _, err := old.pool.Exec(ctx, `UPDATE arena_leader SET epoch = 5, url = 'http://old'`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	st := openTest(t, u)
	checkVersions(t, st, shipped)
	ls, err := st.LeaderStatus(ctx)
	if err != nil || ls.Held || ls.URL != "http://old" || ls.Epoch != 5 {
		t.Fatalf("LeaderStatus = %+v %v, want epoch 5 of http://old, not held", ls, err)
	}
	if term := lead(t, st, "http://new"); term.Epoch != 6 {
		t.Fatalf("epoch %d, want 6", term.Epoch)
	}
}

// TestConnectionSettings: every connection asks PostgreSQL to give up on a
// dead peer within about a lease, unless the URL says otherwise.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		params map[string]string
		lease  time.Duration
		want   map[string]string
	}{
		{"from the lease", nil, 3 * time.Second, map[string]string{
			"tcp_keepalives_idle": "1", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3",
			"tcp_user_timeout": "3000", "idle_in_transaction_session_timeout": "3s",
		}},
		{"a longer lease", nil, 30 * time.Second, map[string]string{
			"tcp_keepalives_idle": "10", "tcp_user_timeout": "30000", "idle_in_transaction_session_timeout": "30s",
		}},
		{"the URL's own", map[string]string{"tcp_user_timeout": "12345", "idle_in_transaction_session_timeout": "0"}, 3 * time.Second, map[string]string{
			"tcp_user_timeout": "12345", "idle_in_transaction_session_timeout": "0", "tcp_keepalives_count": "3",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.Parse(schemaURL(t, newSchema(t)))
			if err != nil {
				t.Fatal(err)
			}
			q := v.Query()
			for k, val := range tc.params {
				q.Set(k, val)
			}
			v.RawQuery = q.Encode()
			st := openLease(t, v.String(), tc.lease)
			for k, want := range tc.want {
				var got string
				if err := st.pool.QueryRow(ctx, `SELECT current_setting($1)`, k).Scan(&got); err != nil || got != want {
					t.Errorf("%s = %q (%v), want %q", k, got, err, want)
				}
			}
		})
	}

	t.Run("a transaction left idle is ended", func(t *testing.T) {
		st := openLease(t, schemaURL(t, newSchema(t)), MinLease)
		tx, err := st.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var pid int
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		watcher := conn(t, baseURL(t))
		eventually(t, 20*time.Second, func() error {
			var alive bool
			if err := watcher.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil {
				return err
			}
			if alive {
				return fmt.Errorf("the session idle in its transaction lives on")
			}
			return nil
		})
	})

	t.Run("lease out of bounds", func(t *testing.T) {
		for _, d := range []time.Duration{0, MinLease - 1, MaxLease + 1} {
			if st, err := Open(ctx, schemaURL(t, newSchema(t)), WithLease(d)); arena.ErrorCode(err) != arena.EINVALID {
				if err == nil {
					st.Close()
				}
				t.Errorf("lease %s: %v, want %s", d, err, arena.EINVALID)
			}
		}
	})
}

// TestPoolSize: the pool holds DefaultMaxConns connections, or four per
// CPU, unless the URL sets pool_max_conns.
func TestPoolSize(t *testing.T) {
	u := schemaURL(t, newSchema(t))
	tests := []struct {
		name string
		url  string
		want int32
	}{
		{"by default", u, int32(max(DefaultMaxConns, 4*runtime.GOMAXPROCS(0)))},
		{"as the URL says", u + "&pool_max_conns=3", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Open(context.Background(), tt.url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got := st.pool.Config().MaxConns; got != tt.want {
				t.Fatalf("MaxConns = %d, want %d", got, tt.want)
			}
		})
	}
}
