package main

import (
	"testing"

	"github.com/arena-hq/arena/agent"
)

// TestStartConcurrencySetting: the flag (or its variable) wins over the
// file, either over the default, and what is not a count in range is refused.
func TestStartConcurrencySetting(t *testing.T) {
	for _, tc := range []struct {
		name, flag string
		file, want int
		bad        bool
	}{
		{"default", "", 0, agent.DefaultStartConcurrency, false},
		{"file", "", 6, 6, false},
		{"flag over file", "2", 6, 2, false},
		{"zero", "0", 0, 0, true},
		{"too many", "100000", 0, 0, true},
		{"not a number", "four", 0, 0, true},
		{"negative in the file", "", -1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startConcurrency(tc.flag, tc.file)
			if (err != nil) != tc.bad || got != tc.want {
				t.Errorf("startConcurrency(%q, %d) = %d, %v; want %d, refused %v", tc.flag, tc.file, got, err, tc.want, tc.bad)
			}
		})
	}
}
