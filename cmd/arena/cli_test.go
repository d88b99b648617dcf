package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// TestCLI drives the session commands against a control plane with
// simulated nodes.
func TestCLI(t *testing.T) {
	st, err := startSimServer(context.Background(), 2, arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := func(cmd func(context.Context, []string, io.Writer, io.Writer) error, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--server", st.URL, "--token", st.Token)
		if err := cmd(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}

	var created struct{ ID string }
	if err := json.Unmarshal([]byte(run(runSession, "create", "--location", "local", "--image", "echo", "--id", "cli-1",
		"--env", "MODE=ranked", "--label", "match=42", "--arg", "--port", "--arg", "7777", "--ttl", "1h", "-o", "json")), &created); err != nil || created.ID != "cli-1" {
		t.Fatalf("create: %+v %v", created, err)
	}
	if out := run(runSession, "create", "--location", "local", "--image", "echo"); !strings.Contains(out, "PORT") || !strings.Contains(out, "7777/udp -> 127.0.0.1:") {
		t.Fatalf("create table:\n%s", out)
	}
	if out := run(runSession, "list", "--label", "match=42"); !strings.Contains(out, "cli-1") || strings.Count(out, "\n") != 2 {
		t.Fatalf("list by label:\n%s", out)
	}
	if out := run(runSession, "join", "cli-1", "alice", "bob"); !strings.Contains(out, "COUNT    2") {
		t.Fatalf("join:\n%s", out)
	}
	if out := run(runSession, "list", "--players-gt", "1"); !strings.Contains(out, "cli-1") || strings.Count(out, "\n") != 2 {
		t.Fatalf("list by players:\n%s", out)
	}
	if out := run(runSession, "leave", "bob", "--session", "cli-1"); !strings.Contains(out, "COUNT    1") {
		t.Fatalf("leave:\n%s", out)
	}
	if out := run(runSession, "get", "cli-1"); !strings.Contains(out, "alice") || describedField(out, "Labels") != "match=42" {
		t.Fatalf("get:\n%s", out)
	}
	if out := run(runSession, "logs", "cli-1"); !strings.Contains(out, "simulated server started") {
		t.Fatalf("logs:\n%s", out)
	}
	if out := run(runLocations, "echo"); !strings.Contains(out, "local-0") || !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("locations:\n%s", out)
	}
	if out := run(runNode, "drain", "sim-1"); !strings.Contains(out, "sim-1") || !strings.Contains(out, "draining") {
		t.Fatalf("node drain:\n%s", out)
	}
	if out := run(runNode, "list"); !strings.Contains(out, "sim-0") || !strings.Contains(out, "ready") || !strings.Contains(out, "draining") {
		t.Fatalf("node list:\n%s", out)
	}
	if out := run(runSession, "delete", "cli-1"); !strings.Contains(out, "stopping") {
		t.Fatalf("delete:\n%s", out)
	}
	var errOut bytes.Buffer
	err = runSession(context.Background(), []string{"delete", "nope", "--server", st.URL, "--token", st.Token}, io.Discard, &errOut)
	if arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("deleting an unknown session: %v, want %s", err, arena.ENOTFOUND)
	}
}
