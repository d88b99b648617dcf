package storetest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// The tests of organisations, users, tokens and applications: what tenants own.

func testOrganizations(t *testing.T, s arena.Store) {
	ctx := context.Background()
	full := filled[arena.Organization](t)
	full.ID = "org-full"
	zero := arena.Organization{ID: "org-zero"}
	sandbox := arena.Organization{ID: "org-a", Name: "A", Environment: arena.EnvSandbox, CreatedAt: at(5)}
	// Created out of id order, which ListOrganizations must restore.
	for _, o := range []*arena.Organization{&full, &zero, &sandbox} {
		if err := s.CreateOrganization(ctx, o); err != nil {
			t.Fatalf("CreateOrganization %s: %v", o.ID, err)
		}
	}

	t.Run("find", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			want *arena.Organization
			code string
		}{
			{"fully populated", "org-full", &full, ""},
			{"zero values", "org-zero", &zero, ""},
			{"sandbox", "org-a", &sandbox, ""},
			{"unknown", "org-nope", nil, arena.ENOTFOUND},
			{"empty id", "", nil, arena.ENOTFOUND},
			{"case differs", "ORG-A", nil, arena.ENOTFOUND},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.FindOrganization(ctx, tc.id)
				checkCode(t, err, tc.code)
				if tc.want == nil {
					if got != nil {
						t.Errorf("FindOrganization(%q) = %+v, want nil", tc.id, got)
					}
					return
				}
				if got != nil {
					checkUTC(t, "CreatedAt", got.CreatedAt)
					equal(t, "organization "+tc.id, normOrg(got), normOrg(tc.want))
				}
			})
		}
	})

	t.Run("list", func(t *testing.T) {
		got, err := s.ListOrganizations(ctx)
		if err != nil {
			t.Fatalf("ListOrganizations: %v", err)
		}
		want := []*arena.Organization{&sandbox, &full, &zero}
		if len(got) != len(want) {
			t.Fatalf("ListOrganizations returned %d organizations, want %d", len(got), len(want))
		}
		for i := range got {
			equal(t, fmt.Sprintf("organization %d", i), normOrg(got[i]), normOrg(want[i]))
		}
	})

	t.Run("duplicate keeps the first", func(t *testing.T) {
		clash := arena.Organization{ID: "org-a", Name: "Another", Environment: arena.EnvProduction, CreatedAt: at(9)}
		checkCode(t, s.CreateOrganization(ctx, &clash), arena.ECONFLICT)
		got, err := s.FindOrganization(ctx, "org-a")
		if err != nil {
			t.Fatalf("FindOrganization: %v", err)
		}
		equal(t, "organization", normOrg(got), normOrg(&sandbox))
	})
}

func testOrganizationQuota(t *testing.T, s arena.Store) {
	ctx := context.Background()
	acme := arena.Organization{ID: "acme", Name: "Acme", Environment: arena.EnvSandbox, CreatedAt: at(5)}
	other := arena.Organization{ID: "other", Name: "Other", Environment: arena.EnvProduction, Quota: arena.Quota{MaxSessions: 3}, CreatedAt: at(6)}
	for _, o := range []*arena.Organization{&acme, &other} {
		if err := s.CreateOrganization(ctx, o); err != nil {
			t.Fatalf("CreateOrganization %s: %v", o.ID, err)
		}
	}
	// Each step builds on the one before, as an operator's changes would.
	tests := []struct {
		name   string
		org    string
		quota  arena.Quota
		source string
		code   string
	}{
		{"both bounds", "acme", arena.Quota{MaxSessions: 10, MaxMilliCPU: 4000}, "", ""},
		{"one bound replaces both", "acme", arena.Quota{MaxMilliCPU: 500}, "", ""},
		{"from the config file", "acme", arena.Quota{MaxSessions: 2}, arena.SourceConfig, ""},
		// Bounds beyond 32 bits: the stores' columns must hold them.
		{"large bounds", "acme", arena.Quota{MaxSessions: 1 << 33, MaxMilliCPU: 1 << 40}, "", ""},
		{"cleared", "acme", arena.Quota{}, "", ""},
		{"unknown organisation", "nope", arena.Quota{MaxSessions: 1}, "", arena.ENOTFOUND},
		{"empty id", "", arena.Quota{MaxSessions: 1}, "", arena.ENOTFOUND},
		{"case differs", "ACME", arena.Quota{MaxSessions: 1}, "", arena.ENOTFOUND},
	}
	want := map[string]arena.Organization{"acme": acme, "other": other}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCode(t, s.SetOrganizationQuota(ctx, tc.org, tc.quota, tc.source), tc.code)
			if tc.code == "" {
				o := want[tc.org]
				o.Quota, o.QuotaSource = tc.quota, tc.source
				want[tc.org] = o
			}
			// Nothing else changed: not the organisation's other fields,
			// nor another organisation.
			for _, id := range []string{"acme", "other"} {
				got, err := s.FindOrganization(ctx, id)
				if err != nil {
					t.Fatalf("FindOrganization %s: %v", id, err)
				}
				w := want[id]
				equal(t, "organization "+id, normOrg(got), normOrg(&w))
			}
			list, err := s.ListOrganizations(ctx)
			if err != nil || len(list) != 2 {
				t.Fatalf("ListOrganizations = %v, %v", list, err)
			}
			w := want["acme"]
			equal(t, "listed organization", normOrg(list[0]), normOrg(&w))
		})
	}
}

func testUsers(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	full := filled[arena.User](t)
	full.ID, full.OrgID, full.Email = "u-2", "org-1", "mallory@example.com"
	carol := newUser("u-1", "org-1", "carol@example.com", at(1))
	alice := newUser("u-3", "org-1", "alice@example.com", at(2))
	bob := newUser("u-b1", "org-2", "bob@example.com", at(3))
	// Ids, creation times and emails each sort otherwise, and the users are
	// created in none of those orders.
	for _, u := range []*arena.User{&full, carol, alice, bob} {
		createUser(t, s, u)
	}

	dave := newUser("u-0", "org-1", "dave@example.com", at(4))
	alice2 := newUser("u-b2", "org-2", "alice@example.com", at(5))
	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name string
			user *arena.User
			code string
		}{
			{"new", dave, ""},
			{"duplicate id", newUser("u-3", "org-1", "other@example.com", at(6)), arena.ECONFLICT},
			{"id of another organization's user", newUser("u-3", "org-2", "other@example.com", at(6)), arena.ECONFLICT},
			{"duplicate email", newUser("u-4", "org-1", "alice@example.com", at(6)), arena.ECONFLICT},
			{"email of another organization's user", alice2, ""},
			{"unknown organization", newUser("u-eve", "org-nope", "eve@example.com", at(6)), arena.ENOTFOUND},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.CreateUser(ctx, tc.user), tc.code)
			})
		}
	})

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			name string
			org  string
			want []*arena.User
		}{
			{"organization 1, by email", "org-1", []*arena.User{alice, carol, dave, &full}},
			{"organization 2, by email", "org-2", []*arena.User{alice2, bob}},
			{"unknown organization", "org-nope", nil},
			{"empty organization id", "", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkUsers(t, listUsers(t, s, tc.org), tc.want...)
			})
		}
	})
}

// testDeleteUser checks that removing a user revokes exactly its tokens, and
// that an organisation cannot reach another's users.
func testDeleteUser(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	alice := newUser("u-alice", "org-1", "alice@example.com", at(1))
	bob := newUser("u-bob", "org-1", "bob@example.com", at(2))
	carol := newUser("u-carol", "org-2", "carol@example.com", at(3))
	for _, u := range []*arena.User{alice, bob, carol} {
		createUser(t, s, u)
	}
	aliceTok := newUserToken("tok-alice", alice, at(10))
	aliceOld := newUserToken("tok-alice-old", alice, at(11))
	bobTok := newUserToken("tok-bob", bob, at(12))
	orgTok := newToken("tok-org", "org-1")
	orgTok.CreatedAt = at(13)
	carolTok := newUserToken("tok-carol", carol, at(14))
	for _, tok := range []*arena.Token{aliceTok, aliceOld, bobTok, orgTok, carolTok} {
		createToken(t, s, tok)
	}
	// Revoked before its user goes: it keeps that time.
	if err := s.RevokeToken(ctx, "org-1", aliceOld.ID, at(500)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	aliceOld.RevokedAt = at(500)
	revokedAt := at(10_000)
	// alice's tokens once she is removed: revoked and naming no user, the one
	// revoked before keeping its first time.
	revoked, old := *aliceTok, *aliceOld
	revoked.UserID, revoked.RevokedAt = "", revokedAt
	old.UserID = ""

	// untouched checks that a failed DeleteUser changed nothing.
	untouched := func(t *testing.T) {
		t.Helper()
		checkUsers(t, listUsers(t, s, "org-1"), alice, bob)
		checkUsers(t, listUsers(t, s, "org-2"), carol)
		checkTokens(t, listTokens(t, s, "org-1"), aliceTok, aliceOld, bobTok, orgTok)
		checkTokens(t, listTokens(t, s, "org-2"), carolTok)
	}
	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name, org, id string
			at            time.Time
			code          string
		}{
			{"another organization's user", "org-2", alice.ID, revokedAt, arena.ENOTFOUND},
			{"unknown user", "org-1", "u-nope", revokedAt, arena.ENOTFOUND},
			{"unknown organization", "org-nope", alice.ID, revokedAt, arena.ENOTFOUND},
			{"empty id", "org-1", "", revokedAt, arena.ENOTFOUND},
			{"zero time", "org-1", alice.ID, time.Time{}, arena.EINVALID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.DeleteUser(ctx, tc.org, tc.id, tc.at), tc.code)
				untouched(t)
			})
		}
	})

	t.Run("removes the user and revokes its tokens", func(t *testing.T) {
		if err := s.DeleteUser(ctx, "org-1", alice.ID, revokedAt); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		checkUsers(t, listUsers(t, s, "org-1"), bob)
		checkUsers(t, listUsers(t, s, "org-2"), carol)
		// The tokens stay; every other token is left alone.
		checkTokens(t, listTokens(t, s, "org-1"), &revoked, &old, bobTok, orgTok)
		checkTokens(t, listTokens(t, s, "org-2"), carolTok)
		got, err := s.FindTokenByHash(ctx, aliceTok.Hash)
		if err != nil {
			t.Fatalf("FindTokenByHash: %v", err)
		}
		equal(t, "token", normToken(got), normToken(&revoked))
	})

	t.Run("again", func(t *testing.T) {
		checkCode(t, s.DeleteUser(ctx, "org-1", alice.ID, at(20_000)), arena.ENOTFOUND)
		checkTokens(t, listTokens(t, s, "org-1"), &revoked, &old, bobTok, orgTok)
	})

	t.Run("no token for the removed user", func(t *testing.T) {
		checkCode(t, s.CreateToken(ctx, newUserToken("tok-alice-2", alice, at(20))), arena.ENOTFOUND)
	})

	t.Run("email free again", func(t *testing.T) {
		createUser(t, s, newUser("u-alice-again", "org-1", alice.Email, at(30)))
	})
}

// testTokenFields checks that every field of a token comes back as it was
// written, with every field set: a field added to arena.Token that the store
// does not keep fails here.
func testTokenFields(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	user := newUser("u-1", "org-1", "alice@example.com", at(1))
	createUser(t, s, user)
	createUser(t, s, newUser("u-2", "org-2", "bob@example.com", at(1)))

	full := filled[arena.Token](t)
	full.ID, full.OrgID, full.UserID = "tok-full", "org-1", user.ID
	createToken(t, s, &full)
	revoked := newToken("tok-revoked", "org-1")
	revoked.RevokedAt, revoked.Scopes = at(1_000), []string{arena.ScopeSessionsRead}
	createToken(t, s, revoked)
	plain := newToken("tok-plain", "org-1")
	createToken(t, s, plain)

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name  string
			token *arena.Token
			code  string
		}{
			{"issued to a user", newUserToken("tok-1", user, at(2)), ""},
			{"unknown user", func() *arena.Token {
				tok := newToken("tok-2", "org-1")
				tok.UserID = "u-nope"
				return tok
			}(), arena.ENOTFOUND},
			{"another organization's user", func() *arena.Token {
				tok := newToken("tok-3", "org-1")
				tok.UserID = "u-2"
				return tok
			}(), arena.ENOTFOUND},
			{"user of an unknown organization", func() *arena.Token {
				tok := newToken("tok-4", "org-nope")
				tok.UserID = user.ID
				return tok
			}(), arena.ENOTFOUND},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.CreateToken(ctx, tc.token), tc.code)
				if tc.code != "" {
					_, err := s.FindTokenByHash(ctx, tc.token.Hash)
					checkCode(t, err, arena.ENOTFOUND)
				}
			})
		}
	})

	t.Run("find by hash", func(t *testing.T) {
		tests := []struct {
			name string
			want *arena.Token
		}{
			{"fully populated", &full},
			{"revoked", revoked},
			{"zero values", plain},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.FindTokenByHash(ctx, tc.want.Hash)
				if err != nil {
					t.Fatalf("FindTokenByHash: %v", err)
				}
				checkTokenTimes(t, got)
				equal(t, "token", normToken(got), normToken(tc.want))
			})
		}
	})
}

func testListTokens(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	user := newUser("u-1", "org-1", "alice@example.com", at(1))
	createUser(t, s, user)
	// Created in an order that is neither their creation times' nor their ids'.
	c := newToken("tok-c", "org-1")
	c.CreatedAt = at(2)
	a := newUserToken("tok-a", user, at(3))
	b := newToken("tok-b", "org-1") // ties with tok-c: the id decides
	b.CreatedAt = at(2)
	d := newToken("tok-d", "org-1")
	d.CreatedAt, d.RevokedAt = at(1), at(4) // revoked tokens are listed too
	x := newToken("tok-x", "org-2")
	x.CreatedAt = at(1)
	for _, tok := range []*arena.Token{c, a, x, b, d} {
		createToken(t, s, tok)
	}
	tests := []struct {
		name string
		org  string
		want []*arena.Token
	}{
		{"organization 1", "org-1", []*arena.Token{d, b, c, a}},
		{"organization 2", "org-2", []*arena.Token{x}},
		{"unknown organization", "org-nope", nil},
		{"empty organization id", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkTokens(t, listTokens(t, s, tc.org), tc.want...)
		})
	}
}

func testRevokeToken(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	one, two := newToken("tok-1", "org-1"), newToken("tok-2", "org-2")
	createToken(t, s, one)
	createToken(t, s, two)

	// The steps run in order, each on what the ones before left; want1 and
	// want2 are when the two tokens are revoked after the step.
	tests := []struct {
		name, org, id string
		at            time.Time
		code          string
		want1, want2  time.Time
	}{
		{"another organization's token", "org-1", "tok-2", at(1_000), arena.ENOTFOUND, time.Time{}, time.Time{}},
		{"unknown token", "org-1", "tok-nope", at(1_000), arena.ENOTFOUND, time.Time{}, time.Time{}},
		{"unknown organization", "org-nope", "tok-1", at(1_000), arena.ENOTFOUND, time.Time{}, time.Time{}},
		{"zero time", "org-1", "tok-1", time.Time{}, arena.EINVALID, time.Time{}, time.Time{}},
		{"revokes", "org-1", "tok-1", at(1_000), "", at(1_000), time.Time{}},
		{"again keeps the first time", "org-1", "tok-1", at(2_000), "", at(1_000), time.Time{}},
		{"earlier keeps the first time too", "org-1", "tok-1", at(500), "", at(1_000), time.Time{}},
		{"the other organization's own", "org-2", "tok-2", at(3_000), "", at(1_000), at(3_000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCode(t, s.RevokeToken(ctx, tc.org, tc.id, tc.at), tc.code)
			for _, w := range []struct {
				tok  *arena.Token
				want time.Time
			}{{one, tc.want1}, {two, tc.want2}} {
				// Revoked tokens are still found: refusing them is the caller's.
				got, err := s.FindTokenByHash(ctx, w.tok.Hash)
				if err != nil {
					t.Fatalf("FindTokenByHash %s: %v", w.tok.ID, err)
				}
				checkTokenTimes(t, got)
				want := *w.tok
				want.RevokedAt = w.want
				equal(t, "token "+w.tok.ID, normToken(got), normToken(&want))
			}
		})
	}
}

// testApplicationRoundTrip writes applications and reads them back. The
// fully populated one has every field set, so that a field added to
// arena.Application that the store does not keep fails here; Registry, the
// plaintext credentials, is the one field that must not come back.
func testApplicationRoundTrip(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	full := filled[arena.Application](t)
	full.OrgID, full.Name = "org-1", "full"
	full.Env["QUOTED"] = `it's "quoted", ünïcödé and a \ backslash`
	full.Args = append(full.Args, "", "two words")
	full.SealedRegistry = append(full.SealedRegistry, 0, 0xff, '"', '\\') // bytes that are not text

	tests := []struct {
		name string
		app  *arena.Application
	}{
		{"fully populated", &full},
		{"zero values", &arena.Application{OrgID: "org-1", Name: "zero"}},
		{"empty collections", &arena.Application{
			OrgID: "org-1", Name: "empty", Tags: []arena.Tag{}, Ports: []arena.PortSpec{}, Env: map[string]string{},
			Args: []string{}, ArtifactPaths: []string{}, Regions: []string{}, SealedRegistry: []byte{},
		}},
		{"limits, regions, tagKeep and nodePool", func() *arena.Application {
			a := newApplication("org-1", "limited", at(1))
			a.Limits = arena.Resources{MilliCPU: 4000, MemoryMB: 8192}
			a.Regions = []string{"europe", "us-east"}
			a.TagKeep, a.NodePool = 2, "default"
			return a
		}()},
		{"security settings", func() *arena.Application {
			a := newApplication("org-1", "confined", at(1))
			a.Security = arena.ContainerSecurity{User: "games:games", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/run/game"}}
			return a
		}()},
		{"readiness", func() *arena.Application {
			a := newApplication("org-1", "lobby", at(1))
			a.Readiness = arena.Readiness{Mode: arena.ReadyOnProcess, Timeout: 2 * time.Minute, RunOnTimeout: true}
			return a
		}()},
		{"plaintext credentials alone", &arena.Application{
			OrgID: "org-1", Name: "unsealed", Repository: "registry.example.com/game", Source: arena.SourceConfig,
			Registry: &arena.RegistryAuth{Username: "robot", Password: "s3cret"}, CreatedAt: at(1), UpdatedAt: at(2),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := cloneApplication(tc.app)
			if err := s.CreateApplication(ctx, tc.app); err != nil {
				t.Fatalf("CreateApplication: %v", err)
			}
			if !reflect.DeepEqual(tc.app, before) {
				t.Errorf("CreateApplication changed its argument to %+v", tc.app)
			}
			want := cloneApplication(tc.app)
			want.Registry = nil
			checkApplication(t, findApplication(t, s, "org-1", tc.app.Name), want)
		})
	}
}

func testCreateApplication(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	first := newApplication("org-1", "shooter", at(1))
	createApplication(t, s, first)

	clash := newApplication("org-1", "shooter", at(2))
	clash.Repository, clash.SealedRegistry = "registry.example.com/other", []byte("other")
	tests := []struct {
		name string
		app  *arena.Application
		code string
	}{
		{"new", newApplication("org-1", "racer", at(3)), ""},
		{"duplicate name", clash, arena.ECONFLICT},
		{"same name in another organization", newApplication("org-2", "shooter", at(4)), ""},
		{"unknown organization", newApplication("org-nope", "shooter", at(5)), arena.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCode(t, s.CreateApplication(ctx, tc.app), tc.code)
		})
	}
	t.Run("first kept", func(t *testing.T) {
		checkApplication(t, findApplication(t, s, "org-1", "shooter"), withoutRegistry(first))
		_, err := s.FindApplication(ctx, "org-nope", "shooter")
		checkCode(t, err, arena.ENOTFOUND)
	})
}

func testUpdateApplication(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	orig := newApplication("org-1", "shooter", at(1))
	createApplication(t, s, orig)
	other := newApplication("org-2", "racer", at(2))
	createApplication(t, s, other)

	t.Run("overwrites", func(t *testing.T) {
		u := cloneApplication(orig)
		u.Repository, u.Network, u.Source = "registry.example.com/shooter-2", arena.NetworkHost, arena.SourceConfig
		u.Tags = []arena.Tag{{Name: "v2", Priority: 10}}
		u.Ports = []arena.PortSpec{{Container: 9000, Protocol: arena.TCP}}
		u.Resources = arena.Resources{MilliCPU: 500, MemoryMB: 256}
		u.Env, u.Args, u.ArtifactPaths = map[string]string{"NEW": "1"}, nil, []string{"/logs"}
		u.StopGrace = time.Minute
		u.Registry, u.SealedRegistry = nil, nil // the registry became public
		u.UpdatedAt = at(60_000)
		if err := s.UpdateApplication(ctx, u); err != nil {
			t.Fatalf("UpdateApplication: %v", err)
		}
		checkApplication(t, findApplication(t, s, "org-1", "shooter"), u)

		u.Registry = &arena.RegistryAuth{Username: "robot", Password: "s3cret"}
		u.SealedRegistry = []byte("sealed again")
		u.UpdatedAt = at(61_000)
		if err := s.UpdateApplication(ctx, u); err != nil {
			t.Fatalf("UpdateApplication: %v", err)
		}
		checkApplication(t, findApplication(t, s, "org-1", "shooter"), withoutRegistry(u))
	})

	t.Run("keeps the creation time", func(t *testing.T) {
		want := findApplication(t, s, "org-1", "shooter")
		u := cloneApplication(want)
		u.CreatedAt = at(999_999)
		if err := s.UpdateApplication(ctx, u); err != nil {
			t.Fatalf("UpdateApplication: %v", err)
		}
		checkApplication(t, findApplication(t, s, "org-1", "shooter"), want)
	})

	t.Run("not found", func(t *testing.T) {
		tests := []struct {
			name string
			app  *arena.Application
		}{
			{"unknown name", newApplication("org-1", "nope", at(3))},
			{"another organization's", newApplication("org-1", "racer", at(3))},
			{"unknown organization", newApplication("org-nope", "shooter", at(3))},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.UpdateApplication(ctx, tc.app), arena.ENOTFOUND)
				_, err := s.FindApplication(ctx, tc.app.OrgID, tc.app.Name)
				checkCode(t, err, arena.ENOTFOUND)
			})
		}
		checkApplication(t, findApplication(t, s, "org-2", "racer"), withoutRegistry(other))
	})
}

func testFindApplication(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	app := newApplication("org-1", "shooter", at(1))
	createApplication(t, s, app)
	tests := []struct {
		name, org, app string
		code           string
	}{
		{"own", "org-1", "shooter", ""},
		{"another organization's", "org-2", "shooter", arena.ENOTFOUND},
		{"unknown organization", "org-nope", "shooter", arena.ENOTFOUND},
		{"unknown name", "org-1", "racer", arena.ENOTFOUND},
		{"empty name", "org-1", "", arena.ENOTFOUND},
		{"case differs", "org-1", "Shooter", arena.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindApplication(ctx, tc.org, tc.app)
			checkCode(t, err, tc.code)
			if tc.code != "" && got != nil {
				t.Errorf("FindApplication(%q, %q) = %+v, want nil", tc.org, tc.app, got)
			}
		})
	}
}

func testListApplications(t *testing.T, s arena.Store) {
	createOrg(t, s, "org-a")
	createOrg(t, s, "org-b")
	// Created in an order that is neither by organisation nor by name.
	b1 := newApplication("org-b", "alpha", at(1))
	a2 := newApplication("org-a", "zulu", at(2))
	a1 := newApplication("org-a", "bravo", at(3))
	b2 := newApplication("org-b", "yankee", at(4))
	a3 := newApplication("org-a", "alpha", at(5))
	for _, a := range []*arena.Application{b1, a2, a1, b2, a3} {
		createApplication(t, s, a)
	}
	tests := []struct {
		name string
		org  string
		want []*arena.Application
	}{
		{"organization a", "org-a", []*arena.Application{a3, a1, a2}},
		{"organization b", "org-b", []*arena.Application{b1, b2}},
		{"every organization", "", []*arena.Application{a3, a1, a2, b1, b2}},
		{"unknown organization", "org-nope", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListApplications(context.Background(), tc.org)
			if err != nil {
				t.Fatalf("ListApplications: %v", err)
			}
			checkApplications(t, got, tc.want...)
		})
	}
}

func testDeleteApplication(t *testing.T, s arena.Store) {
	ctx := context.Background()
	createOrg(t, s, "org-1")
	createOrg(t, s, "org-2")
	shooter, racer := newApplication("org-1", "shooter", at(1)), newApplication("org-1", "racer", at(2))
	theirs := newApplication("org-2", "shooter", at(3))
	for _, a := range []*arena.Application{shooter, racer, theirs} {
		createApplication(t, s, a)
	}
	session := runningSession("s-1", "org-1", "node-1", at(10))
	session.Application = "shooter"
	createSession(t, s, session)

	t.Run("not found", func(t *testing.T) {
		tests := []struct{ name, org, app string }{
			{"unknown name", "org-1", "nope"},
			{"unknown organization", "org-nope", "shooter"},
			{"empty name", "org-1", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				checkCode(t, s.DeleteApplication(ctx, tc.org, tc.app), arena.ENOTFOUND)
			})
		}
	})

	t.Run("deletes", func(t *testing.T) {
		if err := s.DeleteApplication(ctx, "org-1", "shooter"); err != nil {
			t.Fatalf("DeleteApplication: %v", err)
		}
		_, err := s.FindApplication(ctx, "org-1", "shooter")
		checkCode(t, err, arena.ENOTFOUND)
		got, err := s.ListApplications(ctx, "")
		if err != nil {
			t.Fatalf("ListApplications: %v", err)
		}
		// Only that organisation's application of the name goes.
		checkApplications(t, got, racer, theirs)
		// Sessions carry what they run.
		checkSession(t, find(t, s, "s-1"), session)
	})

	t.Run("again", func(t *testing.T) {
		checkCode(t, s.DeleteApplication(ctx, "org-1", "shooter"), arena.ENOTFOUND)
	})

	t.Run("name free again", func(t *testing.T) {
		createApplication(t, s, newApplication("org-1", "shooter", at(20)))
	})
}

func newUser(id, org, email string, created time.Time) *arena.User {
	return &arena.User{ID: id, OrgID: org, Email: email, Name: "User " + id, CreatedAt: created}
}

// newUserToken returns a token issued to u, with the Session API's scopes
// and a rate limit of its own.
func newUserToken(id string, u *arena.User, created time.Time) *arena.Token {
	t := newToken(id, u.OrgID)
	t.UserID, t.CreatedAt = u.ID, created
	t.Scopes = append([]string(nil), arena.SessionScopes...)
	t.RateLimit, t.RateBurst = 2.5, 10
	return t
}

// newApplication returns an application with every field set that an
// application with a private registry has.
func newApplication(org, name string, created time.Time) *arena.Application {
	return &arena.Application{
		OrgID:      org,
		Name:       name,
		Repository: "registry.example.com/" + name,
		Tags:       []arena.Tag{{Name: "v1", Priority: 1}, {Name: "v2", Priority: 5}},
		Ports:      []arena.PortSpec{{Container: 7777, Protocol: arena.UDP}, {Container: 27015, Protocol: arena.TCP}},
		Network:    arena.NetworkBridge,
		Resources:  arena.Resources{MilliCPU: 1500, MemoryMB: 2048},
		Env:        map[string]string{"MAP": "dm4"},
		Args:       []string{"-port", "7777"},
		StopGrace:  15 * time.Second,
		// Set by the caller beside its sealed form, as the server does.
		Registry:       &arena.RegistryAuth{Username: "robot", Password: "s3cret"},
		SealedRegistry: []byte("sealed " + name),
		ArtifactPaths:  []string{"/replays"},
		Source:         arena.SourceAPI,
		CreatedAt:      created,
		UpdatedAt:      created,
	}
}

// cloneApplication returns a deep copy of a that keeps nil and empty apart.
func cloneApplication(a *arena.Application) *arena.Application {
	c := *a
	c.Tags, c.Ports, c.Args = slices.Clone(a.Tags), slices.Clone(a.Ports), slices.Clone(a.Args)
	c.ArtifactPaths, c.SealedRegistry = slices.Clone(a.ArtifactPaths), slices.Clone(a.SealedRegistry)
	c.Env = maps.Clone(a.Env)
	c.Security = a.Security.Clone()
	if a.Registry != nil {
		r := *a.Registry
		c.Registry = &r
	}
	return &c
}

// withoutRegistry returns a as a store gives it back: without its plaintext credentials.
func withoutRegistry(a *arena.Application) *arena.Application {
	c := cloneApplication(a)
	c.Registry = nil
	return c
}

func createUser(tb testing.TB, s arena.Store, u *arena.User) {
	tb.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		tb.Fatalf("CreateUser %s: %v", u.ID, err)
	}
}

func createToken(tb testing.TB, s arena.Store, t *arena.Token) {
	tb.Helper()
	if err := s.CreateToken(context.Background(), t); err != nil {
		tb.Fatalf("CreateToken %s: %v", t.ID, err)
	}
}

func createApplication(tb testing.TB, s arena.Store, a *arena.Application) {
	tb.Helper()
	if err := s.CreateApplication(context.Background(), a); err != nil {
		tb.Fatalf("CreateApplication %s/%s: %v", a.OrgID, a.Name, err)
	}
}

func findApplication(tb testing.TB, s arena.Store, org, name string) *arena.Application {
	tb.Helper()
	got, err := s.FindApplication(context.Background(), org, name)
	if err != nil {
		tb.Fatalf("FindApplication %s/%s: %v", org, name, err)
	}
	return got
}

func listUsers(tb testing.TB, s arena.Store, org string) []*arena.User {
	tb.Helper()
	got, err := s.ListUsers(context.Background(), org)
	if err != nil {
		tb.Fatalf("ListUsers %s: %v", org, err)
	}
	return got
}

func listTokens(tb testing.TB, s arena.Store, org string) []*arena.Token {
	tb.Helper()
	got, err := s.ListTokens(context.Background(), org)
	if err != nil {
		tb.Fatalf("ListTokens %s: %v", org, err)
	}
	return got
}

func checkUsers(tb testing.TB, got []*arena.User, want ...*arena.User) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got users %v, want %v", ids(got, func(u *arena.User) string { return u.ID }),
			ids(want, func(u *arena.User) string { return u.ID }))
	}
	for i := range got {
		checkUTC(tb, "CreatedAt", got[i].CreatedAt)
		equal(tb, "user "+want[i].ID, normUser(got[i]), normUser(want[i]))
	}
}

func checkTokens(tb testing.TB, got []*arena.Token, want ...*arena.Token) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got tokens %v, want %v", ids(got, func(t *arena.Token) string { return t.ID }),
			ids(want, func(t *arena.Token) string { return t.ID }))
	}
	for i := range got {
		checkTokenTimes(tb, got[i])
		equal(tb, "token "+want[i].ID, normToken(got[i]), normToken(want[i]))
	}
}

func checkTokenTimes(tb testing.TB, t *arena.Token) {
	tb.Helper()
	checkUTC(tb, "CreatedAt", t.CreatedAt)
	checkUTC(tb, "ExpiresAt", t.ExpiresAt)
	checkUTC(tb, "RevokedAt", t.RevokedAt)
}

func checkApplication(tb testing.TB, got, want *arena.Application) {
	tb.Helper()
	if got.Registry != nil {
		tb.Errorf("application %s/%s came back with plaintext registry credentials", got.OrgID, got.Name)
	}
	checkUTC(tb, "CreatedAt", got.CreatedAt)
	checkUTC(tb, "UpdatedAt", got.UpdatedAt)
	equal(tb, "application "+want.OrgID+"/"+want.Name, normApplication(got), normApplication(want))
}

func checkApplications(tb testing.TB, got []*arena.Application, want ...*arena.Application) {
	tb.Helper()
	name := func(a *arena.Application) string { return a.OrgID + "/" + a.Name }
	if len(got) != len(want) {
		tb.Fatalf("got applications %v, want %v", ids(got, name), ids(want, name))
	}
	for i := range got {
		if name(got[i]) != name(want[i]) {
			tb.Fatalf("got applications %v, want %v", ids(got, name), ids(want, name))
		}
		checkApplication(tb, got[i], withoutRegistry(want[i]))
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func normOrg(o *arena.Organization) arena.Organization {
	c := *o
	c.CreatedAt = c.CreatedAt.UTC()
	return c
}

func normUser(u *arena.User) arena.User {
	c := *u
	c.CreatedAt = c.CreatedAt.UTC()
	return c
}

// normApplication returns a with what a store may change undone: time
// zones and the difference between nil and empty.
func normApplication(a *arena.Application) arena.Application {
	c := *cloneApplication(a)
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if len(c.Ports) == 0 {
		c.Ports = nil
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	if len(c.ArtifactPaths) == 0 {
		c.ArtifactPaths = nil
	}
	if len(c.Regions) == 0 {
		c.Regions = nil
	}
	if len(c.Security.Tmpfs) == 0 {
		c.Security.Tmpfs = nil
	}
	if len(c.SealedRegistry) == 0 {
		c.SealedRegistry = nil
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c
}

// filled returns a T with every field set to a value of its own, so that a
// round trip of it shows a field that a store does not keep. fill fails the
// test on a kind of field it does not know: teach it, and the stores.
func filled[T any](tb testing.TB) T {
	tb.Helper()
	var v T
	n := 0
	fill(tb, reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name(), &n)
	return v
}

func fill(tb testing.TB, v reflect.Value, path string, n *int) {
	tb.Helper()
	*n++
	if v.Type() == reflect.TypeFor[time.Time]() {
		// Whole milliseconds in the suite's zone, as the suite's other times.
		v.Set(reflect.ValueOf(at(*n * 1_000)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64: // Int64 includes time.Duration
		v.SetInt(int64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.25) // a fraction that binary floating point holds exactly
	case reflect.Uint8: // the elements of a []byte
		v.SetUint(uint64(*n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range s.Len() {
			fill(tb, s.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(tb, k, fmt.Sprintf("%s.key%d", path, i), n)
			fill(tb, e, fmt.Sprintf("%s.value%d", path, i), n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(tb, p.Elem(), path, n)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				tb.Fatalf("%s.%s: cannot set an unexported field", path, f.Name)
			}
			fill(tb, v.Field(i), path+"."+f.Name, n)
		}
	default:
		tb.Fatalf("%s: cannot fill a %s; teach fill and the stores about it", path, v.Kind())
	}
}
