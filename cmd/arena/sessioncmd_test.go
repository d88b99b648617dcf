package main

import (
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/arena-hq/arena/client"
)

// TestDescribeStopReason: session get says why a session stopped, with
// what its node said of it, and nothing of a stop while there is none.
func TestDescribeStopReason(t *testing.T) {
	for _, tc := range []struct {
		name, reason, message, want string
	}{
		{"running", "", "", ""},
		{"deleted", "deleted", "", "deleted"},
		{"failed to start", "failed", "start deadline passed (start timeout 2m0s): the session waited for its turn behind the node's other starts all along",
			"failed: start deadline passed (start timeout 2m0s): the session waited for its turn behind the node's other starts all along"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
			describe(tw, client.Session{ID: "duel-1", Status: "dead", StopReason: tc.reason, StopMessage: tc.message}, time.Now())
			if err := tw.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := describedField(out.String(), "Stop reason"); got != tc.want {
				t.Errorf("Stop reason: %q, want %q in\n%s", got, tc.want, out.String())
			}
		})
	}
}
