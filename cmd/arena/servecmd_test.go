package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arena-hq/arena/docker/dockertest"
)

// TestJoinTokenShownOnce starts `arena server` twice on one data directory:
// the first start shows the join token it made, the second names where it
// is kept and shows it nowhere, since a service's output ends up in logs.
func TestJoinTokenShownOnce(t *testing.T) {
	data := t.TempDir()
	run := func(t *testing.T) string {
		t.Helper()
		var stdout lockedBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runServer(ctx, []string{"--listen", "127.0.0.1:0", "--data", data, "--log-level", "error"}, &stdout, &lockedBuffer{})
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("arena server: %v", err)
			}
		}()
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			if strings.Contains(stdout.String(), "Add a node:") {
				return nil
			}
			select {
			case err := <-done:
				done <- err
				t.Fatalf("arena server ended: %v", err)
			default:
			}
			return fmt.Errorf("arena server printed nothing yet: %q", stdout.String())
		})
		return stdout.String()
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
