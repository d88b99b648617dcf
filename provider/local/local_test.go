package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// fakeAgent writes a script that stands in for `arena agent`: it writes its
// arguments and environment beside itself, then waits to be stopped.
func fakeAgent(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "arena")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"$0.$ARENA_TEST_ID.args\"\nenv > \"$0.$ARENA_TEST_ID.env\"\nexec sleep 600\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// waitFile waits until path exists and returns what it holds.
func waitFile(tb testing.TB, path string) string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s was not written", path)
		}
		time.Sleep(5 * time.Millisecond) // polling the file system
	}
}

func spec(name, node string) arena.MachineSpec {
	return arena.MachineSpec{Name: name, NodeID: node, Labels: map[string]string{arena.MachineLabelInstallation: "inst-1", arena.MachineLabelNode: node},
		Boot: arena.MachineBoot{Servers: []string{"http://127.0.0.1:8080"}, JoinToken: "secret-" + node, NodeID: node, Region: "europe",
			Location: "local", Provider: "local", Capacity: arena.Resources{MilliCPU: 1500, MemoryMB: 2048}}}
}

func TestLocalProvider(t *testing.T) {
	dir := t.TempDir()
	bin := fakeAgent(t, dir)
	newProvider := func(id string) *Provider {
		p, err := New(Config{Binary: bin, Dir: filepath.Join(dir, "state"), PortBase: 41000, PortsPerMachine: 100, StopGrace: 5 * time.Second,
			Env: []string{"ARENA_TEST_ID=" + id}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	p := newProvider("a")
	a, err := p.Create(ctx, spec("arena-cloud-a", "cloud-a"))
	if err != nil {
		t.Fatal(err)
	}
	args := waitFile(t, bin+".a.args")
	for _, want := range []string{"agent", "--node-id cloud-a", "--class cloud", "--port-range 41000-41099", "--cpu 1.5", "--memory 2048", "--server http://127.0.0.1:8080"} {
		if !strings.Contains(args, want) {
			t.Errorf("the agent's arguments %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "secret-cloud-a") {
		t.Error("the join token is on the command line")
	}
	if env := waitFile(t, bin+".a.env"); !strings.Contains(env, "ARENA_JOIN_TOKEN=secret-cloud-a\n") {
		t.Error("the agent's environment lacks its join token")
	}
	p2 := newProvider("b")
	if _, err := p2.Create(ctx, spec("arena-cloud-b", "cloud-b")); err != nil {
		t.Fatal(err)
	}
	if args := waitFile(t, bin+".b.args"); !strings.Contains(args, "--port-range 41100-41199") {
		t.Errorf("a second machine's ports: %q; want the next range", args)
	}
	if _, err := p.Create(ctx, spec("arena-cloud-a", "cloud-a")); arena.ErrorCode(err) != arena.EINVALID {
		t.Errorf("a second machine of one name: %v, want invalid", err)
	}

	tests := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"the installation's", map[string]string{arena.MachineLabelInstallation: "inst-1"}, []string{"arena-cloud-a", "arena-cloud-b"}},
		{"one node's", map[string]string{arena.MachineLabelNode: "cloud-b"}, []string{"arena-cloud-b"}},
		{"another installation's", map[string]string{arena.MachineLabelInstallation: "inst-2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := p.List(ctx, tt.labels)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range list {
				got = append(got, m.ID)
				if m.Status != "running" || m.NodeID() == "" {
					t.Errorf("machine %+v", m)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("listed %v, want %v", got, tt.want)
			}
		})
	}

	// Deleted by the provider that started it, and by one that did not (a
	// control plane restarted since).
	for _, tc := range []struct {
		p  *Provider
		id string
	}{{p, a.ID}, {newProvider("c"), "arena-cloud-b"}} {
		if !tc.p.Alive(tc.id) {
			t.Fatalf("machine %s is not running", tc.id)
		}
		if err := tc.p.Delete(ctx, tc.id); err != nil {
			t.Fatal(err)
		}
		if tc.p.Alive(tc.id) {
			t.Errorf("machine %s still runs after its delete", tc.id)
		}
		if err := tc.p.Delete(ctx, tc.id); arena.ErrorCode(err) != arena.ENOTFOUND {
			t.Errorf("deleting machine %s again: %v, want not found", tc.id, err)
		}
	}
	if list, err := p.List(ctx, nil); err != nil || len(list) != 0 {
		t.Fatalf("after the deletes: %+v, %v", list, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "arena-cloud-a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the agent's data is left: %v", err)
	}
}
