package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAgentServers(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Servers
		wantErr string
	}{
		{"one", "server: http://cp-1:8080\n", Servers{"http://cp-1:8080"}, ""},
		{"comma-separated", "server: http://cp-1:8080,http://cp-2:8080\n", Servers{"http://cp-1:8080,http://cp-2:8080"}, ""},
		{"a list", "server:\n  - http://cp-1:8080\n  - http://cp-2:8080\n", Servers{"http://cp-1:8080", "http://cp-2:8080"}, ""},
		{"a flow list", "server: [http://cp-1:8080, http://cp-2:8080]\n", Servers{"http://cp-1:8080", "http://cp-2:8080"}, ""},
		{"none", "nodeId: n1\n", nil, ""},
		{"a number", "server: 8080\n", nil, "is not a URL"},
		{"a list of maps", "server:\n  - url: http://cp-1\n", nil, "each server is a URL"},
		{"a map", "server: {url: http://cp-1}\n", nil, "a URL or a list of URLs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			a, err := LoadAgent(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Server, tt.want) {
				t.Fatalf("server %q, want %q", a.Server, tt.want)
			}
		})
	}
}

// TestLoadAgentStarts: the agent file's start settings are read, and an
// unknown key is an error rather than a setting silently ignored.
func TestLoadAgentStarts(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       Agent
		err        string
	}{
		{"both", "startConcurrency: 6\nstartTimeout: 90s\n", Agent{StartConcurrency: 6, StartTimeout: "90s"}, ""},
		{"neither", "nodeId: n1\n", Agent{NodeID: "n1"}, ""},
		{"misspelt", "startConcurency: 6\n", Agent{}, "startConcurency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadAgent(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.StartConcurrency != tc.want.StartConcurrency || got.StartTimeout != tc.want.StartTimeout || got.NodeID != tc.want.NodeID {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}
