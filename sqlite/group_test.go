package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// waitFor waits until cond holds, for 10 s at most.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
}

// TestGroupCommitAnswersEveryWrite: 64 writers at once, each create and
// stop answered once, every answered write in the store, in fewer commits
// than writes.
func TestGroupCommitAnswersEveryWrite(t *testing.T) {
	ctx := context.Background()
	st := benchStoreT(t)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				s := benchSession(fmt.Sprintf("s-%d-%d", w, i))
				errs <- st.CreateSession(ctx, s)
				s.State, s.StoppedAt = arena.SessionStopped, s.CreatedAt.Add(time.Second)
				errs <- st.StopSession(ctx, s, &arena.Usage{SessionID: s.ID, OrgID: s.OrgID, Start: s.RunningAt, End: s.StoppedAt, Seconds: 1})
			}
		})
	}
	wg.Wait()
	close(errs)
	answers := 0
	for err := range errs {
		answers++
		if err != nil {
			t.Errorf("a write failed: %v", err)
		}
	}
	if answers != writers*each*2 {
		t.Fatalf("%d answers, want %d", answers, writers*each*2)
	}
	list, err := st.ListSessions(ctx, arena.SessionQuery{OrgID: "org-1"})
	if err != nil || len(list) != writers*each {
		t.Fatalf("%d sessions stored (%v), want %d", len(list), err, writers*each)
	}
	usage, err := st.ListUsage(ctx, "org-1")
	if err != nil || len(usage) != writers*each {
		t.Fatalf("%d usage rows (%v), want %d", len(usage), err, writers*each)
	}
	stats := st.writeStats()
	if stats.Writes != writers*each*2 || stats.Commits >= stats.Writes {
		t.Errorf("write stats %+v: want every write counted, in fewer commits", stats)
	}
	t.Logf("%d writes in %d commits", stats.Writes, stats.Commits)
}

// TestGroupCommitPoisonedWrite: in one group, a write that fails (a
// duplicate, an unknown organisation, a stop that finds nothing to do) is
// undone alone; its neighbours commit.
func TestGroupCommitPoisonedWrite(t *testing.T) {
	ctx := context.Background()
	st := benchStoreT(t)
	if err := st.CreateSession(ctx, benchSession("taken")); err != nil {
		t.Fatal(err)
	}
	stopped := benchSession("stopped")
	if err := st.CreateSession(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	stopped.State = arena.SessionStopped
	first := &arena.Usage{SessionID: "stopped", OrgID: "org-1", Seconds: 7}
	if err := st.StopSession(ctx, stopped, first); err != nil {
		t.Fatal(err)
	}

	// Hold the writers' turn so that the writes below queue into one group.
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stranger := benchSession("stranger")
	stranger.OrgID = "no-such-org"
	again := *stopped
	again.Labels = map[string]string{"second": "stop"}
	writes := []struct {
		name     string
		write    func() error
		wantCode string
	}{
		{"good 1", func() error { return st.CreateSession(ctx, benchSession("good-1")) }, ""},
		{"duplicate", func() error { return st.CreateSession(ctx, benchSession("taken")) }, arena.ECONFLICT},
		{"good 2", func() error { return st.CreateSession(ctx, benchSession("good-2")) }, ""},
		{"unknown organisation", func() error { return st.CreateSession(ctx, stranger) }, arena.ENOTFOUND},
		{"second stop", func() error {
			return st.StopSession(ctx, &again, &arena.Usage{SessionID: "stopped", OrgID: "org-1", Seconds: 99})
		}, ""},
		{"good 3", func() error { return st.CreateSession(ctx, benchSession("good-3")) }, ""},
	}
	results := make([]error, len(writes))
	var wg sync.WaitGroup
	queued := st.queued.Load()
	for i, w := range writes {
		wg.Go(func() { results[i] = w.write() })
		// In order, so that the group is as listed.
		waitFor(t, "the write to queue", func() bool { return st.queued.Load() == queued+int64(i+1) })
	}
	before := st.writeStats()
	unlock()
	wg.Wait()
	if got := st.writeStats(); got.Commits-before.Commits != 1 || got.Writes-before.Writes != int64(len(writes)) {
		t.Fatalf("the writes took %d commits for %d writes, want one group", got.Commits-before.Commits, got.Writes-before.Writes)
	}
	for i, w := range writes {
		if arena.ErrorCode(results[i]) != w.wantCode && !(w.wantCode == "" && results[i] == nil) {
			t.Errorf("%s: %v, want %q", w.name, results[i], w.wantCode)
		}
	}
	for _, id := range []string{"good-1", "good-2", "good-3"} {
		if _, err := st.FindSession(ctx, id); err != nil {
			t.Errorf("%s, committed beside failing writes: %v", id, err)
		}
	}
	if _, err := st.FindSession(ctx, "stranger"); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("the failed write left a row: %v", err)
	}
	got, err := st.FindSession(ctx, "stopped")
	if err != nil || got.Labels["second"] != "" {
		t.Errorf("the second stop changed the session: %+v, %v", got, err)
	}
	if u, err := st.ListUsage(ctx, "org-1"); err != nil || len(u) != 1 || u[0].Seconds != 7 {
		t.Errorf("usage after the second stop: %+v, %v; want the first stop's alone", u, err)
	}
}

// TestGroupCommitCanceledBeforeItsTurn: a write whose caller left before
// its group ran is not made, and says so; the others in its group are.
func TestGroupCommitCanceledBeforeItsTurn(t *testing.T) {
	ctx := context.Background()
	st := benchStoreT(t)
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var goneErr, keptErr error
	queued := st.queued.Load()
	wg.Go(func() { goneErr = st.CreateSession(gone, benchSession("gone")) })
	waitFor(t, "the first write to queue", func() bool { return st.queued.Load() == queued+1 })
	wg.Go(func() { keptErr = st.CreateSession(ctx, benchSession("kept")) })
	waitFor(t, "the second write to queue", func() bool { return st.queued.Load() == queued+2 })
	cancel()
	unlock()
	wg.Wait()
	if goneErr == nil || keptErr != nil {
		t.Fatalf("the cancelled write: %v; the other: %v", goneErr, keptErr)
	}
	if _, err := st.FindSession(ctx, "gone"); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("the cancelled write was made: %v", err)
	}
}

// TestGroupCommitSurvivesAKill: a process writing from many goroutines is
// killed with SIGKILL mid-group; every write it was answered for is in
// the store, and no stop is half made (a stopped session without its
// usage, or usage of a session not stopped).
func TestGroupCommitSurvivesAKill(t *testing.T) {
	if path := os.Getenv("ARENA_GROUP_CHILD"); path != "" {
		groupChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "arena.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupCommitSurvivesAKill$")
	cmd.Env = append(os.Environ(), "ARENA_GROUP_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	answered := map[string]string{} // id → "created" or "stopped"
	lines := bufio.NewScanner(out)
	for lines.Scan() && len(answered) < 1500 {
		what, id, _ := strings.Cut(lines.Text(), " ")
		answered[id] = what
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		what, id, _ := strings.Cut(lines.Text(), " ")
		answered[id] = what // answered before it died
	}
	_ = cmd.Wait()
	if len(answered) < 1500 {
		t.Fatalf("the child answered %d writes before it was killed", len(answered))
	}

	ctx := context.Background()
	st := openTest(t, path)
	for id, what := range answered {
		s, err := st.FindSession(ctx, id)
		if err != nil {
			t.Errorf("answered %s %s, then lost: %v", what, id, err)
			continue
		}
		if what == "stopped" && s.State != arena.SessionStopped {
			t.Errorf("answered the stop of %s, then found it %s", id, s.State)
		}
	}
	sessions, err := st.ListSessions(ctx, arena.SessionQuery{OrgID: "org-1"})
	if err != nil {
		t.Fatal(err)
	}
	usage, err := st.ListUsage(ctx, "org-1")
	if err != nil {
		t.Fatal(err)
	}
	billed := map[string]bool{}
	for _, u := range usage {
		billed[u.SessionID] = true
	}
	for _, s := range sessions {
		if (s.State == arena.SessionStopped) != billed[s.ID] {
			t.Errorf("session %s is %s and billed %v: a stop half made", s.ID, s.State, billed[s.ID])
		}
	}
	t.Logf("%d writes answered before the kill, %d sessions and %d usage rows found", len(answered), len(sessions), len(usage))
}

// groupChild writes until it is killed, printing each write it was
// answered for.
func groupChild(path string) {
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := st.CreateOrganization(ctx, &arena.Organization{ID: "org-1", Name: "Crash"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	say := func(what, id string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(what, id)
	}
	for w := range 32 {
		go func() {
			for i := 0; ; i++ {
				s := benchSession(fmt.Sprintf("s-%d-%d", w, i))
				if err := st.CreateSession(ctx, s); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				say("created", s.ID)
				if i%2 == 0 {
					s.State = arena.SessionStopped
					if err := st.StopSession(ctx, s, &arena.Usage{SessionID: s.ID, OrgID: s.OrgID, Seconds: 1}); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					say("stopped", s.ID)
				}
			}
		}()
	}
	select {}
}

// benchStoreT is benchStore for tests.
func benchStoreT(tb testing.TB) *Store {
	tb.Helper()
	st := openTest(tb, filepath.Join(tb.TempDir(), "arena.db"))
	if err := st.CreateOrganization(context.Background(), &arena.Organization{ID: "org-1", Name: "Bench"}); err != nil {
		tb.Fatal(err)
	}
	return st
}

// TestGroupCommitSurvivesAPanic: a write whose statements panic fails
// alone, and the writer goes on with the next.
func TestGroupCommitSurvivesAPanic(t *testing.T) {
	ctx := context.Background()
	st := benchStoreT(t)
	err := st.grouped(ctx, func(context.Context, execer) error { panic("a bug") })
	if arena.ErrorCode(err) != arena.EINTERNAL {
		t.Fatalf("the write that panicked: %v, want %s", err, arena.EINTERNAL)
	}
	if err := st.CreateSession(ctx, benchSession("after")); err != nil {
		t.Fatalf("the write after it: %v", err)
	}
}

// TestGroupCommitFailedTransaction: when a group's transaction itself
// fails, each write is run again alone, and one that fails alone too is
// answered with its failure, never with success.
func TestGroupCommitFailedTransaction(t *testing.T) {
	ctx := context.Background()
	st := benchStoreT(t)
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var results []error
	var wg sync.WaitGroup
	queued := st.queued.Load()
	writes := []func() error{
		func() error { return st.CreateSession(ctx, benchSession("good-1")) },
		// Succeeds in the group, fails when run again alone.
		func() error {
			calls := 0
			return st.grouped(ctx, func(context.Context, execer) error {
				if calls++; calls > 1 {
					return arena.Errorf(arena.EINVALID, "fails alone")
				}
				return nil
			})
		},
		// Ends the transaction under the group: what follows it fails.
		func() error {
			return st.grouped(ctx, func(ctx context.Context, ex execer) error {
				_, err := ex.ExecContext(ctx, `ROLLBACK`)
				return err
			})
		},
		func() error { return st.CreateSession(ctx, benchSession("good-2")) },
	}
	results = make([]error, len(writes))
	for i, w := range writes {
		wg.Go(func() { results[i] = w() })
		waitFor(t, "the write to queue", func() bool { return st.queued.Load() == queued+int64(i+1) })
	}
	unlock()
	wg.Wait()
	if results[0] != nil || results[3] != nil {
		t.Fatalf("the good writes: %v, %v", results[0], results[3])
	}
	if arena.ErrorCode(results[1]) != arena.EINVALID {
		t.Fatalf("the write that failed when run again alone: %v, want its failure", results[1])
	}
	if results[2] == nil {
		t.Fatal("the write that broke its transaction was answered as a success")
	}
	for _, id := range []string{"good-1", "good-2"} {
		if _, err := st.FindSession(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
