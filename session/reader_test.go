package session

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlite"
)

// TestReader: a follower's reads from the store answer as the leader's
// do: by the API's id, the organisation's own only, warm pool sessions
// nobody's, stopped ones only when asked for, oldest first.
func TestReader(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/arena.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	for _, org := range []string{"org-a", "org-b"} {
		if err := st.CreateOrganization(ctx, &arena.Organization{ID: org, Name: org, Environment: arena.EnvProduction, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(id, org, name string, state arena.SessionState, pool string, at time.Duration) {
		t.Helper()
		s := &arena.Session{ID: id, OrgID: org, Name: name, State: state, Pool: pool, CreatedAt: t0.Add(at), Application: "echo"}
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	put("org-a/late", "org-a", "late", arena.SessionRunning, "", 2*time.Second)
	put("org-a/early", "org-a", "early", arena.SessionRunning, "", time.Second)
	put("org-a/gone", "org-a", "gone", arena.SessionStopped, "", 3*time.Second)
	put("org-a/pooled", "org-a", "", arena.SessionRunning, "pool-1", 0)
	put("org-b/theirs", "org-b", "theirs", arena.SessionRunning, "", 0)
	r := NewReader(st)

	finds := []struct {
		org, id  string
		wantCode string
	}{
		{"org-a", "early", ""},
		{"org-a", "gone", ""},
		{"org-a", "theirs", arena.ENOTFOUND},
		{"org-a", "org-a/pooled", arena.ENOTFOUND},
		{"org-b", "theirs", ""},
		{"org-a", "nope", arena.ENOTFOUND},
	}
	for _, f := range finds {
		t.Run("find "+f.org+" "+f.id, func(t *testing.T) {
			s, err := r.FindSession(ctx, f.org, f.id)
			if arena.ErrorCode(err) != f.wantCode && !(f.wantCode == "" && err == nil) {
				t.Fatalf("FindSession: %v, want %q", err, f.wantCode)
			}
			if err == nil && (s.Name != f.id || s.OrgID != f.org) {
				t.Fatalf("found %+v", s)
			}
		})
	}
	lists := []struct {
		name string
		all  bool
		want []string
	}{
		{"active", false, []string{"early", "late"}},
		{"all", true, []string{"early", "late", "gone"}},
	}
	for _, l := range lists {
		t.Run("list "+l.name, func(t *testing.T) {
			got, err := r.ListSessions(ctx, "org-a", arena.SessionFilter{All: l.all})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, l.want) {
				t.Fatalf("listed %v, want %v", names, l.want)
			}
		})
	}
	if _, err := r.CreateSession(ctx, "org-a", arena.SessionRequest{}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Errorf("a create through a reader: %v, want %s", err, arena.EUNAVAILABLE)
	}
}
