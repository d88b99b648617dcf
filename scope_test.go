package arena_test

import (
	"testing"

	"github.com/arena-hq/arena"
)

func TestTokenAllows(t *testing.T) {
	tests := []struct {
		name  string
		has   []string
		scope string
		want  bool
	}{
		{"its own scope", []string{arena.ScopeSessionStart}, arena.ScopeSessionStart, true},
		{"a narrow scope grants no other", []string{arena.ScopeSessionStart}, arena.ScopeSessionStop, false},
		{"a narrow scope grants no broad one", []string{arena.ScopeSessionRead}, arena.ScopeSessionsRead, false},
		{"sessions:write starts", []string{arena.ScopeSessionsWrite}, arena.ScopeSessionStart, true},
		{"sessions:write stops", []string{arena.ScopeSessionsWrite}, arena.ScopeSessionStop, true},
		{"sessions:write does not read", []string{arena.ScopeSessionsWrite}, arena.ScopeSessionRead, false},
		{"sessions:read reads regions", []string{arena.ScopeSessionsRead}, arena.ScopeRegionsRead, true},
		{"logs reads logs", []string{arena.ScopeLogs}, arena.ScopeLogsRead, true},
		{"artifacts reads artifacts", []string{arena.ScopeArtifacts}, arena.ScopeArtifactRead, true},
		{"application:write reads applications", []string{arena.ScopeApplicationWrite}, arena.ScopeApplicationRead, true},
		{"application:read does not write", []string{arena.ScopeApplicationRead}, arena.ScopeApplicationWrite, false},
		{"session scopes do not manage applications", arena.SessionScopes, arena.ScopeApplicationWrite, false},
		{"admin manages applications", []string{arena.ScopeAdmin}, arena.ScopeApplicationWrite, true},
		{"admin has the Session API", []string{arena.ScopeAdmin}, arena.ScopeUsage, true},
		{"admin is no operator", []string{arena.ScopeAdmin}, arena.ScopeOperator, false},
		{"operator has everything", []string{arena.ScopeOperator}, arena.ScopeApplicationWrite, true},
		{"no scopes", nil, arena.ScopeSessionRead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := &arena.Token{Scopes: tt.has}
			if got := tok.Allows(tt.scope); got != tt.want {
				t.Errorf("a token with %v allows %s: %v, want %v", tt.has, tt.scope, got, tt.want)
			}
		})
	}
	for _, s := range arena.AllScopes {
		if !arena.ValidScope(s) {
			t.Errorf("%s is not valid", s)
		}
	}
}
