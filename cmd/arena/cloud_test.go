package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/provider/local"
	"github.com/arena-hq/arena/webhook"
)

// TestCloudBurstOnTheEngine runs the cloud burst end to end on this
// machine with the local provider: a metal node with room for three
// sessions fills, and orders nothing; the next create is refused (420),
// and the scaler orders a machine for it, a real arena agent that joins
// with its single-use token; the create, retried, is placed on it (201); once every session stopped and the node stayed idle, it is
// drained and removed, and its agent ends. Metal stays.
func TestCloudBurstOnTheEngine(t *testing.T) {
	bin := arenaBinary(t)
	lo, _ := freePortRange(t, 100)
	s := newStackConfig(t, 20, "", func(c *config.Config) {
		c.Node.MilliCPU = 300
		quick := config.Duration(time.Millisecond)
		c.Cloud = config.Cloud{Interval: config.Duration(100 * time.Millisecond),
			Providers: []config.CloudProvider{{Name: "local", Type: "local", Binary: bin, PortBase: lo, PortsPerMachine: 100}},
			Regions: []config.Scaling{{Region: "europe", MaxNodes: 1, IdleTimeout: config.Duration(time.Second), ScaleUpCooldown: quick, ScaleDownCooldown: quick,
				JoinTimeout: config.Duration(time.Minute), // no buffer: the refused create itself asks for room
				Offers:      []config.Offer{{Provider: "local", Location: "local", InstanceType: "process", CostPerHour: 0.01, MilliCPU: 500, MemoryMB: 1024}}}},
		}
	}, func(o *devOptions) { o.metricsListen = "127.0.0.1:0" })
	stopLocalMachines(t, s)
	// The operators' endpoint, told of the nodes the scaler adds and retires.
	hooks := newHookReceiver(t, 0)
	hook, err := s.api().Admin().CreateWebhook(t.Context(), s.cfg.OrgID, client.WebhookRequest{URL: hooks.URL,
		Events: []string{webhook.EventNodeAdded, webhook.EventNodeRetired}})
	if err != nil {
		t.Fatal(err)
	}
	hooks.setSecret(hook.Secret)
	machines := func() []*arena.CloudMachine {
		t.Helper()
		list, err := s.store.ListMachines(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	var ids []string
	for i := range 3 {
		c := s.create(client.SessionRequest{ID: fmt.Sprintf("metal-%d", i)})
		s.waitStatus(c.ID, "running")
		ids = append(ids, c.ID)
	}
	if list := machines(); len(list) != 0 {
		t.Fatalf("machines %+v ordered while metal held every session", list)
	}
	// Metal is full: the next create is refused, and retried as a
	// matchmaker would until the machine ordered for it has joined.
	var cloud client.CreatedSession
	refused := 0
	dockertest.Eventually(t, 90*time.Second, func() error {
		c, err := s.api().Sessions().Create(t.Context(), client.SessionRequest{ID: "burst-1", Location: "local", Image: "echo"})
		if err != nil {
			var e *client.APIError
			if errors.As(err, &e) && e.StatusCode == 420 {
				refused++
				return fmt.Errorf("420 while the machine boots: %v", err)
			}
			t.Fatal(err)
		}
		cloud = c
		return nil
	})
	if refused == 0 {
		t.Fatal("the create metal could not hold was not refused first")
	}
	s.waitStatus(cloud.ID, "running")
	list := machines()
	if len(list) != 1 || list[0].State != arena.MachineReady {
		t.Fatalf("machines %+v; want one, ready", list)
	}
	node := list[0].NodeID
	if got := s.session(cloud.ID).NodeID; got != node {
		t.Fatalf("the create metal could not hold runs on %s, want the cloud node %s", got, node)
	}
	if got := dockertest.AskUDP(t, hostPort(cloud, arena.UDP), "cloud"); got != "cloud" {
		t.Fatalf("udp echo on the cloud node = %q", got)
	}

	// The panel's nodes page shows the machine, ready, and why it came.
	b := newBrowser(t)
	defer b.checkProblems()
	b.load("opening the panel", chromedp.Navigate(s.URL+"/ui/"), `[data-testid=token-input]`)
	b.fill(`[data-testid=token-input]`, testToken)
	b.click(`[data-testid=signin-submit]`)
	b.click(`[data-testid=nav-nodes]`)
	b.waitFor("the cloud machine is shown ready", `(r => r && r.querySelector('[data-testid=machine-state]').textContent === 'ready')(document.querySelector('tr[data-testid=machine-row][data-node-id="`+node+`"]'))`)
	b.waitFor("the decision to order it is shown with its reason", `[...document.querySelectorAll('[data-testid=decision][data-kind=provision]')].some(li => li.textContent.includes('1 waiting'))`)
	b.screenshot("scaler")

	for _, id := range append(ids, cloud.ID) {
		if err := s.api().Sessions().Stop(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	dockertest.Eventually(t, time.Minute, func() error {
		if m := machines()[0]; m.State != arena.MachineDeleted {
			return fmt.Errorf("the cloud machine is %s (%s)", m.State, m.Reason)
		}
		return nil
	})
	for _, n := range s.cp.fleet.Nodes() {
		if n.ID == node {
			t.Fatalf("the retired node %s is still known", node)
		}
	}
	if !s.cp.fleet.Knows(s.Node.ID) {
		t.Fatal("the metal node went")
	}
	want := []string{webhook.EventNodeAdded + " " + node, webhook.EventNodeRetired + " " + node}
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if got := hooks.nodeEvents(); !slices.Equal(got, want) {
			return fmt.Errorf("node events %v, want %v", got, want)
		}
		return nil
	})
	// The decisions, with their reasons, as the admin API and the CLI show.
	st, err := s.api().Nodes().Scaler(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range st.Decisions {
		if d.Error != "" {
			t.Errorf("decision %+v failed", d)
		}
		kinds = append(kinds, d.Kind)
	}
	if strings.Join(kinds, " ") != "provision drain retire" || len(st.Machines) != 1 || st.CostPerHour != 0 {
		t.Fatalf("the scaler's decisions %q, machines %+v, cost %v", kinds, st.Machines, st.CostPerHour)
	}
	body := scrapeMetrics(t, s.MetricsURL)
	for _, want := range []string{`arena_cloud_orders_total{provider="local",result="ok"} 1`, `arena_cloud_join_seconds_count{provider="local"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in the metrics", want)
		}
	}
	out := mustCLI(t, "scaler", "status", "--server", s.URL, "--token", testToken)
	for _, want := range []string{node, "deleted", "provision", "1 waiting", "retire"} {
		if !strings.Contains(out, want) {
			t.Errorf("arena scaler status lacks %q:\n%s", want, out)
		}
	}
	if out := mustCLI(t, "scaler", "policy", "--server", s.URL, "--token", testToken); !strings.Contains(out, "local:process@") || !strings.Contains(out, "0m/0Mi") {
		t.Errorf("arena scaler policy:\n%s", out)
	}
	lp, err := local.New(local.Config{Dir: filepath.Join(s.opts.data, "machines")})
	if err != nil {
		t.Fatal(err)
	}
	if left, err := lp.List(t.Context(), nil); err != nil || len(left) != 0 {
		t.Fatalf("the local provider's machines after the retirement: %+v, %v", left, err)
	}
}

// TestScalingPolicyFromTheCLI: on a running Arena whose config file names
// a provider and no policy, an operator sets a region's policy with the
// CLI; the scaler, reading it at its next look, orders the machine its
// minimum asks for, which joins. A changed policy (no minimum, a short idle
// time) retires it; the policy deleted, the region is no longer scaled.
func TestScalingPolicyFromTheCLI(t *testing.T) {
	bin := arenaBinary(t)
	lo, _ := freePortRange(t, 100)
	s := newStackConfig(t, 20, "", func(c *config.Config) {
		c.Cloud = config.Cloud{Interval: config.Duration(100 * time.Millisecond),
			Providers: []config.CloudProvider{{Name: "local", Type: "local", Binary: bin, PortBase: lo, PortsPerMachine: 100}}}
	})
	stopLocalMachines(t, s)
	cli := []string{"--server", s.URL, "--token", testToken}
	if out := mustCLI(t, append([]string{"scaler", "provider"}, cli...)...); !strings.Contains(out, "local") || !strings.Contains(out, "config") {
		t.Fatalf("arena scaler provider:\n%s", out)
	}
	setPolicy := func(minNodes int, idle string) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "policy.yaml")
		policy := fmt.Sprintf(`offers:
  - {provider: local, location: local, instanceType: process, costPerHour: 0.01, capacity: {milliCpu: 500, memoryMb: 1024}}
minNodes: %d
maxNodes: 1
scaleUpCooldownSeconds: 0
scaleDownCooldownSeconds: 0
idleTimeoutSeconds: %s
`, minNodes, idle)
		if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := mustCLI(t, append([]string{"scaler", "policy", "set", "europe", "-f", file}, cli...)...); !strings.Contains(out, "europe") {
			t.Fatalf("arena scaler policy set:\n%s", out)
		}
	}
	machine := func() *arena.CloudMachine {
		t.Helper()
		list, err := s.store.ListMachines(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 1 {
			t.Fatalf("machines %+v; want one at most", list)
		}
		if len(list) == 0 {
			return nil
		}
		return list[0]
	}

	setPolicy(1, "600")
	dockertest.Eventually(t, 90*time.Second, func() error {
		if m := machine(); m == nil || m.State != arena.MachineReady {
			return fmt.Errorf("machine %+v; want one ready", m)
		}
		return nil
	})
	node := machine().NodeID
	if !s.cp.fleet.Knows(node) {
		t.Fatalf("the machine's node %s did not join", node)
	}

	setPolicy(0, "1")
	dockertest.Eventually(t, time.Minute, func() error {
		if m := machine(); m.State != arena.MachineDeleted {
			return fmt.Errorf("the machine is %s (%s)", m.State, m.Reason)
		}
		return nil
	})
	if s.cp.fleet.Knows(node) {
		t.Fatalf("the retired node %s is still known", node)
	}

	mustCLI(t, append([]string{"scaler", "policy", "delete", "europe"}, cli...)...)
	st, err := s.api().Nodes().Scaler(t.Context())
	if err != nil || len(st.Policies) != 0 {
		t.Fatalf("policies after the delete: %+v, %v", st.Policies, err)
	}
	var kinds []string
	for _, d := range st.Decisions {
		kinds = append(kinds, d.Kind)
	}
	if strings.Join(kinds, " ") != "provision drain retire" {
		t.Fatalf("decisions %q", kinds)
	}
}

// stopLocalMachines makes sure that, whatever the test leaves, no agent
// of the stack's local provider outlives it.
func stopLocalMachines(tb testing.TB, s *testStack) {
	tb.Helper()
	tb.Cleanup(func() {
		lp, err := local.New(local.Config{Dir: filepath.Join(s.opts.data, "machines")})
		if err != nil {
			return
		}
		left, _ := lp.List(context.Background(), nil)
		for _, m := range left {
			_ = lp.Delete(context.Background(), m.ID)
		}
	})
}
