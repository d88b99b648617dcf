package session_test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

func TestLogs(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	h.create(arena.SessionRequest{ID: "s"})
	h.waitState("s", arena.SessionRunning)
	if err := h.rt.Write(arena.SessionKey(org, "s"), "first line\n"); err != nil {
		t.Fatal(err)
	}

	rc, err := h.srv.Logs(ctx, org, "s", false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !strings.Contains(string(all), "first line") {
		t.Fatalf("logs %q, %v", all, err)
	}

	follow, err := h.srv.Logs(ctx, org, "s", true)
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Close()
	lines := bufio.NewScanner(follow)
	readUntil := func(want string) {
		t.Helper()
		for lines.Scan() {
			if strings.Contains(lines.Text(), want) {
				return
			}
		}
		t.Fatalf("the stream ended (%v) before %q", lines.Err(), want)
	}
	readUntil("first line")
	if err := h.rt.Write(arena.SessionKey(org, "s"), "second line\n"); err != nil {
		t.Fatal(err)
	}
	readUntil("second line")
	if err := h.srv.StopSession(ctx, org, "s"); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	if err := lines.Err(); err != nil {
		t.Fatalf("the followed stream ended with %v, want a clean end when the session stopped", err)
	}

	h.waitState("s", arena.SessionStopped)
	// The node kept what the stopped session wrote; a follow of it ends.
	for _, follow := range []bool{false, true} {
		rc, err := h.srv.Logs(ctx, org, "s", follow)
		if err != nil {
			t.Fatalf("logs of the stopped session (follow %v): %v", follow, err)
		}
		kept, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !strings.Contains(string(kept), "first line\nsecond line\n") {
			t.Fatalf("kept logs (follow %v): %q, %v", follow, kept, err)
		}
	}
	for name, tc := range map[string]struct{ org, id string }{
		"another organisation's session": {"org-b", "s"},
		"unknown session":                {org, "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := h.srv.Logs(ctx, tc.org, tc.id, false); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Fatalf("got %v, want not found", err)
			}
		})
	}
	// A node removed from the installation took the kept output with it.
	if err := h.fleet.RemoveNode(ctx, h.node.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Logs(ctx, org, "s", false); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("logs kept on a removed node: got %v, want not found", err)
	}
}

func TestArtifacts(t *testing.T) {
	h := newHarness(t, 10)
	ctx := context.Background()
	s := h.create(arena.SessionRequest{Image: "keeper"})
	h.waitState(s.Name, arena.SessionRunning)
	if _, err := h.srv.Artifact(ctx, org, s.Name, "/replays"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("artifact of a running session: %v", err)
	}
	if err := h.srv.StopSession(ctx, org, s.Name); err != nil {
		t.Fatal(err)
	}
	h.waitState(s.Name, arena.SessionStopped)

	files := readArtifact(t, h, s.Name, "/replays")
	if files["replays"] != "simulated artifact /replays\n" || len(files) != 1 {
		t.Fatalf("artifact /replays: %v", files)
	}
	if files := readArtifact(t, h, s.Name, "/var/log/game.log"); files["var/log/game.log"] == "" {
		t.Fatalf("artifact /var/log/game.log: %v", files)
	}
	for name, tc := range map[string]struct{ org, path string }{
		"a path not kept":                {org, "/etc/passwd"},
		"another organisation's session": {"org-b", "/replays"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := artifactError(h, tc.org, s.Name, tc.path); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Fatalf("got %v, want not found", err)
			}
		})
	}
	// The node's own fault reaches the caller as one, not as a missing file.
	if err := os.WriteFile(filepath.Join(h.dir, "artifacts", s.ID+".tar.gz"), []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := artifactError(h, org, s.Name, "/replays"); arena.ErrorCode(err) != arena.EINTERNAL {
		t.Fatalf("damaged artifacts: got %v, want internal", err)
	}
}

// artifactError downloads an artifact whole and returns why it failed.
func artifactError(h *harness, orgID, sessionID, path string) error {
	rc, err := h.srv.Artifact(context.Background(), orgID, sessionID, path)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	return err
}

func readArtifact(tb testing.TB, h *harness, sessionID, path string) map[string]string {
	tb.Helper()
	rc, err := h.srv.Artifact(context.Background(), org, sessionID, path)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = string(b)
	}
}
