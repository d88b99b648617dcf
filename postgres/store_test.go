package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/sqlstore"
	"github.com/arena-hq/arena/storedoc"
	"github.com/arena-hq/arena/storetest"
)

// The tests need a PostgreSQL server: ARENA_POSTGRES_URL names a database on
// it, as a postgres:// URL, whose role may create schemas. Each store of a
// test gets a new schema of its own, dropped when the test ends, so that
// tests run side by side on one database. Without the variable the tests
// skip, unless ARENA_REQUIRE_POSTGRES=1 (as in CI), where they fail instead:
// a skipped test proves nothing.

func TestStore(t *testing.T) {
	baseURL(t)
	storetest.Run(t, func(t *testing.T) arena.Store {
		return openTest(t, schemaURL(t, newSchema(t)))
	})
}

func TestReopen(t *testing.T) {
	u := schemaURL(t, newSchema(t))
	storetest.RunReopen(t, func(t *testing.T) arena.Store { return openTest(t, u) })
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("invalid url", func(t *testing.T) {
		st, err := Open(ctx, "postgres://arena:s3cret@127.0.0.1:notaport/arena")
		if err == nil {
			st.Close()
		}
		if got := arena.ErrorCode(err); got != arena.EINVALID {
			t.Fatalf("code %q (%v), want %q", got, err, arena.EINVALID)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error %q shows the password", err)
		}
	})

	t.Run("no server", func(t *testing.T) {
		// Port 1 on the loopback address refuses at once.
		st, err := Open(ctx, "postgres://arena:arena@127.0.0.1:1/arena?connect_timeout=5")
		if err == nil {
			st.Close()
			t.Fatal("Open succeeded without a server")
		}
		if got := arena.ErrorCode(err); got != arena.EINTERNAL {
			t.Errorf("code %q (%v), want %q", got, err, arena.EINTERNAL)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		st, err := Open(ctx, u)
		if err == nil {
			st.Close()
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want an error that is context.Canceled", err)
		}
	})

	t.Run("close twice", func(t *testing.T) {
		st := openTest(t, schemaURL(t, newSchema(t)))
		for range 2 {
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	})
}

func TestMigrations(t *testing.T) {
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	later := append(shipped[:len(shipped):len(shipped)], sqlstore.Migration{
		Version: shipped[len(shipped)-1].Version + 1,
		Name:    "9999_session_note.sql",
		SQL:     `ALTER TABLE sessions ADD COLUMN note text NOT NULL DEFAULT ''`,
	})

	t.Run("applied once", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		for range 3 {
			st := openTest(t, u)
			checkVersions(t, st, shipped)
			st.Close()
		}
	})

	t.Run("later migration", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		openTest(t, u).Close()
		// A second ALTER TABLE ... ADD COLUMN would fail, so reopening twice
		// also shows that the new step runs once.
		for range 2 {
			st := openWith(t, u, later)
			checkVersions(t, st, later)
			if _, err := st.pool.Exec(context.Background(), `SELECT note FROM sessions`); err != nil {
				t.Errorf("new column missing: %v", err)
			}
			st.Close()
		}
	})

	t.Run("database newer than build", func(t *testing.T) {
		u := schemaURL(t, newSchema(t))
		openWith(t, u, later).Close()
		if st, err := Open(context.Background(), u); err == nil {
			st.Close()
			t.Fatal("an older build opened a newer schema")
		}
	})

	// Replicas of the control plane that start together open the same
	// database at once, on an empty schema and again after an upgrade. Each
	// step must be applied once, and every replica must start: without the
	// advisory lock the CREATE TABLEs and ALTER TABLE of the replicas collide.
	t.Run("concurrent", func(t *testing.T) {
		const replicas = 8
		u := schemaURL(t, newSchema(t))
		for _, ms := range [][]sqlstore.Migration{shipped, later} {
			var wg sync.WaitGroup
			start := make(chan struct{})
			stores := make([]*Store, replicas)
			errs := make([]error, replicas)
			for i := range replicas {
				wg.Go(func() {
					<-start
					cfg, err := pgxpool.ParseConfig(u)
					if err != nil {
						errs[i] = err
						return
					}
					stores[i], errs[i] = open(context.Background(), cfg, ms)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: Open: %v", i, err)
					continue
				}
				checkVersions(t, stores[i], ms)
				stores[i].Close()
			}
		}
	})

}

// TestMigrateTenants upgrades a database of migration 0001, holding what
// installations of then hold, through 0002: the tokens keep their data, and
// their scopes take the new meaning as in the SQLite store.
func TestMigrateTenants(t *testing.T) {
	ctx := context.Background()
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	u := schemaURL(t, newSchema(t))
	old := openWith(t, u, shipped[:1])
	created, expires := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tokens := []struct {
		id     string
		scopes []string
		want   []string
	}{
		{"empty", []string{}, arena.SessionScopes},
		{"admin", []string{"admin"}, []string{arena.ScopeAdmin, arena.ScopeOperator}},
		{"admin and more", []string{"sessions:read", "admin"}, []string{arena.ScopeSessionsRead, arena.ScopeAdmin, arena.ScopeOperator}},
		{"operator already", []string{"admin", "operator"}, []string{arena.ScopeAdmin, arena.ScopeOperator}},
		{"session scope", []string{"sessions:read"}, []string{arena.ScopeSessionsRead}},
		{"not quite admin", []string{"administrator"}, []string{"administrator"}},
	}
	if _, err := old.pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ('org-1', 'One')`); err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		// Every other token expires, so that both forms of expires_at are carried over.
		var exp *time.Time
		if i%2 == 1 {
			exp = &expires
		}
		if _, err := old.pool.Exec(ctx, `INSERT INTO tokens (id, org_id, name, hash, created_at, expires_at, scopes)
			VALUES ($1, 'org-1', $2, $3, $4, $5, $6)`, tok.id, "token "+tok.id, "hash-"+tok.id, created, exp, tok.scopes); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	st := openTest(t, u)
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
}

// TestErrorCodes checks the mapping of server errors to arena codes beyond
// what the suite reaches: that it goes by SQLSTATE through wrapping, and that
// what is not a constraint stays internal.
func TestErrorCodes(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("executing: %w", &pgconn.PgError{Code: code, Message: "some text that is not looked at"})
	}
	tests := []struct {
		name                           string
		err                            error
		duplicate, missing, unstorable bool
		write                          string
	}{
		{"unique violation", pg("23505"), true, false, false, arena.EINTERNAL},
		{"foreign key violation", pg("23503"), false, true, false, arena.EINTERNAL},
		{"invalid UTF-8", pg("22021"), false, false, true, arena.EINVALID},
		{"NUL in JSON", pg("22P05"), false, false, true, arena.EINVALID},
		{"check violation", pg("23514"), false, false, false, arena.EINTERNAL},
		{"not a server error", errors.New("duplicate key value violates unique constraint"), false, false, false, arena.EINTERNAL},
		{"canceled", context.Canceled, false, false, false, arena.EINTERNAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isDuplicate(tc.err); got != tc.duplicate {
				t.Errorf("isDuplicate = %v, want %v", got, tc.duplicate)
			}
			if got := isMissingParent(tc.err); got != tc.missing {
				t.Errorf("isMissingParent = %v, want %v", got, tc.missing)
			}
			if got := isUnstorable(tc.err); got != tc.unstorable {
				t.Errorf("isUnstorable = %v, want %v", got, tc.unstorable)
			}
			err := writeError(tc.err, "testing")
			if got := arena.ErrorCode(err); got != tc.write {
				t.Errorf("writeError code %q, want %q", got, tc.write)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("writeError(%v) = %v, which does not wrap the cause", tc.err, err)
			}
		})
	}
}

// TestUnstorableStrings checks strings that PostgreSQL's text cannot hold (a
// NUL, bytes that are not UTF-8) and SQLite's can. Such a key is in no row,
// so lookups by it find nothing, as in SQLite; writing one is the caller's
// error, not the store's.
func TestUnstorableStrings(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, schemaURL(t, newSchema(t)))
	if err := st.CreateOrganization(ctx, &arena.Organization{ID: "org-1"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		bad string
		// inDoc is the code of a write of bad in a JSON document. Go's JSON
		// encoder, as in SQLite's store, replaces bytes that are not UTF-8
		// with U+FFFD, so only a NUL (escaped as \u0000) reaches and fails jsonb.
		inDoc string
	}{
		{"nul\x00", arena.EINVALID},
		{"latin1 \xe9t\xe9", ""},
	}
	for _, tc := range tests {
		bad := tc.bad
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			check := func(what string, err error, want string) {
				t.Helper()
				if got := arena.ErrorCode(err); got != want {
					t.Errorf("%s: code %q (%v), want %q", what, got, err, want)
				}
			}
			_, err := st.FindSession(ctx, bad)
			check("FindSession", err, arena.ENOTFOUND)
			_, err = st.FindTokenByHash(ctx, bad)
			check("FindTokenByHash", err, arena.ENOTFOUND)
			for _, q := range []arena.SessionQuery{{OrgID: bad}, {NodeID: bad, ActiveOnly: true}} {
				ss, err := st.ListSessions(ctx, q)
				check(fmt.Sprintf("ListSessions %+v", q), err, "")
				if len(ss) != 0 {
					t.Errorf("ListSessions %+v = %v, want none", q, ss)
				}
			}
			us, err := st.ListUsage(ctx, bad)
			check("ListUsage", err, "")
			if len(us) != 0 {
				t.Errorf("ListUsage = %v, want none", us)
			}
			check("DeleteNode", st.DeleteNode(ctx, bad), "")
			_, err = st.FindOrganization(ctx, bad)
			check("FindOrganization", err, arena.ENOTFOUND)
			users, err := st.ListUsers(ctx, bad)
			check("ListUsers", err, "")
			tokens, err := st.ListTokens(ctx, bad)
			check("ListTokens", err, "")
			apps, err := st.ListApplications(ctx, bad)
			check("ListApplications", err, "")
			if len(users)+len(tokens)+len(apps) != 0 {
				t.Errorf("lists of organization %q = %v, %v, %v; want none", bad, users, tokens, apps)
			}
			check("DeleteUser", st.DeleteUser(ctx, "org-1", bad, time.Now()), arena.ENOTFOUND)
			check("RevokeToken", st.RevokeToken(ctx, "org-1", bad, time.Now()), arena.ENOTFOUND)
			_, err = st.FindApplication(ctx, "org-1", bad)
			check("FindApplication", err, arena.ENOTFOUND)
			check("DeleteApplication", st.DeleteApplication(ctx, "org-1", bad), arena.ENOTFOUND)

			check("CreateOrganization", st.CreateOrganization(ctx, &arena.Organization{ID: bad}), arena.EINVALID)
			s := &arena.Session{ID: "s-" + bad, OrgID: "org-1", State: arena.SessionStarted}
			check("CreateSession with the id", st.CreateSession(ctx, s), arena.EINVALID)
			check("UpsertNode with the id", st.UpsertNode(ctx, &arena.Node{ID: "n-" + bad}), arena.EINVALID)
			s = &arena.Session{ID: "s-1", OrgID: "org-1", State: arena.SessionStarted, Env: map[string]string{"V": bad}}
			check("CreateSession with an env value", st.CreateSession(ctx, s), tc.inDoc)
			check("UpsertNode with a region", st.UpsertNode(ctx, &arena.Node{ID: "n-1", Region: bad}), tc.inDoc)
			check("CreateUser with an email", st.CreateUser(ctx, &arena.User{ID: "u-1", OrgID: "org-1", Email: bad}), arena.EINVALID)
			check("CreateToken naming a user", st.CreateToken(ctx, &arena.Token{ID: "t-1", OrgID: "org-1", UserID: bad, Hash: "h"}), arena.EINVALID)
			check("CreateApplication with the name", st.CreateApplication(ctx, &arena.Application{OrgID: "org-1", Name: bad}), arena.EINVALID)
			app := &arena.Application{OrgID: "org-1", Name: "app-1", Env: map[string]string{"V": bad}}
			check("CreateApplication with an env value", st.CreateApplication(ctx, app), tc.inDoc)
		})
	}
}

// TestConcurrentStop stops one session from many callers at once, as the
// agent's report and a TTL may: one stop wins, and the session and its one
// usage row agree on it. Unlike SQLite's, this store lets the writers run
// side by side, so it is the database's row lock that decides.
func TestConcurrentStop(t *testing.T) {
	const n = 8
	ctx := context.Background()
	st := openTest(t, schemaURL(t, newSchema(t)))
	if err := st.CreateOrganization(ctx, &arena.Organization{ID: "org-1"}); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	running := &arena.Session{ID: "s-1", OrgID: "org-1", State: arena.SessionStarted, ExitCode: -1, CreatedAt: created}
	if err := running.Transition(arena.SessionRunning, created.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, running); err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := running.Clone()
			s.ExitCode = i
			if err := s.Transition(arena.SessionStopped, created.Add(time.Duration(10+i)*time.Second)); err != nil {
				errs[i] = err
				return
			}
			u := &arena.Usage{SessionID: s.ID, OrgID: s.OrgID, Start: s.RunningAt, End: s.StoppedAt, Seconds: s.BilledSeconds(s.StoppedAt)}
			<-start
			errs[i] = st.StopSession(ctx, s, u)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("StopSession %d: %v", i, err)
		}
	}
	usage, err := st.ListUsage(ctx, "org-1")
	if err != nil || len(usage) != 1 {
		t.Fatalf("ListUsage = %v, %v; want one row", usage, err)
	}
	got, err := st.FindSession(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.StoppedAt.Equal(usage[0].End) || got.StoppedAt.Sub(created) != time.Duration(10+got.ExitCode)*time.Second {
		t.Errorf("session stopped at %v with exit code %d, usage ends at %v: not one stop's",
			got.StoppedAt, got.ExitCode, usage[0].End)
	}
}

// TestQueryPlans checks that each filter of ListSessions can be served by the
// index made for it in its order, without a sort. The tables of a test are
// nearly empty, where a scan is cheapest, so scans and sorts are disabled
// for the check: the planner then uses them only if no index serves.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, schemaURL(t, newSchema(t)))
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
			var plan []string
			err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off`); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, "EXPLAIN "+q, args...)
				if err != nil {
					return err
				}
				plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(plan) == 0 || !strings.Contains(plan[0], "Index Scan using "+tc.index+" on sessions") {
				t.Errorf("plan:\n%s\nwant an index scan of %s and nothing else", strings.Join(plan, "\n"), tc.index)
			}
			for _, line := range plan[1:] {
				if !strings.HasPrefix(strings.TrimSpace(line), "Index Cond:") && !strings.HasPrefix(strings.TrimSpace(line), "Filter:") {
					t.Errorf("plan:\n%s\nwant an index scan of %s and nothing else", strings.Join(plan, "\n"), tc.index)
					break
				}
			}
		})
	}
}

// baseURL returns the URL of the test database, or ends the test if there is none.
func baseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ARENA_POSTGRES_URL")
	if u == "" {
		if os.Getenv("ARENA_REQUIRE_POSTGRES") == "1" {
			tb.Fatal("ARENA_REQUIRE_POSTGRES=1 but ARENA_POSTGRES_URL is not set")
		}
		tb.Skip("ARENA_POSTGRES_URL is not set")
	}
	return u
}

// newSchema creates an empty schema for one test and drops it, with all it
// holds, when the test ends. It returns the schema's name.
func newSchema(tb testing.TB) string {
	tb.Helper()
	base := baseURL(tb)
	b := make([]byte, 8)
	rand.Read(b)
	name := "arena_test_" + hex.EncodeToString(b)
	admin(tb, base, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize())
	tb.Cleanup(func() { admin(tb, base, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`) })
	return name
}

// admin runs one statement on a connection of its own.
func admin(tb testing.TB, base, sql string) {
	tb.Helper()
	ctx := context.Background() // also in cleanups, which run after tb.Context() ends
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connecting to ARENA_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// schemaURL returns the test database's URL with schema as the search_path,
// so that a store opened on it keeps its tables there.
func schemaURL(tb testing.TB, schema string) string {
	tb.Helper()
	u, err := url.Parse(baseURL(tb))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("ARENA_POSTGRES_URL must be a postgres:// URL (%v)", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openTest opens a store on u and closes it when the test ends.
func openTest(tb testing.TB, u string) *Store {
	tb.Helper()
	st, err := Open(context.Background(), u)
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

// openWith opens a store on u with the migrations ms instead of the shipped
// ones, and closes it when the test ends.
func openWith(tb testing.TB, u string, ms []sqlstore.Migration) *Store {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := open(context.Background(), cfg, ms)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// checkVersions checks that exactly the migrations ms are recorded as applied.
func checkVersions(tb testing.TB, st *Store, ms []sqlstore.Migration) {
	tb.Helper()
	var n, newest int
	if err := st.pool.QueryRow(context.Background(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &newest); err != nil {
		tb.Fatal(err)
	}
	if n != len(ms) || newest != ms[len(ms)-1].Version {
		tb.Errorf("schema_migrations has %d rows up to version %d, want %d up to %d", n, newest, len(ms), ms[len(ms)-1].Version)
	}
}

// TestMigrateTokenIDs upgrades a database of migration 0006 whose bootstrap
// tokens are named after a prefix of their secret's hash: those get random
// ids and keep working, and every other token keeps its id.
func TestMigrateTokenIDs(t *testing.T) {
	st := upgrade(t, 6, func(ctx context.Context, old *Store) {
		created := storetest.LegacyTokensCreated
		if _, err := old.pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ('org-1', 'One')`); err != nil {
			t.Fatal(err)
		}
		for _, tok := range storetest.LegacyTokens {
			if _, err := old.pool.Exec(ctx, `INSERT INTO tokens (id, org_id, name, hash, created_at, scopes)
				VALUES ($1, 'org-1', $2, $3, $4, $5)`, tok.ID, tok.Name, arena.HashToken(tok.Secret), created, []string{"admin", "operator"}); err != nil {
				t.Fatal(err)
			}
		}
	})
	storetest.CheckMigratedTokens(t, st)
}

// TestMigrateSessionNames upgrades a schema of migration 0008 with a session
// stored before ids were per organisation: it is named by its id, and every
// session is found by its organisation and name.
func TestMigrateSessionNames(t *testing.T) {
	st := upgrade(t, 8, func(ctx context.Context, old *Store) {
		for _, org := range []string{"org-1", "org-2"} {
			if _, err := old.pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $1)`, org); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range storetest.LegacySessions() {
			if _, err := old.pool.Exec(ctx, `INSERT INTO sessions (id, org_id, node_id, state, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)`,
				s.ID, s.OrgID, s.NodeID, string(s.State), s.CreatedAt, storedoc.FromSession(s)); err != nil {
				t.Fatal(err)
			}
		}
	})
	storetest.CheckMigratedSessions(t, st)
}

// TestSessionByNamePlan: a session is found by its name through the key
// derived from it, or the partial index of the names kept, never a scan.
func TestSessionByNamePlan(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, schemaURL(t, newSchema(t)))
	q, args := sqlstore.SessionByNameQuery("o", "n", dollar)
	var plan []string
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if strings.Contains(joined, "Seq Scan") || !strings.Contains(joined, "using sessions_pkey") || !strings.Contains(joined, "using sessions_org_name") {
		t.Errorf("plan:\n%s\nwant the primary key and the index of names, and no scan", joined)
	}
}

// upgrade makes a schema as migration version left it, has fill write to
// it as that release would have, then opens it as this build does,
// checking that every migration ran.
func upgrade(t *testing.T, version int, fill func(ctx context.Context, old *Store)) *Store {
	t.Helper()
	shipped, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	u := schemaURL(t, newSchema(t))
	old := openWith(t, u, storetest.Through(shipped, version))
	fill(context.Background(), old)
	old.Close()
	st := openTest(t, u)
	checkVersions(t, st, shipped)
	return st
}
