package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// TestLeader runs two replicas' stores on one schema: one leads, the other
// waits; when the leader's lock connection dies, the other takes over with
// a greater epoch, and the old leader's writes are refused from then on.
func TestLeader(t *testing.T) {
	schema := newSchema(t)
	u := schemaURL(t, schema)
	a, b := openTest(t, u), openTest(t, u)
	ctx := context.Background()
	org := func(st *Store, id string) error {
		return st.CreateOrganization(ctx, &arena.Organization{ID: id, Name: id, Environment: arena.EnvProduction, CreatedAt: time.Now()})
	}

	termA, err := a.Campaign(ctx, "http://a", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if url, epoch, err := b.Leader(ctx); err != nil || url != "http://a" || epoch != termA.Epoch {
		t.Fatalf("Leader = %q %d %v, want http://a %d", url, epoch, err, termA.Epoch)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := b.Campaign(short, "http://b", 50*time.Millisecond); err == nil {
		t.Fatal("a second replica led while the first did")
	}
	cancel()
	if err := org(a, "by-a"); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}

	// The leader's lock connection ends, as when its machine is cut off.
	admin(t, baseURL(t), fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'
		AND classid = %d AND objid = (hashtext('%s')::bigint & 4294967295)::oid AND granted`, leaderLock, schema))
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	termB, err := b.Campaign(waitCtx, "http://b", 50*time.Millisecond)
	if err != nil {
		t.Fatalf("the second replica never took over: %v", err)
	}
	if termB.Epoch <= termA.Epoch {
		t.Fatalf("new epoch %d after %d", termB.Epoch, termA.Epoch)
	}
	if err := org(a, "late-a"); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("the old leader's write after the takeover: %v, want %s", err, arena.EUNAVAILABLE)
	}
	select {
	case <-termA.Lost():
	case <-waitCtx.Done():
		t.Fatal("the old leader never noticed it lost the lead")
	}
	if err := org(b, "by-b"); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	termB.Resign()
	select {
	case <-termB.Lost():
	default:
		t.Fatal("a resigned term is not over")
	}
	// Resigning lets another lead at once.
	termA2, err := a.Campaign(waitCtx, "http://a", 50*time.Millisecond)
	if err != nil || termA2.Epoch <= termB.Epoch {
		t.Fatalf("after the resignation: %v, epoch %v", err, termA2)
	}
	termA2.Resign()
}
