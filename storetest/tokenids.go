package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// LegacyToken is a token as a store kept it before token ids were random:
// Replaced when its id was its name and a prefix of its secret's hash, which
// the migration replaces; other ids are kept.
type LegacyToken struct {
	Name, Secret, ID string
	Replaced         bool
}

// LegacyTokensCreated is when the LegacyTokens were made.
var LegacyTokensCreated = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// LegacyTokens are the tokens a store's migration test puts in the schema
// as it was, with the admin and operator scopes of org-1.
var LegacyTokens = []LegacyToken{
	{"admin", "a weak secret", "admin-" + arena.HashToken("a weak secret")[:12], true},
	{"dev", "devtoken", "dev-" + arena.HashToken("devtoken")[:12], true},
	{"matchmaker", "arena_random", "4f9a0c52-8a59-4b4e-9d8e-0c1b2d3e4f50", false},
	{"other", "another", "other-0123456789ab", false},
}

// CheckMigratedTokens checks the LegacyTokens in st after the migration:
// each still found by its secret, unchanged but for a replaced id, which is
// its name and 12 hex digits that are no prefix of the hash.
func CheckMigratedTokens(t *testing.T, st arena.Store) {
	t.Helper()
	for _, tok := range LegacyTokens {
		t.Run(tok.Name, func(t *testing.T) {
			hash := arena.HashToken(tok.Secret)
			got, err := st.FindTokenByHash(context.Background(), hash)
			if err != nil {
				t.Fatalf("FindTokenByHash: %v", err)
			}
			if got.Name != tok.Name || got.OrgID != "org-1" || !got.CreatedAt.Equal(LegacyTokensCreated) || len(got.Scopes) != 2 {
				t.Errorf("token = %+v: changed beyond its id", *got)
			}
			suffix, named := strings.CutPrefix(got.ID, tok.Name+"-")
			switch {
			case !tok.Replaced && got.ID != tok.ID:
				t.Errorf("id = %q, want %q kept", got.ID, tok.ID)
			case tok.Replaced && (!named || len(suffix) != 12 || strings.Trim(suffix, "0123456789abcdef") != ""):
				t.Errorf("id = %q, want %s- and 12 hex digits", got.ID, tok.Name)
			case tok.Replaced && strings.HasPrefix(hash, suffix[:6]):
				t.Errorf("id = %q, still a prefix of the hash %s", got.ID, hash)
			}
		})
	}
}
