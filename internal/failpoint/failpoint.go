// Package failpoint stops Arena dead at a named point, as a crash there
// would, for the tests that prove a crash loses nothing: the environment
// variable ARENA_FAILPOINTS names the points, comma-separated, and a
// process that reaches one kills itself with SIGKILL. Without it a point
// costs a map lookup.
package failpoint

import (
	"os"
	"strings"
	"syscall"
)

var points = parse(os.Getenv("ARENA_FAILPOINTS"))

func parse(s string) map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}

// Crash kills the process when the point name is set.
func Crash(name string) {
	if points[name] {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal takes the process; nothing after runs
	}
}
