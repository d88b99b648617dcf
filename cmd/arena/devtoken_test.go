package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// lockedBuffer is a bytes.Buffer that a process under test writes to while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDevTokenStaysOutOfLogs starts `arena dev` twice on one data directory
// and uses its token: the first start shows the token it made on stdout,
// the second does not, and the log stream never carries the token nor any
// part of its hash (which a token's id used to be made of) at any level.
func TestDevTokenStaysOutOfLogs(t *testing.T) {
	cfg := testConfig(t, 2, "")
	data := t.TempDir()
	var logs lockedBuffer
	log, err := newLogger(&logs, "text", "debug")
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T) string {
		t.Helper()
		start := func(ctx context.Context, stdout io.Writer) error {
			return dev(ctx, cfg, devOptions{listen: "127.0.0.1:0", data: data, publicIP: "127.0.0.1"}, log, stdout)
		}
		hasAPI := func(out string) bool { return apiURL(out) != "" }
		return runPrinting(t, "arena dev", start, hasAPI, func(out string) {
			token, err := os.ReadFile(filepath.Join(data, "dev-token"))
			if err != nil {
				t.Fatal(err)
			}
			// Requests that log who made them: the access log, and a token
			// made by the dev token, whose id the log names.
			s := &testStack{tb: t, checker: apitest.NewChecker(t), stack: &stack{URL: apiURL(out)}, token: strings.TrimSpace(string(token))}
			admin := s.api().Admin()
			if _, err := admin.WhoAmI(t.Context()); err != nil {
				t.Fatalf("GET /admin/v1/whoami: %v", err)
			}
			if _, err := admin.CreateToken(t.Context(), cfg.OrgID, client.TokenRequest{Name: "mm-" + dockertest.RandomID()}); err != nil {
				t.Fatalf("POST tokens: %v", err)
			}
		})
	}

	first := run(t)
	second := run(t)
	b, err := os.ReadFile(filepath.Join(data, "dev-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(b))
	hash := arena.HashToken(token)
	if !strings.Contains(first, token) {
		t.Errorf("the first start does not show the token it made:\n%s", first)
	}
	if strings.Contains(second, token) {
		t.Errorf("a later start shows the token again:\n%s", second)
	}
	if !strings.Contains(second, filepath.Join(data, "dev-token")) {
		t.Errorf("a later start does not say where the token is kept:\n%s", second)
	}
	logged := logs.String()
	if !strings.Contains(logged, "token created") {
		t.Fatalf("the log has no record of the token made; the test proves nothing:\n%s", logged)
	}
	for _, secret := range []struct{ name, s string }{{"token", token}, {"hash", hash[:8]}} {
		if strings.Contains(logged, secret.s) {
			t.Errorf("the log stream carries the %s %q:\n%s", secret.name, secret.s, logged)
		}
	}
}

// apiURL is the API's address that arena dev or arena server printed in
// out; "" before it did.
func apiURL(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "API:" {
			return f[1]
		}
	}
	return ""
}

// runPrinting runs start, a command that serves until its context ends,
// until what it printed satisfies printed, then calls use with it (nil
// for nothing), stops the command and returns all it printed.
func runPrinting(t *testing.T, name string, start func(ctx context.Context, stdout io.Writer) error, printed func(string) bool, use func(out string)) string {
	t.Helper()
	var stdout lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx, &stdout) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}()
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if printed(stdout.String()) {
			return nil
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s ended: %v", name, err)
		default:
		}
		return fmt.Errorf("%s printed nothing of use yet: %q", name, stdout.String())
	})
	if use != nil {
		use(stdout.String())
	}
	return stdout.String()
}
