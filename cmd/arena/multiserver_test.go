package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// TestAgentMovesToALiveReplica runs three replicas on one PostgreSQL and an
// agent given all three addresses, a follower's first. SIGKILL that
// follower: the agent goes on through another replica at once, so that its
// node never becomes unreachable, its sessions keep running, and new ones
// are placed and started on it.
func TestAgentMovesToALiveReplica(t *testing.T) {
	store := postgresURL(t)
	dir := t.TempDir()
	cfgPath := writeReplicaConfig(t, dir)
	const heartbeatTimeout = 2 * time.Second
	joinToken := "join-" + dockertest.RandomID()
	var replicas []*replica
	for i := range 3 {
		p := startProc(t, "server", "--config", cfgPath, "--data", filepath.Join(dir, fmt.Sprint("replica-", i)),
			"--listen", "127.0.0.1:0", "--store", store, "--token", clusterToken, "--join-token", joinToken,
			"--heartbeat-timeout", heartbeatTimeout.String(), "--log-level", "warn")
		replicas = append(replicas, &replica{proc: p, url: p.field("API")})
	}
	checker := apitest.NewChecker(t)
	via := func(r *replica) *testStack {
		return &testStack{tb: t, token: clusterToken, checker: checker, stack: &stack{URL: r.url}}
	}
	// The replicas agree on a leader; the agent is given a follower first.
	var leader *replica
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		leader = nil
		for _, r := range replicas {
			status, body := via(r).call("GET", "/readyz", nil)
			var rd readiness
			if err := json.Unmarshal(body, &rd); err != nil || status != 200 {
				return fmt.Errorf("readyz of %s: %d %s", r.url, status, body)
			}
			if rd.Role == "leader" {
				leader = r
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader yet")
		}
		return nil
	})
	var followers []*replica
	for _, r := range replicas {
		if r != leader {
			followers = append(followers, r)
		}
	}
	first := followers[0]
	lead := via(leader)

	nodeID := dockertest.NodeID(t)
	lo, hi := freePortRange(t, 12)
	agent := startProc(t, "agent", "--server", first.url+","+followers[1].url, "--server", leader.url,
		"--join-token", joinToken, "--node-id", nodeID, "--region", "europe", "--location", "ams",
		"--public-ip", "127.0.0.1", "--cpu", "1", "--memory", "1024", "--port-range", fmt.Sprintf("%d-%d", lo, hi),
		"--data", filepath.Join(dir, "agent"), "--heartbeat-interval", "200ms", "--log-level", "info")
	if got := agent.connectedTo(); got != first.url {
		t.Fatalf("the agent says it is connected to %s, want the first address given, %s", got, first.url)
	}
	node := func() client.Node {
		t.Helper()
		list, err := lead.api().Nodes().List(t.Context())
		if err != nil {
			t.Fatalf("GET /admin/v1/nodes: %v", err)
		}
		for _, n := range list.Nodes {
			if n.ID == nodeID {
				return n
			}
		}
		return client.Node{}
	}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if n := node(); n.State != "ready" {
			return fmt.Errorf("node %+v", n)
		}
		return nil
	})
	place := func() (client.CreatedSession, error) {
		return lead.api().Sessions().Create(t.Context(), client.SessionRequest{Location: "ams", Image: "echo"})
	}
	var running []client.CreatedSession
	for range 3 {
		c, err := place()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		running = append(running, c)
	}
	for _, c := range running {
		lead.waitStatus(c.ID, "running")
	}

	first.kill()
	killed := time.Now()
	var c client.CreatedSession
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		var err error
		if c, err = place(); err != nil {
			return fmt.Errorf("create after the kill: %v", err)
		}
		return nil
	})
	createdAfter := time.Since(killed)
	lead.waitStatus(c.ID, "running")
	runningAfter := time.Since(killed)
	running = append(running, c)
	moved, at := agent.movedFrom(first.url)
	if !slices.Contains([]string{followers[1].url, leader.url}, moved) {
		t.Fatalf("the agent moved to %s, which is no live replica", moved)
	}

	// The node beats on through another replica past the time its
	// silence would have made it unreachable; every look on the way finds
	// it ready and its sessions running.
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		n := node()
		if n.State != "ready" {
			t.Fatalf("after the kill the node is %q", n.State)
		}
		for _, s := range running {
			if d, err := lead.describe(s.ID); err != nil || d.Status != "running" {
				t.Fatalf("after the kill session %s is %v %q", s.ID, err, d.Status)
			}
		}
		seen, err := time.Parse(time.RFC3339Nano, n.LastSeen)
		if err != nil {
			t.Fatalf("lastSeen %q: %v", n.LastSeen, err)
		}
		if past := killed.Add(heartbeatTimeout + time.Second); seen.Before(past) {
			return fmt.Errorf("last heartbeat at %s, want one after %s", seen.Format(time.StampMilli), past.Format(time.StampMilli))
		}
		return nil
	})
	t.Logf("killed %s, the follower the agent used: the agent moved to %s after %s; the first create after the kill was answered after %s, its session ran after %s",
		first.url, moved, at.Sub(killed).Round(time.Millisecond), createdAfter.Round(time.Millisecond), runningAfter.Round(time.Millisecond))
}

// connectedTo returns the control plane an agent's startup line names.
func (p *proc) connectedTo() string {
	p.tb.Helper()
	const marker = " is connected to "
	deadline := time.After(dockertest.Timeout)
	for {
		select {
		case line := <-p.lines:
			if _, after, ok := strings.Cut(line, marker); ok {
				return after
			}
		case err := <-p.exited:
			p.exited <- err
			p.tb.Fatalf("the agent exited (%v) before it connected", err)
		case <-deadline:
			p.tb.Fatal("the agent said no connection")
		}
	}
}

// movedFrom waits until the agent's client logs that it uses a control
// plane other than from, and returns that one's URL and when it said so.
func (p *proc) movedFrom(from string) (string, time.Time) {
	p.tb.Helper()
	const marker = "using the control plane at "
	deadline := time.After(dockertest.Timeout)
	for {
		select {
		case line := <-p.logs:
			_, after, ok := strings.Cut(line, marker)
			if !ok {
				continue
			}
			u, _, _ := strings.Cut(after, `"`)
			if u, _, _ = strings.Cut(u, " "); u == from {
				continue
			}
			stamp, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			at, err := time.Parse(time.RFC3339Nano, stamp)
			if err != nil {
				p.tb.Fatalf("a log line without its time: %q", line)
			}
			return u, at
		case err := <-p.exited:
			p.exited <- err
			p.tb.Fatalf("the agent exited (%v) before it moved", err)
		case <-deadline:
			p.tb.Fatalf("the agent did not move from %s", from)
		}
	}
}

func TestAgentServers(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		env     string
		file    config.Servers
		want    []string
		wantErr string
	}{
		{"one flag", []string{"http://cp-1:8080"}, "", nil, []string{"http://cp-1:8080"}, ""},
		{"flags repeated and comma-separated", []string{"http://cp-1:8080,http://cp-2:8080", "http://cp-3:8080"}, "http://env:8080", config.Servers{"http://file:8080"},
			[]string{"http://cp-1:8080", "http://cp-2:8080", "http://cp-3:8080"}, ""},
		{"the environment, comma-separated", nil, "http://cp-1:8080, http://cp-2:8080", config.Servers{"http://file:8080"}, []string{"http://cp-1:8080", "http://cp-2:8080"}, ""},
		{"the file's list", nil, "", config.Servers{"http://cp-1:8080", "http://cp-2:8080"}, []string{"http://cp-1:8080", "http://cp-2:8080"}, ""},
		{"the file's one string", nil, "", config.Servers{"http://cp-1:8080"}, []string{"http://cp-1:8080"}, ""},
		{"none", nil, "", nil, nil, "--server and --join-token are required"},
		{"a bad one in the environment", nil, "http://cp-1:8080,cp-2:8080", nil, nil, `ARENA_SERVER: control plane address "cp-2:8080" is not an http:// or https:// URL`},
		{"a bad one in the file", nil, "", config.Servers{"https://user:pw@cp-1"}, nil, `the config file's server: control plane address "https://user:xxxxx@cp-1" holds a user name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := agentServers(tt.flags, tt.env, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestAgentServerFlag: a bad --server is a command line not understood.
func TestAgentServerFlag(t *testing.T) {
	var stdout, stderr strings.Builder
	err := runAgent(t.Context(), []string{"--server", "http://cp-1:8080", "--server", "ftp://cp-2", "--join-token", "j"}, &stdout, &stderr)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(ue.msg, `invalid value "ftp://cp-2" for --server`) {
		t.Fatalf("got %v, want a usage error naming the bad address", err)
	}
}
