package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
