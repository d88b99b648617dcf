package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJoinTokenShownOnce starts `arena server` twice on one data directory:
// the first start shows the join token it made, the second names where it
// is kept and shows it nowhere, since a service's output ends up in logs.
func TestJoinTokenShownOnce(t *testing.T) {
	data := t.TempDir()
	run := func(t *testing.T) string {
		t.Helper()
		start := func(ctx context.Context, stdout io.Writer) error {
			return runServer(ctx, []string{"--listen", "127.0.0.1:0", "--data", data, "--log-level", "error"}, stdout, &lockedBuffer{})
		}
		return runPrinting(t, "arena server", start, func(out string) bool { return strings.Contains(out, "Add a node:") }, nil)
	}
	first := run(t)
	kept, err := os.ReadFile(filepath.Join(data, "join-token"))
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(kept))
	if strings.Count(first, secret) != 2 || !strings.Contains(first, "shown this once") {
		t.Fatalf("first start printed:\n%s\nwant the join token it made, shown once with the command that uses it", first)
	}
	second := run(t)
	if strings.Contains(second, secret) || !strings.Contains(second, "(kept in "+filepath.Join(data, "join-token")+")") {
		t.Fatalf("second start printed:\n%s\nwant where the join token is kept, and not the token", second)
	}
}
