package main

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
)

// publishedPorts returns the host ports the engine published for the
// session's container, as the Session API lists them.
func (s *testStack) publishedPorts(sessionID string) []arena.Port {
	s.tb.Helper()
	key := arena.SessionKey(s.cfg.OrgID, sessionID)
	var id string
	for _, c := range s.containers() {
		if c.SessionID == key {
			id = c.ID
		}
	}
	if id == "" {
		s.tb.Fatalf("no container of session %s", sessionID)
	}
	var out []arena.Port
	for port, bindings := range dockertest.Inspect(s.tb, id).NetworkSettings.Ports {
		for _, b := range bindings {
			host, err := strconv.Atoi(b.HostPort)
			if err != nil {
				s.tb.Fatal(err)
			}
			p := arena.Port{Protocol: arena.Protocol(port.Proto()), Container: int(port.Num()), Host: host}
			if !slices.Contains(out, p) { // one binding per address family
				out = append(out, p)
			}
		}
	}
	return sortPorts(out)
}

// describedPorts returns the ports GET /session/{id} lists.
func (s *testStack) describedPorts(id string) []arena.Port {
	s.tb.Helper()
	d, err := s.describe(id)
	if err != nil {
		s.tb.Fatalf("GET /session/%s: %v", id, err)
	}
	var out []arena.Port
	for key, host := range d.Port {
		var container int
		var proto string
		if _, err := fmt.Sscanf(key, "%d/%s", &container, &proto); err != nil {
			s.tb.Fatalf("port %q: %v", key, err)
		}
		out = append(out, arena.Port{Protocol: arena.Protocol(proto), Container: container, Host: host})
	}
	return sortPorts(out)
}

func sortPorts(ports []arena.Port) []arena.Port {
	slices.SortFunc(ports, func(a, b arena.Port) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Container, b.Container), cmp.Compare(a.Host, b.Host))
	})
	return ports
}

// occupy holds a TCP port on all the host's addresses, as another program
// would, until the test ends.
func occupy(tb testing.TB, port int) {
	tb.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
}

// TestTakenHostPortMovesTheSession: a host port of the node's range taken
// by another program, before the agent could tell placement, is given to a
// session all the same; its container cannot start there, and the session
// ends up running on other ports, which the API then lists and the engine
// publishes.
func TestTakenHostPortMovesTheSession(t *testing.T) {
	// The agent sees no held port at all: as if the program took the port
	// just after the agent's last look.
	s := newStackWith(t, 4, "", func(o *devOptions) {
		o.heldPorts = func(lo, hi int) ([]int, error) { return nil, nil }
	})
	lo := s.Node.PortMin
	occupy(t, lo)
	c := s.create(client.SessionRequest{})
	if tcp := hostPort(c, arena.TCP); tcp != net.JoinHostPort("127.0.0.1", strconv.Itoa(lo)) {
		t.Fatalf("created on %+v: the first port of the range, %d, was expected for TCP", c.Ports, lo)
	}
	s.waitStatus(c.ID, "running")
	described := s.describedPorts(c.ID)
	want := sortPorts([]arena.Port{{Protocol: arena.TCP, Container: 7777, Host: lo + 2}, {Protocol: arena.UDP, Container: 7777, Host: lo + 3}})
	if !slices.Equal(described, want) {
		t.Fatalf("GET /session lists %+v, want %+v", described, want)
	}
	if published := s.publishedPorts(c.ID); !slices.Equal(published, described) {
		t.Fatalf("the engine publishes %+v, the API lists %+v", published, described)
	}
	moved := client.CreatedSession{ID: c.ID, Host: c.Host, Ports: described}
	if got := dockertest.AskTCP(t, hostPort(moved, arena.TCP), "moved"); got != "moved" {
		t.Fatalf("TCP echo on the new port: %q", got)
	}
	if got := dockertest.AskUDP(t, hostPort(moved, arena.UDP), "moved"); got != "moved" {
		t.Fatalf("UDP echo on the new port: %q", got)
	}
}

// TestHeldHostPortIsAvoided: a host port of the node's range that another
// program holds is seen by the agent on the host's sockets and given to no
// session.
func TestHeldHostPortIsAvoided(t *testing.T) {
	s := newStack(t, 4)
	lo := s.Node.PortMin
	occupy(t, lo)
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if n := s.leader().fleet.Nodes(); len(n) != 1 || n[0].FreePorts != 3 {
			return fmt.Errorf("nodes %+v, want 3 free ports", n)
		}
		return nil
	})
	c := s.create(client.SessionRequest{})
	want := sortPorts([]arena.Port{{Protocol: arena.TCP, Container: 7777, Host: lo + 1}, {Protocol: arena.UDP, Container: 7777, Host: lo + 2}})
	if got := sortPorts(c.Ports); !slices.Equal(got, want) {
		t.Fatalf("created on %+v, want %+v", got, want)
	}
	s.waitStatus(c.ID, "running")
	if published := s.publishedPorts(c.ID); !slices.Equal(published, want) {
		t.Fatalf("the engine publishes %+v, want %+v", published, want)
	}
	// One port left, not enough for a second session.
	if _, err := s.api().Sessions().Create(t.Context(), client.SessionRequest{Location: "local", Image: "echo"}); arena.ErrorCode(err) != arena.EUNAVAILABLE {
		t.Fatalf("a second session with one free port: %v, want %s", err, arena.EUNAVAILABLE)
	}
}
