package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
	"github.com/arena-hq/arena/storedoc"
	"github.com/arena-hq/arena/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) arena.Store {
		return openTest(t, filepath.Join(t.TempDir(), "arena.db"))
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "arena.db")
	storetest.RunReopen(t, func(t *testing.T) arena.Store { return openTest(t, path) })
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("creates directories", func(t *testing.T) {
		st := openTest(t, filepath.Join(t.TempDir(), "a", "b", "arena.db"))
		if err := st.CreateOrganization(ctx, &arena.Organization{ID: "org-1"}); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
	})

	t.Run("pragmas", func(t *testing.T) {
		st := openTest(t, filepath.Join(t.TempDir(), "arena.db"))
		tests := []struct {
			pragma string
			want   string
		}{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "1"}, // NORMAL
			{"busy_timeout", "5000"},
		}
		for _, tc := range tests {
			t.Run(tc.pragma, func(t *testing.T) {
				for name, db := range map[string]*sql.DB{"writer": st.w, "reader": st.r} {
					var got string
					if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if got != tc.want {
						t.Errorf("%s: %s = %s, want %s", name, tc.pragma, got, tc.want)
					}
				}
			})
		}
		t.Run("readers cannot write", func(t *testing.T) {
			if _, err := st.r.ExecContext(ctx, `INSERT INTO organizations (id, name) VALUES ('x', 'x')`); err == nil {
				t.Fatal("a write through the read pool succeeded")
			}
		})
	})

	t.Run("rejects paths", func(t *testing.T) {
		tests := []struct{ name, path string }{
			{"empty", ""},
			{"in memory", ":memory:"},
			{"query string", filepath.Join(t.TempDir(), "a?b.db")},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, err := Open(ctx, tc.path)
				if err == nil {
					st.Close()
				}
				if got := arena.ErrorCode(err); got != arena.EINVALID {
					t.Errorf("Open(%q): code %q (%v), want %q", tc.path, got, err, arena.EINVALID)
				}
			})
		}
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	later := append(shipped[:len(shipped):len(shipped)], sqlstore.Migration{
		Version: shipped[len(shipped)-1].Version + 1,
		Name:    "9999_session_note.sql",
		SQL:     `ALTER TABLE sessions ADD COLUMN note TEXT NOT NULL DEFAULT ''`,
	})

	t.Run("applied once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "arena.db")
		for range 3 {
			st := openTest(t, path)
			checkVersions(t, st, shipped)
			st.Close()
		}
	})

	t.Run("later migration", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "arena.db")
		openTest(t, path).Close()
		// A second ALTER TABLE ... ADD COLUMN would fail, so reopening twice
		// also shows that the new step runs once.
		for range 2 {
			st, err := open(ctx, path, later)
			if err != nil {
				t.Fatalf("open with a later migration: %v", err)
			}
			checkVersions(t, st, later)
			if _, err := st.w.ExecContext(ctx, `SELECT note FROM sessions`); err != nil {
				t.Errorf("new column missing: %v", err)
			}
			st.Close()
		}
	})

	t.Run("database newer than build", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "arena.db")
		st, err := open(ctx, path, later)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		st.Close()
		if st, err := Open(ctx, path); err == nil {
			st.Close()
			t.Fatal("an older build opened a newer schema")
		}
	})

}

// TestMigrateTenants upgrades a database of migration 0004, holding what
// installations of then hold, through 0005: the tokens are rebuilt with
// their data, and their scopes take the new meaning.
func TestMigrateTenants(t *testing.T) {
	ctx := context.Background()
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	before := storetest.Through(shipped, 4)
	path := filepath.Join(t.TempDir(), "arena.db")
	old, err := open(ctx, path, before)
	if err != nil {
		t.Fatalf("open at 0004: %v", err)
	}
	created, expires := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tokens := []struct {
		id, scopes string
		want       []string
	}{
		{"empty", "", arena.SessionScopes},
		{"blank", " ", arena.SessionScopes},
		{"admin", "admin", []string{arena.ScopeAdmin, arena.ScopeOperator}},
		{"admin and more", "sessions:read admin", []string{arena.ScopeSessionsRead, arena.ScopeAdmin, arena.ScopeOperator}},
		{"operator already", "admin operator", []string{arena.ScopeAdmin, arena.ScopeOperator}},
		{"session scope", "sessions:read", []string{arena.ScopeSessionsRead}},
		{"not quite admin", "administrator", []string{"administrator"}},
	}
	if _, err := old.w.ExecContext(ctx, `INSERT INTO organizations (id, name) VALUES ('org-1', 'One')`); err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		// Every other token expires, so that both forms of expires_at are carried over.
		exp := int64(0)
		if i%2 == 1 {
			exp = expires.UnixNano()
		}
		if _, err := old.w.ExecContext(ctx, `INSERT INTO tokens (id, org_id, name, hash, created_at, expires_at, scopes)
			VALUES (?, 'org-1', ?, ?, ?, ?, ?)`, tok.id, "token "+tok.id, "hash-"+tok.id, created.UnixNano(), exp, tok.scopes); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	st := openTest(t, path)
	checkVersions(t, st, shipped)
	for i, tok := range tokens {
		t.Run(tok.id, func(t *testing.T) {
			got, err := st.FindTokenByHash(ctx, "hash-"+tok.id)
			if err != nil {
				t.Fatalf("FindTokenByHash: %v", err)
			}
			want := arena.Token{ID: tok.id, OrgID: "org-1", Name: "token " + tok.id, Hash: "hash-" + tok.id,
				CreatedAt: created, Scopes: tok.want}
			if i%2 == 1 {
				want.ExpiresAt = expires
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("token = %+v, want %+v", *got, want)
			}
		})
	}
	t.Run("organization", func(t *testing.T) {
		got, err := st.FindOrganization(ctx, "org-1")
		if err != nil {
			t.Fatal(err)
		}
		if want := (arena.Organization{ID: "org-1", Name: "One", Environment: arena.EnvProduction}); *got != want {
			t.Errorf("organization = %+v, want %+v", *got, want)
		}
	})
	t.Run("tokens listed", func(t *testing.T) {
		got, err := st.ListTokens(ctx, "org-1")
		if err != nil || len(got) != len(tokens) {
			t.Fatalf("ListTokens = %d tokens, %v; want %d", len(got), err, len(tokens))
		}
	})
	t.Run("consistent", func(t *testing.T) {
		var problems []string
		for _, pragma := range []string{"foreign_key_check", "integrity_check"} {
			rows, err := st.r.QueryContext(ctx, "PRAGMA "+pragma)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				cols, _ := rows.Columns()
				vals := make([]any, len(cols))
				for i := range vals {
					vals[i] = new(any)
				}
				if err := rows.Scan(vals...); err != nil {
					t.Fatal(err)
				}
				if line := fmt.Sprint(*(vals[0].(*any))); pragma != "integrity_check" || line != "ok" {
					problems = append(problems, pragma+": "+line)
				}
			}
			rows.Close()
		}
		if len(problems) > 0 {
			t.Errorf("the migrated database is inconsistent: %q", problems)
		}
	})
}

// TestQueryPlans checks that each filter of ListSessions reads the index made
// for it and never sorts: a small change to the query or an index silently
// turns a lookup into a scan of every session ever run.
func TestQueryPlans(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "arena.db"))
	tests := []struct {
		name  string
		query arena.SessionQuery
		index string
	}{
		{"organization", arena.SessionQuery{OrgID: "o"}, "sessions_org"},
		{"node", arena.SessionQuery{NodeID: "n"}, "sessions_node"},
		{"active", arena.SessionQuery{ActiveOnly: true}, "sessions_active"},
		{"organization active", arena.SessionQuery{OrgID: "o", ActiveOnly: true}, "sessions_org_active"},
		{"node active", arena.SessionQuery{NodeID: "n", ActiveOnly: true}, "sessions_node_active"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, args := sessionQuery(tc.query)
			plan := queryPlan(t, st, q, args)
			if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH sessions USING INDEX "+tc.index+" ") &&
				plan[0] != "SCAN sessions USING INDEX "+tc.index {
				t.Errorf("plan %q, want a single use of index %s", plan, tc.index)
			}
		})
	}
}

// The store keeps nanoseconds, more than the suite asks of every store.
func TestNanosecondTimes(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, filepath.Join(t.TempDir(), "arena.db"))
	if err := st.CreateOrganization(ctx, &arena.Organization{ID: "org-1"}); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	s := &arena.Session{ID: "s-1", OrgID: "org-1", State: arena.SessionRunning,
		CreatedAt: created, RunningAt: created.Add(1), UpdatedAt: created.Add(2)}
	if err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.FindSession(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt != s.CreatedAt || got.RunningAt != s.RunningAt || got.UpdatedAt != s.UpdatedAt {
		t.Errorf("times = %v, %v, %v; want %v, %v, %v",
			got.CreatedAt, got.RunningAt, got.UpdatedAt, s.CreatedAt, s.RunningAt, s.UpdatedAt)
	}
}

func openTest(tb testing.TB, path string) *Store {
	tb.Helper()
	st, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return st
}

// checkVersions checks that exactly the migrations ms are recorded as applied.
func checkVersions(tb testing.TB, st *Store, ms []sqlstore.Migration) {
	tb.Helper()
	var n, newest int
	if err := st.r.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &newest); err != nil {
		tb.Fatal(err)
	}
	if n != len(ms) || newest != ms[len(ms)-1].Version {
		tb.Errorf("schema_migrations has %d rows up to version %d, want %d up to %d", n, newest, len(ms), ms[len(ms)-1].Version)
	}
}

// TestMigrateTokenIDs upgrades a database of migration 0008 whose bootstrap
// tokens are named after a prefix of their secret's hash: those get random
// ids and keep working, and every other token keeps its id.
func TestMigrateTokenIDs(t *testing.T) {
	st := upgrade(t, 8, func(ctx context.Context, old *Store) {
		created := storetest.LegacyTokensCreated
		if _, err := old.w.ExecContext(ctx, `INSERT INTO organizations (id, name, environment, created_at) VALUES ('org-1', 'One', 'production', 0)`); err != nil {
			t.Fatal(err)
		}
		for _, tok := range storetest.LegacyTokens {
			if _, err := old.w.ExecContext(ctx, `INSERT INTO tokens (id, org_id, name, hash, created_at, expires_at, scopes)
				VALUES (?, 'org-1', ?, ?, ?, 0, 'admin operator')`, tok.ID, tok.Name, arena.HashToken(tok.Secret), created.UnixNano()); err != nil {
				t.Fatal(err)
			}
		}
	})
	storetest.CheckMigratedTokens(t, st)
}

// TestMigrateSessionNames upgrades a database of migration 0009 with a
// session stored before ids were per organisation: it is named by its id,
// and every session is found by its organisation and name.
func TestMigrateSessionNames(t *testing.T) {
	st := upgrade(t, 9, func(ctx context.Context, old *Store) {
		for _, org := range []string{"org-1", "org-2"} {
			if _, err := old.w.ExecContext(ctx, `INSERT INTO organizations (id, name, environment, created_at) VALUES (?, ?, 'production', 0)`, org, org); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range storetest.LegacySessions() {
			doc, err := encodeSession(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := old.w.ExecContext(ctx, `INSERT INTO sessions (id, org_id, node_id, state, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)`,
				s.ID, s.OrgID, s.NodeID, string(s.State), storedoc.Nanos(s.CreatedAt), doc); err != nil {
				t.Fatal(err)
			}
		}
	})
	storetest.CheckMigratedSessions(t, st)
}

// TestSessionByNamePlan: a session is found by its name through the key
// derived from it, or the partial index of the names kept, never a scan.
func TestSessionByNamePlan(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "arena.db"))
	q, args := sqlstore.SessionByNameQuery("o", "n", func(n int) string { return "?" + strconv.Itoa(n) })
	joined := strings.Join(queryPlan(t, st, q, args), "\n")
	if strings.Contains(joined, "SCAN sessions") || !strings.Contains(joined, "USING INDEX sessions_org_name") ||
		!strings.Contains(joined, "USING INDEX sqlite_autoindex_sessions_1 (id=?)") {
		t.Errorf("plan:\n%s\nwant the primary key and the index of names, and no scan", joined)
	}
}

// upgrade makes a database of the schema as migration version left it,
// has fill write to it as that release would have, then opens it as this
// build does, checking that every migration ran.
func upgrade(t *testing.T, version int, fill func(ctx context.Context, old *Store)) *Store {
	t.Helper()
	ctx := context.Background()
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "arena.db")
	old, err := open(ctx, path, storetest.Through(shipped, version))
	if err != nil {
		t.Fatalf("open at %04d: %v", version, err)
	}
	fill(ctx, old)
	old.Close()
	st := openTest(t, path)
	checkVersions(t, st, shipped)
	return st
}

// queryPlan returns the details of SQLite's plan of q, a line each step.
func queryPlan(tb testing.TB, st *Store, q string, args []any) []string {
	tb.Helper()
	rows, err := st.r.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}
