package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/provider/local"
	"github.com/arena-hq/arena/sqlite"
)

// TestCloudBurstSurvivesAKill kills the control plane (SIGKILL, at a
// failpoint) between the record of a machine and its order, and between
// the order and the record of its answer; Arena started again on the same
// data carries on: the create refused for want of room is placed on one
// machine, no second machine is ordered for it, and the provider keeps no
// machine the store does not know.
func TestCloudBurstSurvivesAKill(t *testing.T) {
	for _, point := range []string{"scaler-recorded", "scaler-ordered"} {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			bin := arenaBinary(t)
			repo, tag, _ := strings.Cut(dockertest.EchoImage(t), ":")
			lo, hi := freePortRange(t, 20)
			cloudLo, _ := freePortRange(t, 100)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			cfg := fmt.Sprintf(`
portRange: %d-%d
demoImage: ""
node: {id: %s, location: local, class: metal, milliCpu: 100, memoryMb: 4096}
locations: [{name: local, region: europe}]
applications:
  - name: echo
    repository: %s
    tags: [{name: %q, priority: 1}]
    ports: [{container: 7777, protocol: udp}]
    resources: {milliCpu: 100, memoryMb: 64}
    stopGrace: 1s
cloud:
  interval: 100ms
  callTimeout: 1s
  providers: [{name: local, type: local, binary: %s, portBase: %d, portsPerMachine: 100}]
  regions:
    - region: europe
      maxNodes: 2
      scaleUpCooldown: 1ms
      scaleDownCooldown: 1h
      idleTimeout: 1h
      joinTimeout: 2m
      offers: [{provider: local, location: local, instanceType: process, milliCpu: 500, memoryMb: 1024}]
`, lo, hi, dockertest.NodeID(t), repo, tag, bin, cloudLo)
			cfgPath := filepath.Join(dir, "arena.yaml")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			t.Cleanup(func() {
				lp, err := local.New(local.Config{Dir: filepath.Join(data, "machines")})
				if err != nil {
					return
				}
				left, _ := lp.List(context.Background(), nil)
				for _, m := range left {
					_ = lp.Delete(context.Background(), m.ID)
				}
			})
			start := func(env ...string) *exec.Cmd {
				t.Helper()
				cmd := exec.Command(bin, "dev", "--config", cfgPath, "--data", data, "--listen", addr, "--dev-token", testToken)
				cmd.Env = append(os.Environ(), env...)
				cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				})
				return cmd
			}
			api := client.New("http://"+addr, testToken)
			create := func(id string) error {
				_, err := api.Sessions().Create(t.Context(), client.SessionRequest{ID: id, Location: "local", Image: "echo"})
				return err
			}
			// The agents are killed with the test's machines and leave their
			// containers: names of the subtest's own, removed after it.
			metal, burst := "crash-metal-"+point, "crash-burst-"+point
			t.Cleanup(func() {
				rt := dockertest.Runtime(t)
				for _, name := range []string{metal, burst} {
					_ = rt.Remove(context.Background(), arena.ContainerNameOf(arena.SessionKey("dev", name)))
				}
			})
			first := start("ARENA_FAILPOINTS=" + point)
			dockertest.Eventually(t, time.Minute, func() error { return create(metal) })
			// Metal is full: this create is refused, and the scaler, ordering
			// room for it, is killed at the point.
			if err := create(burst); !isUnavailable(err) {
				t.Fatalf("a create beyond metal: %v, want 420", err)
			}
			exited := make(chan error, 1)
			go func() { exited <- first.Wait() }()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("the control plane ended with %v, want SIGKILL at %s", err, point)
				}
			case <-time.After(time.Minute):
				t.Fatalf("the control plane did not reach %s", point)
			}

			start()
			dockertest.Eventually(t, 2*time.Minute, func() error {
				err := create(burst)
				if isUnavailable(err) {
					return fmt.Errorf("420: %v", err)
				}
				return err
			})
			checkOneMachine(t, data)
		})
	}
}

func isUnavailable(err error) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.StatusCode == 420
}

// checkOneMachine checks that the store of data keeps one live machine,
// the one its local provider runs, and the provider no other.
func checkOneMachine(t *testing.T, data string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(data, "arena.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.ListMachines(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, m := range list {
		if m.State.Live() {
			live = append(live, m.NodeID)
		}
	}
	lp, err := local.New(local.Config{Dir: filepath.Join(data, "machines")})
	if err != nil {
		t.Fatal(err)
	}
	running, err := lp.List(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, m := range running {
		nodes = append(nodes, m.NodeID())
	}
	if len(live) != 1 || len(nodes) != 1 || live[0] != nodes[0] {
		t.Fatalf("live machines in the store %v, at the provider %v; want the same one; records %s", live, nodes, describeMachines(list))
	}
}

func describeMachines(list []*arena.CloudMachine) string {
	var parts []string
	for _, m := range list {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", m.NodeID, m.State, m.Reason))
	}
	return strings.Join(parts, "; ")
}
