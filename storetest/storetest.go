// Package storetest is the behaviour suite of arena.Store. Every
// implementation runs it from its own tests, so that the SQLite store and any
// later one (PostgreSQL, say) are interchangeable behind the interface.
//
// Beyond the comments of arena.Store, the suite holds stores to these rules:
// sessions, users, tokens, applications and usage refer to an organisation
// that exists (ENOTFOUND otherwise); a second StopSession of a session
// changes nothing and succeeds; times come back in UTC with at least
// millisecond precision (the suite's times are whole milliseconds); nil and
// empty maps and slices may come back as one another; every field a caller
// sets comes back as it was but an application's Registry, which comes back
// nil. And for tenants: an organisation never reaches another's users,
// tokens or applications (ENOTFOUND, as for ones that do not exist); lists
// of an unknown organisation are empty, not ENOTFOUND; revoking at the zero
// time, which stands for "not revoked", is EINVALID; a removed user's tokens
// stay, revoked and naming no user; UpdateApplication keeps CreatedAt, as
// UpdateSession does.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// Run runs the suite, grouped by the store interface each test holds the
// store to. open must return a new, empty store on each call and close it
// when its test ends (t.Cleanup); it is called from parallel subtests. The
// groups take the whole store: sessions, nodes' sessions and webhooks
// belong to organisations, which a test creates first.
func Run(t *testing.T, open func(t *testing.T) arena.Store) {
	type test struct {
		name string
		run  func(t *testing.T, s arena.Store)
	}
	groups := []struct {
		iface string
		tests []test
	}{
		{"TenantStore", []test{
			{"CreateOrganization", testCreateOrganization},
			{"Organizations", testOrganizations},
			{"OrganizationQuota", testOrganizationQuota},
			{"Users", testUsers},
			{"DeleteUser", testDeleteUser},
			{"Tokens", testTokens},
			{"TokenFields", testTokenFields},
			{"ListTokens", testListTokens},
			{"RevokeToken", testRevokeToken},
			{"ApplicationRoundTrip", testApplicationRoundTrip},
			{"CreateApplication", testCreateApplication},
			{"UpdateApplication", testUpdateApplication},
			{"FindApplication", testFindApplication},
			{"ListApplications", testListApplications},
			{"DeleteApplication", testDeleteApplication},
		}},
		{"SessionStore", []test{
			{"SessionRoundTrip", testSessionRoundTrip},
			{"CreateSession", testCreateSession},
			{"FindSessionNotFound", testFindSessionNotFound},
			{"FindSessionByName", testFindSessionByName},
			{"UpdateSession", testUpdateSession},
			{"StopSession", testStopSession},
			{"ListSessions", testListSessions},
			{"ListUsage", testListUsage},
			{"ConcurrentCreate", testConcurrentCreate},
			{"ConcurrentLifecycle", testConcurrentLifecycle},
			{"CanceledContext", testCanceledContext},
		}},
		{"NodeStore", []test{
			{"Nodes", testNodes},
		}},
		{"MachineStore", []test{
			{"Machines", testMachines},
			{"JoinTokens", testJoinTokens},
		}},
		{"ScalingStore", []test{
			{"ScalingPolicies", testScalingPolicies},
			{"CloudProviders", testCloudProviders},
		}},
		{"WebhookStore", []test{
			{"WebhookRoundTrip", testWebhookRoundTrip},
			{"CreateWebhook", testCreateWebhook},
			{"ListWebhooks", testListWebhooks},
			{"DeleteWebhook", testDeleteWebhook},
			{"WebhooksCanceledContext", testWebhooksCanceledContext},
			{"WebhookDeliveries", testWebhookDeliveries},
		}},
	}
	for _, g := range groups {
		t.Run(g.iface, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, open(t))
				})
			}
		})
	}
}

// RunReopen checks that everything a store writes survives a restart. open
// must return a store on the same data each time it is called within one
// test, empty the first time. A store that is an io.Closer is closed before
// the next one is opened, so its Close must allow the second call that
// open's cleanup then makes.
func RunReopen(t *testing.T, open func(t *testing.T) arena.Store) {
	ctx := context.Background()
	s := open(t)
	createOrg(t, s, "org-1")
	tok := newToken("tok-1", "org-1")
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	active := runningSession("s-active", "org-1", "node-1", at(1))
	createSession(t, s, active)
	stopped := runningSession("s-stopped", "org-1", "node-1", at(2))
	createSession(t, s, stopped)
	u := stop(t, s, stopped, at(60_000))
	org := filled[arena.Organization](t)
	if err := s.CreateOrganization(ctx, &org); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	user := newUser("u-1", "org-1", "alice@example.com", at(1))
	createUser(t, s, user)
	userTok := newUserToken("tok-u", user, at(1))
	createToken(t, s, userTok)
	if err := s.RevokeToken(ctx, "org-1", userTok.ID, at(2_000)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	userTok.RevokedAt = at(2_000)
	app := newApplication("org-1", "shooter", at(1))
	createApplication(t, s, app)
	quota := arena.Quota{MaxSessions: 7, MaxMilliCPU: 3500}
	if err := s.SetOrganizationQuota(ctx, "org-1", quota, arena.SourceConfig); err != nil {
		t.Fatalf("SetOrganizationQuota: %v", err)
	}

	want := []*arena.Session{active, stopped}
	for i := range 3 {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		s = open(t)
		t.Run(fmt.Sprintf("reopen %d", i+1), func(t *testing.T) {
			got, err := s.FindTokenByHash(ctx, tok.Hash)
			if err != nil {
				t.Fatalf("FindTokenByHash: %v", err)
			}
			equal(t, "token", normToken(got), normToken(tok))
			checkSessions(t, list(t, s, arena.SessionQuery{}), want...)
			checkUsage(t, listUsage(t, s, "org-1"), u)
			gotOrg, err := s.FindOrganization(ctx, org.ID)
			if err != nil {
				t.Fatalf("FindOrganization: %v", err)
			}
			equal(t, "organization", normOrg(gotOrg), normOrg(&org))
			if o, err := s.FindOrganization(ctx, "org-1"); err != nil || o.Quota != quota || o.QuotaSource != arena.SourceConfig {
				t.Errorf("org-1 after reopening: %+v, %v; want quota %+v from the config", o, err, quota)
			}
			checkUsers(t, listUsers(t, s, "org-1"), user)
			checkTokens(t, listTokens(t, s, "org-1"), tok, userTok)
			checkApplication(t, findApplication(t, s, "org-1", app.Name), withoutRegistry(app))
			// The constraints came back too.
			checkCode(t, s.CreateSession(ctx, active), arena.ECONFLICT)
			checkCode(t, s.CreateToken(ctx, newToken("tok-2", "org-1", tok.Hash)), arena.ECONFLICT)
			checkCode(t, s.CreateUser(ctx, newUser("u-2", "org-1", user.Email, at(3))), arena.ECONFLICT)
			checkCode(t, s.CreateApplication(ctx, app), arena.ECONFLICT)
			stray := newToken("tok-3", org.ID)
			stray.UserID = user.ID // of org-1
			checkCode(t, s.CreateToken(ctx, stray), arena.ENOTFOUND)
			if err := s.StopSession(ctx, stopped, u); err != nil {
				t.Fatalf("StopSession again: %v", err)
			}
			checkUsage(t, listUsage(t, s, "org-1"), u)
			// And it still takes writes, for the next round to find.
			later := newSession(fmt.Sprintf("s-after-%d", i), "org-1", "node-2", at(1_000+i))
			createSession(t, s, later)
			want = append(want, later)
		})
	}
}

func testCreateOrganization(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	tests := []struct {
		name string
		org  arena.Organization
		code string
	}{
		{"new", arena.Organization{ID: "org-2", Name: "Two"}, ""},
		{"duplicate id", arena.Organization{ID: "org-1", Name: "Another"}, arena.ECONFLICT},
		{"empty name", arena.Organization{ID: "org-3"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCode(t, s.CreateOrganization(context.Background(), &tc.org), tc.code)
		})
	}
}

func testTokens(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	expiring := newToken("tok-1", "org-1")
	expiring.ExpiresAt = at(86_400_000)
	expiring.Scopes = []string{arena.ScopeAdmin, "sessions:read"}
	forever := newToken("tok-2", "org-1")
	for _, tok := range []*arena.Token{expiring, forever} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken %s: %v", tok.ID, err)
		}
	}

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name  string
			token *arena.Token
			code  string
		}{
			{"new", newToken("tok-3", "org-1"), ""},
			{"duplicate id", newToken("tok-1", "org-1"), arena.ECONFLICT},
			{"duplicate hash", newToken("tok-4", "org-1", expiring.Hash), arena.ECONFLICT},
			{"unknown organization", newToken("tok-5", "org-nope"), arena.ENOTFOUND},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.CreateToken(ctx, tc.token), tc.code)
			})
		}
	})

	t.Run("find by hash", func(t *testing.T) {
		tests := []struct {
			name string
			hash string
			want *arena.Token
			code string
		}{
			{"expiring", expiring.Hash, expiring, ""},
			{"without expiry", forever.Hash, forever, ""},
			{"unknown", arena.HashToken("no such secret"), nil, arena.ENOTFOUND},
			{"empty", "", nil, arena.ENOTFOUND},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.FindTokenByHash(ctx, tc.hash)
				checkCode(t, err, tc.code)
				if tc.want != nil && got != nil {
					checkUTC(t, "CreatedAt", got.CreatedAt)
					checkUTC(t, "ExpiresAt", got.ExpiresAt)
					equal(t, "token", normToken(got), normToken(tc.want))
				}
			})
		}
	})
}

func testSessionRoundTrip(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")

	full := runningSession("full", "org-1", "node-1", at(1))
	full.Env["QUOTED"] = `it's "quoted", ünïcödé and a \ backslash`
	full.Args = append(full.Args, "", "two words")
	full.Labels["empty"] = ""
	transition(t, full, arena.SessionUnreachable, at(3_500_000))
	full.UnreachableSince = at(3_499_000)
	transition(t, full, arena.SessionStopping, at(3_600_000))
	transition(t, full, arena.SessionStopped, at(3_600_123))
	full.StopReason = arena.StopCrashLoop
	full.ExitCode = 137
	full.Restarts = 5

	empty := newSession("empty-collections", "org-1", "node-1", at(2))
	empty.Ports, empty.Args, empty.Players = []arena.Port{}, []string{}, []string{}
	empty.Env, empty.Labels = map[string]string{}, map[string]string{}

	tests := []struct {
		name    string
		session *arena.Session
	}{
		{"fully populated", full},
		{"zero values", &arena.Session{ID: "zero", OrgID: "org-1", State: arena.SessionStarted}},
		{"empty collections", empty},
		{"limits and external id", func() *arena.Session {
			s := newSession("limited", "org-1", "node-1", at(4))
			s.Limits, s.ExternalID = arena.Resources{MilliCPU: 3000, MemoryMB: 4096}, "match-42"
			return s
		}()},
		{"host network", func() *arena.Session {
			s := newSession("host-net", "org-1", "node-2", at(3))
			s.Network, s.TTL, s.Restart, s.ExitCode = arena.NetworkHost, 0, false, 0
			return s
		}()},
		// Every field set, so that a field added to arena.Session and not
		// stored fails here.
		{"every field", func() *arena.Session {
			x := filled[arena.Session](t)
			x.OrgID, x.State, x.StopReason, x.Network = "org-1", arena.SessionRunning, "", arena.NetworkBridge
			return &x
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			createSession(t, s, tc.session)
			checkSession(t, find(t, s, tc.session.ID), tc.session)
		})
	}
}

func testCreateSession(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	first := newSession("s-1", "org-1", "node-1", at(1))
	createSession(t, s, first)

	clash := newSession("s-1", "org-1", "node-2", at(2))
	clash.Image = "something-else:latest"
	tests := []struct {
		name    string
		session *arena.Session
		code    string
	}{
		{"new", newSession("s-2", "org-1", "node-1", at(3)), ""},
		{"duplicate id", clash, arena.ECONFLICT},
		{"unknown organization", newSession("s-3", "org-nope", "node-1", at(4)), arena.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCode(t, s.CreateSession(ctx, tc.session), tc.code)
		})
	}
	t.Run("first kept", func(t *testing.T) {
		checkSession(t, find(t, s, "s-1"), first)
		_, err := s.FindSession(ctx, "s-3")
		checkCode(t, err, arena.ENOTFOUND)
	})
}

func testFindSessionNotFound(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	createSession(t, s, newSession("s-1", "org-1", "node-1", at(1)))
	for _, id := range []string{"s-2", "", "S-1", "s-1 "} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			got, err := s.FindSession(context.Background(), id)
			checkCode(t, err, arena.ENOTFOUND)
			if got != nil {
				t.Errorf("FindSession(%q) = %+v, want nil", id, got)
			}
		})
	}
}

// testFindSessionByName: an organisation's session is found by its name
// alone, by that organisation alone, stopped or not, whether its key is the
// one derived from its name (SessionKey) or another; a name is one session
// per organisation, and a session stored without one is named by its id.
func testFindSessionByName(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	mine := newSession("s-1", "org-1", "node-1", at(1))
	mine.Name = "match"
	theirs := newSession("s-2", "org-2", "node-1", at(2))
	theirs.Name = "match"
	bare := newSession("s-3", "org-1", "node-1", at(3))
	bare.Name = ""
	derived := newSession(arena.SessionKey("org-1", "derived"), "org-1", "node-1", at(4))
	derived.Name = "derived"
	for _, sess := range []*arena.Session{mine, theirs, bare, derived} {
		createSession(t, s, sess)
	}
	stopped := mine.Clone()
	transition(t, stopped, arena.SessionStopped, at(10))
	if err := s.StopSession(ctx, stopped, &arena.Usage{SessionID: stopped.ID, OrgID: stopped.OrgID, Application: stopped.Application,
		Location: stopped.Location, Resources: stopped.Resources}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, org, id string
		want          *arena.Session
	}{
		{"stopped", "org-1", "match", stopped},
		{"same name, another organisation", "org-2", "match", theirs},
		{"stored without a name", "org-1", "s-3", bare},
		{"keyed by its name", "org-1", "derived", derived},
		{"keyed by its name, another organisation", "org-2", "derived", nil},
		{"by its key", "org-1", "s-1", nil},
		{"unknown", "org-1", "nope", nil},
		{"empty", "org-1", "", nil},
		{"another organisation's", "org-2", "s-3", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindSessionByName(ctx, tc.org, tc.id)
			if tc.want == nil {
				checkCode(t, err, arena.ENOTFOUND)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkSession(t, got, tc.want)
		})
	}
	t.Run("a name is one session", func(t *testing.T) {
		again := newSession("s-4", "org-1", "node-2", at(4))
		again.Name = "match"
		checkCode(t, s.CreateSession(ctx, again), arena.ECONFLICT)
	})
}

func testUpdateSession(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	orig := newSession("s-1", "org-1", "node-1", at(1))
	createSession(t, s, orig)

	t.Run("overwrites mutable fields", func(t *testing.T) {
		u := orig.Clone()
		transition(t, u, arena.SessionRunning, at(5_000))
		u.NodeID, u.Host = "node-2", "198.51.100.9"
		u.Ports = []arena.Port{{Protocol: arena.TCP, Container: 80, Host: 31000}}
		u.Players = append(u.Players, "carol")
		u.Env, u.Labels = nil, map[string]string{"new": "label"}
		u.Restarts, u.ExitCode = 2, 1
		if err := s.UpdateSession(ctx, u); err != nil {
			t.Fatalf("UpdateSession: %v", err)
		}
		checkSession(t, find(t, s, "s-1"), u)
	})

	t.Run("keeps organization and creation time", func(t *testing.T) {
		want := find(t, s, "s-1")
		u := want.Clone()
		u.OrgID, u.CreatedAt = "org-2", at(999_999)
		if err := s.UpdateSession(ctx, u); err != nil {
			t.Fatalf("UpdateSession: %v", err)
		}
		checkSession(t, find(t, s, "s-1"), want)
	})

	t.Run("not found", func(t *testing.T) {
		checkCode(t, s.UpdateSession(ctx, newSession("s-nope", "org-1", "node-1", at(1))), arena.ENOTFOUND)
		_, err := s.FindSession(ctx, "s-nope")
		checkCode(t, err, arena.ENOTFOUND)
	})
}

func testStopSession(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	running := runningSession("s-1", "org-1", "node-1", at(1))
	createSession(t, s, running)

	var first *arena.Session
	var usage *arena.Usage
	t.Run("stops and records usage", func(t *testing.T) {
		first = running.Clone()
		usage = stop(t, s, first, at(90_500))
		checkSession(t, find(t, s, "s-1"), first)
		checkUsage(t, listUsage(t, s, "org-1"), usage)
	})

	t.Run("second stop is a no-op", func(t *testing.T) {
		again := running.Clone()
		again.StopReason = arena.StopLost
		transition(t, again, arena.SessionStopped, at(120_000))
		if err := s.StopSession(ctx, again, usageOf(again)); err != nil {
			t.Fatalf("second StopSession: %v", err)
		}
		checkSession(t, find(t, s, "s-1"), first)
		checkUsage(t, listUsage(t, s, "org-1"), usage)
	})

	t.Run("unknown session", func(t *testing.T) {
		ghost := runningSession("s-ghost", "org-1", "node-1", at(1))
		transition(t, ghost, arena.SessionStopped, at(2_000))
		checkCode(t, s.StopSession(ctx, ghost, usageOf(ghost)), arena.ENOTFOUND)
		checkUsage(t, listUsage(t, s, "org-1"), usage)
	})

	t.Run("atomic", func(t *testing.T) {
		// The usage names an organisation that does not exist, so recording it
		// fails after the session could have been written: neither may stay.
		other := runningSession("s-2", "org-1", "node-1", at(2))
		createSession(t, s, other)
		stopped := other.Clone()
		transition(t, stopped, arena.SessionStopped, at(10_000))
		u := usageOf(stopped)
		u.OrgID = "org-nope"
		if err := s.StopSession(ctx, stopped, u); err == nil {
			t.Fatal("StopSession with a usage of an unknown organisation succeeded")
		}
		checkSession(t, find(t, s, "s-2"), other)
		checkUsage(t, listUsage(t, s, "org-1"), usage)
		checkUsage(t, listUsage(t, s, "org-nope"))
	})

	t.Run("usage of another session", func(t *testing.T) {
		other := find(t, s, "s-2")
		u := usageOf(other)
		u.SessionID = "s-1"
		checkCode(t, s.StopSession(ctx, other, u), arena.EINVALID)
		checkUsage(t, listUsage(t, s, "org-1"), usage)
	})
}

func testListSessions(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-a")
	createOrg(t, s, "org-b")
	a1 := newSession("a1", "org-a", "n1", at(2))
	a1.State = arena.SessionRunning
	a2 := newSession("a2", "org-a", "n2", at(1))
	a2.State = arena.SessionStopped
	a3 := newSession("a3", "org-a", "n1", at(1)) // ties with a2: the id decides
	b1 := newSession("b1", "org-b", "n1", at(0))
	b1.State = arena.SessionStopped
	b2 := newSession("b2", "org-b", "n2", at(3))
	b2.State = arena.SessionUnreachable
	for _, x := range []*arena.Session{a1, a3, b2, b1, a2} { // not in creation order
		createSession(t, s, x)
	}

	tests := []struct {
		name  string
		query arena.SessionQuery
		want  []*arena.Session
	}{
		{"all", arena.SessionQuery{}, []*arena.Session{b1, a2, a3, a1, b2}},
		{"organization", arena.SessionQuery{OrgID: "org-a"}, []*arena.Session{a2, a3, a1}},
		{"node", arena.SessionQuery{NodeID: "n1"}, []*arena.Session{b1, a3, a1}},
		{"active", arena.SessionQuery{ActiveOnly: true}, []*arena.Session{a3, a1, b2}},
		{"node active", arena.SessionQuery{NodeID: "n2", ActiveOnly: true}, []*arena.Session{b2}},
		{"organization node active", arena.SessionQuery{OrgID: "org-a", NodeID: "n1", ActiveOnly: true}, []*arena.Session{a3, a1}},
		{"no active left", arena.SessionQuery{OrgID: "org-b", NodeID: "n1", ActiveOnly: true}, nil},
		{"unknown organization", arena.SessionQuery{OrgID: "org-nope"}, nil},
		{"unknown node", arena.SessionQuery{NodeID: "n-nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkSessions(t, list(t, s, tc.query), tc.want...)
		})
	}
}

func testListUsage(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-a")
	createOrg(t, s, "org-b")
	// Stopped in an order that is neither their creation order nor their end order.
	ends := []struct {
		id, org string
		end     time.Time
	}{
		{"a1", "org-a", at(50_000)},
		{"b1", "org-b", at(20_000)},
		{"a2", "org-a", at(10_000)},
		{"a3", "org-a", at(30_000)},
		{"a4", "org-a", at(30_000)}, // ties with a3: the session id decides
	}
	byID := map[string]*arena.Usage{}
	for i, e := range ends {
		x := runningSession(e.id, e.org, "n1", at(i))
		if e.id == "a3" {
			x.ClaimedAt = x.CreatedAt.Add(time.Second) // it waited in a warm pool
		}
		createSession(t, s, x)
		byID[e.id] = stop(t, s, x, e.end)
	}

	tests := []struct {
		name string
		org  string
		want []*arena.Usage
	}{
		{"organization a", "org-a", []*arena.Usage{byID["a2"], byID["a3"], byID["a4"], byID["a1"]}},
		{"organization b", "org-b", []*arena.Usage{byID["b1"]}},
		{"unknown organization", "org-nope", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkUsage(t, listUsage(t, s, tc.org), tc.want...)
		})
	}
}

// testConcurrentCreate is what a burst of session requests does to the store:
// every insert must succeed, whatever the store's locking.
func testConcurrentCreate(t *testing.T, s arena.Store) {
	const n = 50
	createOrg(t, s, "org-1")
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateSession(context.Background(), newSession(fmt.Sprintf("s-%02d", i), "org-1", "node-1", at(i)))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateSession s-%02d: %v", i, err)
		}
	}
	if got := list(t, s, arena.SessionQuery{OrgID: "org-1"}); len(got) != n {
		t.Errorf("ListSessions returned %d sessions, want %d", len(got), n)
	}
}

// testConcurrentLifecycle runs whole session lifecycles side by side while
// others read, as the control plane does under load.
func testConcurrentLifecycle(t *testing.T, s arena.Store) {
	const n = 50
	ctx := context.Background()
	createOrg(t, s, "org-1")
	done := make(chan struct{})
	var readers, writers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.ListSessions(ctx, arena.SessionQuery{NodeID: "node-1", ActiveOnly: true}); err != nil {
					t.Errorf("ListSessions: %v", err)
					return
				}
			}
		})
	}
	for i := range n {
		writers.Go(func() {
			x := newSession(fmt.Sprintf("s-%02d", i), "org-1", "node-1", at(i))
			if err := s.CreateSession(ctx, x); err != nil {
				t.Errorf("CreateSession: %v", err)
				return
			}
			if err := x.Transition(arena.SessionRunning, at(1_000+i)); err != nil {
				t.Error(err)
				return
			}
			if err := s.UpdateSession(ctx, x); err != nil {
				t.Errorf("UpdateSession: %v", err)
				return
			}
			if _, err := s.FindSession(ctx, x.ID); err != nil {
				t.Errorf("FindSession: %v", err)
				return
			}
			if err := x.Transition(arena.SessionStopped, at(60_000+i)); err != nil {
				t.Error(err)
				return
			}
			if err := s.StopSession(ctx, x, usageOf(x)); err != nil {
				t.Errorf("StopSession: %v", err)
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	if got := list(t, s, arena.SessionQuery{ActiveOnly: true}); len(got) != 0 {
		t.Errorf("%d sessions still active, want 0", len(got))
	}
	if got := listUsage(t, s, "org-1"); len(got) != n {
		t.Errorf("ListUsage returned %d rows, want %d", len(got), n)
	}
}

func testCanceledContext(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	existing := runningSession("s-1", "org-1", "node-1", at(1))
	createSession(t, s, existing)
	tok := newToken("tok-1", "org-1")
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	stopped := existing.Clone()
	transition(t, stopped, arena.SessionStopped, at(5_000))
	user := newUser("u-1", "org-1", "alice@example.com", at(1))
	createUser(t, s, user)
	userTok := newUserToken("tok-u", user, at(2))
	createToken(t, s, userTok)
	app := newApplication("org-1", "shooter", at(1))
	createApplication(t, s, app)
	changed := cloneApplication(app)
	changed.Repository = "registry.example.com/changed"

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateOrganization", func() error {
			return s.CreateOrganization(ctx, &arena.Organization{ID: "org-2", Name: "Two"})
		}},
		{"CreateToken", func() error { return s.CreateToken(ctx, newToken("tok-2", "org-1")) }},
		{"FindTokenByHash", func() error { _, err := s.FindTokenByHash(ctx, tok.Hash); return err }},
		{"CreateSession", func() error { return s.CreateSession(ctx, newSession("s-2", "org-1", "node-1", at(2))) }},
		{"UpdateSession", func() error { return s.UpdateSession(ctx, existing) }},
		{"StopSession", func() error { return s.StopSession(ctx, stopped, usageOf(stopped)) }},
		{"FindSession", func() error { _, err := s.FindSession(ctx, "s-1"); return err }},
		{"ListSessions", func() error { _, err := s.ListSessions(ctx, arena.SessionQuery{}); return err }},
		{"ListUsage", func() error { _, err := s.ListUsage(ctx, "org-1"); return err }},
		{"FindOrganization", func() error { _, err := s.FindOrganization(ctx, "org-1"); return err }},
		{"ListOrganizations", func() error { _, err := s.ListOrganizations(ctx); return err }},
		{"SetOrganizationQuota", func() error {
			return s.SetOrganizationQuota(ctx, "org-1", arena.Quota{MaxSessions: 1}, arena.SourceConfig)
		}},
		{"CreateUser", func() error { return s.CreateUser(ctx, newUser("u-2", "org-1", "bob@example.com", at(2))) }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx, "org-1"); return err }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "org-1", user.ID, at(5_000)) }},
		{"ListTokens", func() error { _, err := s.ListTokens(ctx, "org-1"); return err }},
		{"RevokeToken", func() error { return s.RevokeToken(ctx, "org-1", tok.ID, at(5_000)) }},
		{"CreateApplication", func() error { return s.CreateApplication(ctx, newApplication("org-1", "racer", at(2))) }},
		{"UpdateApplication", func() error { return s.UpdateApplication(ctx, changed) }},
		{"FindApplication", func() error { _, err := s.FindApplication(ctx, "org-1", app.Name); return err }},
		{"ListApplications", func() error { _, err := s.ListApplications(ctx, ""); return err }},
		{"DeleteApplication", func() error { return s.DeleteApplication(ctx, "org-1", app.Name) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want an error that is context.Canceled", err)
			}
		})
	}
	t.Run("nothing written", func(t *testing.T) {
		checkSession(t, find(t, s, "s-1"), existing)
		checkUsage(t, listUsage(t, s, "org-1"))
		_, err := s.FindSession(context.Background(), "s-2")
		checkCode(t, err, arena.ENOTFOUND)
		orgs, err := s.ListOrganizations(context.Background())
		if err != nil || len(orgs) != 1 {
			t.Errorf("ListOrganizations = %v, %v; want org-1 alone", orgs, err)
		} else if orgs[0].Quota != (arena.Quota{}) || orgs[0].QuotaSource != "" {
			t.Errorf("org-1 has quota %+v from %q, want none", orgs[0].Quota, orgs[0].QuotaSource)
		}
		checkUsers(t, listUsers(t, s, "org-1"), user)
		checkTokens(t, listTokens(t, s, "org-1"), tok, userTok)
		apps, err := s.ListApplications(context.Background(), "")
		if err != nil {
			t.Fatalf("ListApplications: %v", err)
		}
		checkApplications(t, apps, app)
	})
}

// base is the suite's epoch. Fixtures are in a zone other than UTC so that a
// store that keeps the zone, or drops it without converting, is caught.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

// at returns base plus ms milliseconds.
func at(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// newSession returns a started session with every field set that a started
// session has.
func newSession(id, org, node string, created time.Time) *arena.Session {
	return &arena.Session{
		ID:          id,
		OrgID:       org,
		Application: "arena-shooter",
		Tag:         "v1.4.2",
		Image:       "registry.example.com/arena-shooter:v1.4.2",
		Region:      "europe",
		Location:    "amsterdam",
		NodeID:      node,
		Host:        "203.0.113.7",
		Network:     arena.NetworkBridge,
		Ports: []arena.Port{
			{Protocol: arena.UDP, Container: 7777, Host: 30001},
			{Protocol: arena.TCP, Container: 27015, Host: 30002},
		},
		Env:           map[string]string{arena.EnvSessionID: id, "MAP": "dm4"},
		Args:          []string{"-port", "7777"},
		Labels:        map[string]string{"match": "m-42", "team": "blue"},
		TTL:           90 * time.Minute,
		Restart:       true,
		Resources:     arena.Resources{MilliCPU: 1500, MemoryMB: 2048},
		StopGrace:     15 * time.Second,
		Players:       []string{"alice", "bob"},
		RequestHash:   "3f2a9c",
		Name:          "name-of-" + id,
		ArtifactPaths: []string{"/replays", "/crash.dmp"},
		Security:      arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp"}},
		Readiness:     arena.Readiness{Mode: arena.ReadyOnProcess, Timeout: 90 * time.Second, RunOnTimeout: true},
		State:         arena.SessionStarted,
		ExitCode:      -1,
		CreatedAt:     created,
		UpdatedAt:     created,
	}
}

// runningSession returns a session that has been running since a second after created.
func runningSession(id, org, node string, created time.Time) *arena.Session {
	s := newSession(id, org, node, created)
	if err := s.Transition(arena.SessionRunning, created.Add(time.Second)); err != nil {
		panic(err)
	}
	return s
}

func transition(tb testing.TB, s *arena.Session, to arena.SessionState, when time.Time) {
	tb.Helper()
	if err := s.Transition(to, when); err != nil {
		tb.Fatal(err)
	}
}

func newToken(id, org string, hash ...string) *arena.Token {
	t := &arena.Token{
		ID:        id,
		OrgID:     org,
		Name:      "token " + id,
		Hash:      arena.HashToken(arena.NewTokenSecret()),
		CreatedAt: at(0),
	}
	if len(hash) > 0 {
		t.Hash = hash[0]
	}
	return t
}

func usageOf(s *arena.Session) *arena.Usage {
	u := &arena.Usage{
		SessionID:   s.ID,
		OrgID:       s.OrgID,
		Application: s.Application,
		Location:    s.Location,
		Resources:   s.Resources,
		Start:       s.RunningAt,
		End:         s.BillingEnd(s.StoppedAt),
		Seconds:     s.BilledSeconds(s.StoppedAt),
	}
	u.PoolStart, u.PoolEnd = s.PoolPeriod(s.StoppedAt)
	return u
}

func createOrg(tb testing.TB, s arena.Store, id string) {
	tb.Helper()
	if err := s.CreateOrganization(context.Background(), &arena.Organization{ID: id, Name: "Organization " + id}); err != nil {
		tb.Fatalf("CreateOrganization %s: %v", id, err)
	}
}

func createSession(tb testing.TB, s arena.Store, x *arena.Session) {
	tb.Helper()
	if err := s.CreateSession(context.Background(), x); err != nil {
		tb.Fatalf("CreateSession %s: %v", x.ID, err)
	}
}

// stop stops x at end through the store and returns the usage it recorded.
func stop(tb testing.TB, s arena.Store, x *arena.Session, end time.Time) *arena.Usage {
	tb.Helper()
	transition(tb, x, arena.SessionStopped, end)
	x.StopReason = arena.StopDeleted
	x.ExitCode = 0
	u := usageOf(x)
	if err := s.StopSession(context.Background(), x, u); err != nil {
		tb.Fatalf("StopSession %s: %v", x.ID, err)
	}
	return u
}

func find(tb testing.TB, s arena.Store, id string) *arena.Session {
	tb.Helper()
	got, err := s.FindSession(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindSession %s: %v", id, err)
	}
	return got
}

func list(tb testing.TB, s arena.Store, q arena.SessionQuery) []*arena.Session {
	tb.Helper()
	got, err := s.ListSessions(context.Background(), q)
	if err != nil {
		tb.Fatalf("ListSessions %+v: %v", q, err)
	}
	return got
}

func listUsage(tb testing.TB, s arena.Store, org string) []*arena.Usage {
	tb.Helper()
	got, err := s.ListUsage(context.Background(), org)
	if err != nil {
		tb.Fatalf("ListUsage %s: %v", org, err)
	}
	return got
}

func checkCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := arena.ErrorCode(err); got != want {
		tb.Errorf("error code %q (%v), want %q", got, err, want)
	}
}

func checkUTC(tb testing.TB, field string, t time.Time) {
	tb.Helper()
	if !t.IsZero() && t.Location() != time.UTC {
		tb.Errorf("%s is in %s, want UTC", field, t.Location())
	}
}

func checkSession(tb testing.TB, got, want *arena.Session) {
	tb.Helper()
	for name, t := range map[string]time.Time{
		"CreatedAt": got.CreatedAt, "RunningAt": got.RunningAt, "StoppingAt": got.StoppingAt, "StoppedAt": got.StoppedAt, "UpdatedAt": got.UpdatedAt, "ClaimedAt": got.ClaimedAt,
	} {
		checkUTC(tb, name, t)
	}
	equal(tb, "session "+want.ID, normSession(got), normSession(want))
}

func checkSessions(tb testing.TB, got []*arena.Session, want ...*arena.Session) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got sessions %v, want %v", sessionIDs(got), sessionIDs(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			tb.Fatalf("got sessions %v, want %v", sessionIDs(got), sessionIDs(want))
		}
		checkSession(tb, got[i], want[i])
	}
}

func sessionIDs(ss []*arena.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func checkUsage(tb testing.TB, got []*arena.Usage, want ...*arena.Usage) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d usage rows, want %d", len(got), len(want))
	}
	for i := range got {
		checkUTC(tb, "Start", got[i].Start)
		checkUTC(tb, "End", got[i].End)
		equal(tb, fmt.Sprintf("usage row %d", i), normUsage(got[i]), normUsage(want[i]))
	}
}

// normSession returns s with what a store may change undone: time zones and
// the difference between nil and empty.
func normSession(s *arena.Session) arena.Session {
	c := *s.Clone()
	if len(c.Ports) == 0 {
		c.Ports = nil
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	if len(c.Players) == 0 {
		c.Players = nil
	}
	if len(c.ArtifactPaths) == 0 {
		c.ArtifactPaths = nil
	}
	if len(c.Security.Tmpfs) == 0 {
		c.Security.Tmpfs = nil
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	c.CreatedAt, c.RunningAt, c.StoppedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.RunningAt.UTC(), c.StoppedAt.UTC(), c.UpdatedAt.UTC()
	c.StoppingAt, c.UnreachableSince, c.ClaimedAt = c.StoppingAt.UTC(), c.UnreachableSince.UTC(), c.ClaimedAt.UTC()
	return c
}

func normUsage(u *arena.Usage) arena.Usage {
	c := *u
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	c.PoolStart, c.PoolEnd = c.PoolStart.UTC(), c.PoolEnd.UTC()
	return c
}

func normToken(t *arena.Token) arena.Token {
	c := *t
	c.CreatedAt, c.ExpiresAt, c.RevokedAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC(), c.RevokedAt.UTC()
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	return c
}

// equal compares two structs and names the fields that differ.
func equal[T any](tb testing.TB, what string, got, want T) {
	tb.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			tb.Errorf("%s: %s = %#v, want %#v", what, gv.Type().Field(i).Name, g, w)
		}
	}
}

func testNodes(t *testing.T, s arena.Store) {
	ctx := context.Background()
	if nodes, err := s.ListNodes(ctx); err != nil || len(nodes) != 0 {
		t.Fatalf("empty store lists %v, %v", nodes, err)
	}
	b := &arena.Node{
		ID: "node-b", Region: "europe", Location: "ams", Provider: "hetzner", Class: arena.ClassMetal, PublicIP: "203.0.113.9",
		Capacity: arena.Resources{MilliCPU: 32000, MemoryMB: 65536}, PortMin: 32768, PortMax: 60299, CredentialHash: "hash-b",
		JoinedAt: at(1_000).UTC(),
	}
	a := &arena.Node{ID: "node-a", Region: "us", Location: "iad", Provider: "aws", Class: arena.ClassCloud, PublicIP: "198.51.100.1",
		Capacity: arena.Resources{MilliCPU: 4000, MemoryMB: 8192}, PortMin: 40000, PortMax: 40100}
	for _, n := range []*arena.Node{b, a} {
		if err := s.UpsertNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// a has no JoinedAt, as a node stored before it was kept.
	b.Draining, b.PublicIP = true, "203.0.113.10"
	if err := s.UpsertNode(ctx, b); err != nil {
		t.Fatalf("updating a node: %v", err)
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "nodes", derefNodes(nodes), []arena.Node{*a, *b})

	clash := *a
	clash.CredentialHash = "hash-b"
	if err := s.UpsertNode(ctx, &clash); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("two nodes with one credential: %v", err)
	}
	if seen, err := s.LastSeen(ctx); err != nil || len(seen) != 0 {
		t.Fatalf("last seen before any save: %v %v", seen, err)
	}
	if err := s.SaveLastSeen(ctx, map[string]time.Time{"node-a": at(5_000), "node-b": at(6_000), "unknown": at(7_000)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveLastSeen(ctx, map[string]time.Time{"node-b": at(9_000)}); err != nil {
		t.Fatal(err)
	}
	seen, err := s.LastSeen(ctx)
	if err != nil || len(seen) != 2 || !seen["node-a"].Equal(at(5_000)) || !seen["node-b"].Equal(at(9_000)) {
		t.Fatalf("last seen %v %v", seen, err)
	}
	if err := s.DeleteNode(ctx, "node-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNode(ctx, "node-a"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	nodes, _ = s.ListNodes(ctx)
	equal(t, "nodes after delete", derefNodes(nodes), []arena.Node{*b})
}

func derefNodes(nodes []*arena.Node) []arena.Node {
	out := make([]arena.Node, len(nodes))
	for i, n := range nodes {
		out[i] = *n
	}
	return out
}
