package tenant_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/scheduler"
	"github.com/arena-hq/arena/sqlite"
	"github.com/arena-hq/arena/tenant"
)

// org is the organisation the tests act in.
const org = "org-a"

// newTenants returns the tenants of a real SQLite store with two
// organisations, reached through wrap when given, whose quotas sched keeps
// (a new scheduler when nil).
func newTenants(tb testing.TB, sched *scheduler.Scheduler, wrap func(arena.Store) arena.Store) *tenant.Service {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "arena.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	var store arena.Store = st
	if wrap != nil {
		store = wrap(st)
	}
	if sched == nil {
		sched = scheduler.New(scheduler.Pack)
	}
	tenants := tenant.New(store, sched, nil, nil)
	if err := tenants.LoadQuotas(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, id := range []string{org, "org-b"} {
		if _, err := tenants.CreateOrganization(ctx, arena.Organization{ID: id}); err != nil {
			tb.Fatal(err)
		}
	}
	return tenants
}

func violationOf(err error, field string) bool {
	return arena.ErrorCode(err) == arena.EINVALID &&
		slices.ContainsFunc(arena.ErrorViolations(err), func(v arena.Violation) bool { return v.Field == field })
}

// TestCreateTokenLimits checks that a token gives no more than its issuer
// has: scopes, lifetime, user and rate limit.
func TestCreateTokenLimits(t *testing.T) {
	ctx := context.Background()
	srv := newTenants(t, nil, nil)
	operator := &arena.Token{ID: "op", OrgID: "ops", Scopes: []string{arena.ScopeOperator}}
	alice, err := srv.CreateUser(ctx, arena.User{OrgID: org, Email: "alice@example.com", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(ctx, arena.User{OrgID: org, Email: "bob@example.com", Name: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	// Alice's admin token, for an hour, with a rate limit the operator set.
	admin, _, err := srv.CreateToken(ctx, operator, org, arena.TokenRequest{
		Name: "alice-admin", UserID: alice.ID, Scopes: []string{arena.ScopeAdmin}, ExpiresIn: time.Hour, RateLimit: 3, RateBurst: 6,
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		issuer  *arena.Token
		req     arena.TokenRequest
		invalid string // the field of the violation; "" for none
		check   func(t *testing.T, tok *arena.Token)
	}{
		{name: "takes the issuer's user, expiry and rate limit", issuer: admin, req: arena.TokenRequest{Name: "t1"},
			check: func(t *testing.T, tok *arena.Token) {
				if tok.UserID != alice.ID || !tok.ExpiresAt.Equal(admin.ExpiresAt) || tok.RateLimit != 3 || tok.RateBurst != 6 {
					t.Errorf("got user %q, expiry %v, rate %v/%d; want %q, %v, 3/6", tok.UserID, tok.ExpiresAt, tok.RateLimit, tok.RateBurst, alice.ID, admin.ExpiresAt)
				}
			}},
		{name: "may be for another user of the organisation", issuer: admin, req: arena.TokenRequest{Name: "t2", UserID: bob.ID},
			check: func(t *testing.T, tok *arena.Token) {
				if tok.UserID != bob.ID {
					t.Errorf("user %q, want %q", tok.UserID, bob.ID)
				}
			}},
		{name: "may expire sooner", issuer: admin, req: arena.TokenRequest{Name: "t3", ExpiresIn: time.Minute},
			check: func(t *testing.T, tok *arena.Token) {
				if !tok.ExpiresAt.Before(admin.ExpiresAt) {
					t.Errorf("expires at %v, after its issuer's %v", tok.ExpiresAt, admin.ExpiresAt)
				}
			}},
		{name: "cannot outlast its issuer", issuer: admin, req: arena.TokenRequest{Name: "t4", ExpiresIn: 2 * time.Hour}, invalid: "expiresInSeconds"},
		{name: "cannot set its own rate limit", issuer: admin, req: arena.TokenRequest{Name: "t5", RateLimit: 1000}, invalid: "rateLimit"},
		{name: "cannot carry a scope its issuer lacks", issuer: admin, req: arena.TokenRequest{Name: "t6", Scopes: []string{arena.ScopeOperator}}, invalid: "scopes"},
		{name: "an operator sets rate limits", issuer: operator, req: arena.TokenRequest{Name: "t7", RateLimit: 1000, RateBurst: 2000},
			check: func(t *testing.T, tok *arena.Token) {
				if tok.RateLimit != 1000 || tok.RateBurst != 2000 || tok.UserID != "" || !tok.ExpiresAt.IsZero() {
					t.Errorf("got %+v", tok)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, secret, err := srv.CreateToken(ctx, tc.issuer, org, tc.req)
			if tc.invalid != "" {
				if !violationOf(err, tc.invalid) {
					t.Fatalf("got %v, want a violation of %s", err, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tok)
			if _, err := srv.Authenticate(ctx, secret); err != nil {
				t.Errorf("the new token does not authenticate: %v", err)
			}
		})
	}

	// What Alice's token made goes with Alice.
	_, secret, err := srv.CreateToken(ctx, admin, org, arena.TokenRequest{Name: "made-by-alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteUser(ctx, org, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Authenticate(ctx, secret); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("a token Alice's token made still works after Alice was removed: %v", err)
	}
}

// gatedStore holds token look-ups, once armed, after they read the store.
type gatedStore struct {
	arena.Store
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (g *gatedStore) FindTokenByHash(ctx context.Context, hash string) (*arena.Token, error) {
	t, err := g.Store.FindTokenByHash(ctx, hash)
	if g.armed.CompareAndSwap(true, false) {
		g.read <- struct{}{}
		<-g.release
	}
	return t, err
}

// TestRevocationDuringLookup checks that a token read just before its
// revocation is not cached as valid after it.
func TestRevocationDuringLookup(t *testing.T) {
	ctx := context.Background()
	gate := &gatedStore{read: make(chan struct{}), release: make(chan struct{})}
	srv := newTenants(t, nil, func(st arena.Store) arena.Store {
		gate.Store = st
		return gate
	})
	operator := &arena.Token{ID: "op", OrgID: "ops", Scopes: []string{arena.ScopeOperator}}
	tok, secret, err := srv.CreateToken(ctx, operator, org, arena.TokenRequest{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	gate.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := srv.Authenticate(ctx, secret)
		done <- err
	}()
	<-gate.read // the look-up has the token as it was: valid
	if err := srv.RevokeToken(ctx, org, tok.ID); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	<-done // racing the revocation, it may pass
	if _, err := srv.Authenticate(ctx, secret); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("the revoked token still authenticates: %v", err)
	}
}

// TestEnsureTokenID checks that the public id of a bootstrap token tells
// nothing of its secret: with a weak secret an operator chose, even a part
// of its unsalted hash shown in listings and logs would confirm a guess.
func TestEnsureTokenID(t *testing.T) {
	ctx := context.Background()
	srv := newTenants(t, nil, nil)
	secrets := []string{"devtoken", "devtoken2"}
	ids := map[string]bool{}
	for _, secret := range secrets {
		created, err := srv.EnsureToken(ctx, org, "dev", secret, []string{arena.ScopeAdmin})
		if err != nil || !created {
			t.Fatalf("EnsureToken(%q) = %v, %v; want a new token", secret, created, err)
		}
		tok, err := srv.Authenticate(ctx, secret)
		if err != nil {
			t.Fatalf("Authenticate(%q): %v", secret, err)
		}
		hash := arena.HashToken(secret)
		id := strings.TrimPrefix(tok.ID, "dev-")
		if id == tok.ID || len(id) != 12 {
			t.Errorf("id %q: want dev- and 12 hex digits", tok.ID)
		}
		if len(id) == 12 && (strings.HasPrefix(hash, id[:6]) || strings.Contains(hash, id)) {
			t.Errorf("id %q is part of the secret's hash %s", tok.ID, hash)
		}
		if ids[tok.ID] {
			t.Errorf("id %q given twice", tok.ID)
		}
		ids[tok.ID] = true
	}
	// Made sure of again, the token keeps its id.
	before, _ := srv.Authenticate(ctx, secrets[0])
	if created, err := srv.EnsureToken(ctx, org, "dev", secrets[0], []string{arena.ScopeAdmin}); err != nil || created {
		t.Fatalf("EnsureToken again = %v, %v; want the token kept", created, err)
	}
	if after, _ := srv.Authenticate(ctx, secrets[0]); after.ID != before.ID {
		t.Errorf("id changed from %q to %q", before.ID, after.ID)
	}
}

// TestRevocationThroughAnotherService: a token revoked through one
// control plane stops working in another on the same store once that
// one's token cache has run out, and not before it.
func TestRevocationThroughAnotherService(t *testing.T) {
	ctx := context.Background()
	var store arena.Store
	leader := newTenants(t, nil, func(st arena.Store) arena.Store { store = st; return st })
	clock := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	follower := tenant.New(store, nil, nil, func() time.Time { return clock })
	follower.SetTokenCacheTTL(time.Second)
	operator := &arena.Token{ID: "op", OrgID: "ops", Scopes: []string{arena.ScopeOperator}}
	tok, secret, err := leader.CreateToken(ctx, operator, org, arena.TokenRequest{Name: "polled"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := leader.RevokeToken(ctx, org, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.Authenticate(ctx, secret); err != nil {
		t.Fatalf("within the cache's second: %v; want the cached token", err)
	}
	clock = clock.Add(1100 * time.Millisecond)
	if _, err := follower.Authenticate(ctx, secret); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Fatalf("a second after the revocation: %v, want %s", err, arena.EUNAUTHORIZED)
	}
}
