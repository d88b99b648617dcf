package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
)

// LegacySessions returns the sessions a store's migration test puts in the
// schema as it was before sessions were found by name, for org-1: one
// stored before ids were per organisation (keyed by its API id, with no
// name) and one after (keyed by SessionKey, named).
func LegacySessions() []*arena.Session {
	created := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	old := newSession("match-1", "org-1", "node-1", created)
	old.Name = ""
	named := newSession(arena.SessionKey("org-1", "match-2"), "org-1", "node-1", created.Add(time.Second))
	named.Name = "match-2"
	return []*arena.Session{old, named}
}

// CheckMigratedSessions checks the LegacySessions in st after the
// migration: each found by its organisation and API id, by no other
// organisation, the one that had no name now named by its id.
func CheckMigratedSessions(t *testing.T, st arena.Store) {
	t.Helper()
	ctx := context.Background()
	for _, want := range LegacySessions() {
		name := want.PublicID()
		t.Run(name, func(t *testing.T) {
			got, err := st.FindSessionByName(ctx, "org-1", name)
			if err != nil {
				t.Fatalf("FindSessionByName(org-1, %s): %v", name, err)
			}
			want.Name = name
			checkSession(t, got, want)
			if _, err := st.FindSessionByName(ctx, "org-2", name); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Errorf("found by another organisation: %v", err)
			}
		})
	}
}

// Through returns the steps of ms up to version, the schema as a release
// of that version left it, for a store's migration tests to start from.
func Through(ms []sqlstore.Migration, version int) []sqlstore.Migration {
	var out []sqlstore.Migration
	for _, m := range ms {
		if m.Version <= version {
			out = append(out, m)
		}
	}
	return out
}
