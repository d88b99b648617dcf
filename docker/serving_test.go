package docker_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/docker/dockertest"
)

// TestServing reads what a real game server serves on, from its
// container's network namespace: nothing while it loads, then its ports,
// under bridge and host networking alike; and a stopped container is no
// server at all.
func TestServing(t *testing.T) {
	t.Parallel()
	rt := dockertest.Runtime(t)
	node := dockertest.NodeID(t)
	hostTCP, hostUDP := dockertest.FreePort(t), dockertest.FreePort(t)
	tests := []struct {
		name     string
		network  arena.NetworkMode
		env      map[string]string
		tcp, udp int
	}{
		{"bridge", arena.NetworkBridge, nil, dockertest.EchoPort, dockertest.EchoPort},
		{"host", arena.NetworkHost, map[string]string{
			"GAMEYE_PORT_TCP_7777": strconv.Itoa(hostTCP), "GAMEYE_PORT_UDP_7777": strconv.Itoa(hostUDP),
		}, hostTCP, hostUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := dockertest.EchoSpec(t, node)
			spec.Network = tt.network
			spec.Args = []string{"--start-delay", "2s"}
			for k, v := range tt.env {
				spec.Env[k] = v
			}
			id := start(t, rt, spec)
			ctx := context.Background()
			s, err := rt.Serving(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(s.TCP, tt.tcp) || slices.Contains(s.UDP, tt.udp) {
				t.Fatalf("serving %+v while it loads", s)
			}
			dockertest.Eventually(t, dockertest.Timeout, func() error {
				if s, err = rt.Serving(ctx, id); err != nil {
					return err
				}
				if !slices.Contains(s.TCP, tt.tcp) || !slices.Contains(s.UDP, tt.udp) {
					return errNotYet(s)
				}
				return nil
			})
			stopCtx, cancel := context.WithTimeout(ctx, dockertest.Timeout)
			defer cancel()
			if err := rt.Stop(stopCtx, id, time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := rt.Serving(ctx, id); arena.ErrorCode(err) != arena.ECONFLICT {
				t.Fatalf("Serving of a stopped container: %v, want a conflict", err)
			}
		})
	}
	if _, err := rt.Serving(context.Background(), "arena-test-nobody"); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("Serving of an unknown container: %v", err)
	}
}

type errNotYet arena.Sockets

func (e errNotYet) Error() string {
	return "serving tcp " + fmtPorts(e.TCP) + " udp " + fmtPorts(e.UDP)
}

func fmtPorts(ps []int) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return "[" + strings.Join(s, " ") + "]"
}
