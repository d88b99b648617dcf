package postgres

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func groupSession(id string) *arena.Session {
	now := time.Now().UTC()
	return &arena.Session{ID: id, OrgID: "org-1", Application: "echo", Tag: "v1", Region: "europe", Location: "ams",
		State: arena.SessionRunning, CreatedAt: now, RunningAt: now, UpdatedAt: now}
}

func groupStore(tb testing.TB) (*Store, string) {
	tb.Helper()
	u := schemaURL(tb, newSchema(tb))
	st := openTest(tb, u)
	if err := st.CreateOrganization(context.Background(), &arena.Organization{ID: "org-1", Name: "Group", Environment: arena.EnvProduction, CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	return st, u
}

// TestGroupedWritesAnswerEveryWrite: 64 writers at once, fenced, each
// create and update answered once and stored, some sharing a transaction.
func TestGroupedWritesAnswerEveryWrite(t *testing.T) {
	ctx := context.Background()
	st, _ := groupStore(t)
	w := st.Under(lead(t, st, "http://a"))
	const writers, each = 64, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for n := range writers {
		wg.Go(func() {
			for i := range each {
				s := groupSession(fmt.Sprintf("s-%d-%d", n, i))
				errs <- w.CreateSession(ctx, s)
				s.Host = "203.0.113.9"
				errs <- w.UpdateSession(ctx, s)
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
		t.Fatalf("%d sessions (%v), want %d", len(list), err, writers*each)
	}
	for _, s := range list {
		if s.Host != "203.0.113.9" {
			t.Fatalf("session %s lost its update: %+v", s.ID, s)
		}
	}
	g := st.grouper()
	if g.commits.Load() == 0 || g.writes.Load() <= g.commits.Load() {
		t.Errorf("%d writes in %d shared transactions: want some shared", g.writes.Load(), g.commits.Load())
	}
	t.Logf("%d of %d writes shared %d transactions", g.writes.Load(), writers*each*2, g.commits.Load())
}

// TestGroupedWritePoisoned: a statement that fails makes its group's
// transaction fail; each write is then made alone, the failing one
// answered with its own error, the others committed.
func TestGroupedWritePoisoned(t *testing.T) {
	ctx := context.Background()
	st, u := groupStore(t)
	term := lead(t, st, "http://a")
	w := st.Under(term)
	if err := w.CreateSession(ctx, groupSession("taken")); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO sessions (` + sessionColumns + `, name) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	write := func(id string) *pgWrite {
		s := groupSession(id)
		return &pgWrite{ctx: ctx, epoch: term.Epoch, sql: insert, done: make(chan struct{}),
			args: []any{s.ID, s.OrgID, s.NodeID, string(s.State), s.CreatedAt, map[string]any{}, s.ID}}
	}
	group := []*pgWrite{write("good-1"), write("taken"), write("good-2")}
	st.grouper().commit(group)
	for i, want := range []bool{true, false, true} {
		if ok := group[i].err == nil && group[i].tag.RowsAffected() == 1; ok != want {
			t.Errorf("write %d: tag %v, err %v; want committed %v", i, group[i].tag, group[i].err, want)
		}
	}
	if !isDuplicate(group[1].err) {
		t.Errorf("the duplicate's error: %v, want its own unique violation", group[1].err)
	}
	for _, id := range []string{"good-1", "good-2"} {
		if _, err := st.FindSession(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}

	// Fenced: a group of the old epoch fails whole, and writes nothing.
	term.Resign()
	lead(t, openLease(t, u, MinLease), "http://b")
	group = []*pgWrite{write("late-1"), write("late-2")}
	st.grouper().commit(group)
	for i, w := range group {
		if arena.ErrorCode(w.err) != arena.EUNAVAILABLE {
			t.Errorf("late write %d: %v, want %s", i, w.err, arena.EUNAVAILABLE)
		}
	}
	if _, err := st.FindSession(ctx, "late-1"); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("a fenced group wrote: %v", err)
	}
}

// TestGroupedWritesSurviveAKill: a process writing from many goroutines,
// fenced, is killed with SIGKILL while its groups commit; every write it
// was answered for is in the database.
func TestGroupedWritesSurviveAKill(t *testing.T) {
	if u := os.Getenv("ARENA_PG_GROUP_CHILD"); u != "" {
		pgGroupChild(u)
		return
	}
	st, u := groupStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupedWritesSurviveAKill$")
	cmd.Env = append(os.Environ(), "ARENA_PG_GROUP_CHILD="+u)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	answered := map[string]bool{}
	lines := bufio.NewScanner(out)
	for lines.Scan() && len(answered) < 1000 {
		answered[lines.Text()] = true
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		answered[lines.Text()] = true
	}
	_ = cmd.Wait()
	if len(answered) < 1000 {
		t.Fatalf("the child answered %d writes before it was killed", len(answered))
	}
	ctx := context.Background()
	for id := range answered {
		if _, err := st.FindSession(ctx, id); err != nil {
			t.Errorf("answered %s, then lost: %v", id, err)
		}
	}
	t.Logf("%d writes answered before the kill", len(answered))
}

// pgGroupChild leads and writes until it is killed, printing each write
// it was answered for.
func pgGroupChild(u string) {
	ctx := context.Background()
	st, err := Open(ctx, u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	term, err := st.TryLead(ctx, "http://child")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := st.Under(term)
	var mu sync.Mutex
	for n := range 32 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("s-%d-%d", n, i)
				if err := w.CreateSession(ctx, groupSession(id)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println(id)
				mu.Unlock()
			}
		}()
	}
	select {}
}
