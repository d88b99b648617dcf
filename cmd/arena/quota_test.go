package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// quotaError is the contract's error body, every field required.
type quotaError struct {
	StatusCode int               `json:"statusCode"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Details    string            `json:"details"`
	Path       string            `json:"path"`
	Identifier string            `json:"identifier"`
	Timestamp  string            `json:"timestamp"`
	Violations []arena.Violation `json:"violations"`
}

// wantQuotaError checks that a POST /session was refused for the quota with
// the contract's error body, and that the message names want.
func wantQuotaError(tb testing.TB, status int, body []byte, want string) {
	tb.Helper()
	var e quotaError
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		tb.Fatalf("decoding %s: %v", body, err)
	}
	if status != 402 || e.StatusCode != 402 || e.Code != arena.EQUOTA || e.Path != "/session" || e.Identifier == "" || e.Violations == nil ||
		!strings.Contains(e.Message, want) {
		tb.Fatalf("got %d %s, want 402 with code quota and a message naming %q", status, body, want)
	}
}

// orgActive reads an organisation's quota and what its sessions hold of it.
func (s *testStack) orgActive(org string) (client.Quota, client.Active) {
	s.tb.Helper()
	o, err := s.api().Admin().GetOrg(s.tb.Context(), org)
	if err != nil {
		s.tb.Fatalf("GET /admin/v1/orgs/%s: %v", org, err)
	}
	return o.Quota, o.Active
}

// TestQuotaDocker runs `arena dev` on the Docker Engine with a quota of
// three sessions: the fourth create is 402 with the contract's body, and
// once one session is stopped a create succeeds again. Then the config file
// takes the quota over across a restart, and the admin API answers 409.
func TestQuotaDocker(t *testing.T) {
	const n = 3
	s := newStack(t, 16)
	admin := s.api().Admin()
	if _, err := admin.SetQuota(t.Context(), "dev", client.QuotaRequest{MaxSessions: n}); err != nil {
		t.Fatalf("PUT quota: %v", err)
	}
	var running []client.CreatedSession
	for range n {
		running = append(running, s.create(client.SessionRequest{}))
	}
	for _, c := range running {
		s.waitStatus(c.ID, "running")
	}
	status, body := s.call("POST", "/session", map[string]any{"location": "local", "image": "echo"})
	wantQuotaError(t, status, body, fmt.Sprintf("maxSessions of %d", n))
	if _, active := s.orgActive("dev"); active.Sessions != n || active.MilliCPU != n*100 {
		t.Fatalf("active %+v, want %d sessions of 100 milliCPU", active, n)
	}
	// The refused create started no container.
	if got := len(s.containers()); got != n {
		t.Fatalf("%d containers on the node, want %d", got, n)
	}

	if err := s.api().Sessions().Stop(t.Context(), running[0].ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	s.waitStatus(running[0].ID, "exited")
	again := s.create(client.SessionRequest{})
	s.waitStatus(again.ID, "running")
	if got := dockertest.AskTCP(t, hostPort(again, arena.TCP), "quota"); got != "quota" {
		t.Fatalf("the session created after a stop does not echo: %q", got)
	}
	status, body = s.call("POST", "/session", map[string]any{"location": "local", "image": "echo"})
	wantQuotaError(t, status, body, "maxSessions")

	// The config file now sets the quota: it replaces the API's at the next
	// start, and the API may no longer change it.
	s.cfg.Quotas = []config.Quota{{Org: "dev", MaxSessions: n + 1}}
	s.opts.listen = strings.TrimPrefix(s.URL, "http://")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.stack = nil
	s.start()
	quota, active := s.orgActive("dev")
	if quota.MaxSessions != n+1 || quota.Source != "config" || active.Sessions != n {
		t.Fatalf("after the restart: quota %+v, active %+v; want %d from the config, %d active", quota, active, n+1, n)
	}
	_, err := s.api().Admin().SetQuota(t.Context(), "dev", client.QuotaRequest{MaxSessions: 100})
	if arena.ErrorCode(err) != arena.ECONFLICT || !strings.Contains(arena.ErrorMessage(err), "config file") {
		t.Fatalf("PUT a quota of the config file: %v, want %s", err, arena.ECONFLICT)
	}
	s.create(client.SessionRequest{})
	status, body = s.call("POST", "/session", map[string]any{"location": "local", "image": "echo"})
	wantQuotaError(t, status, body, fmt.Sprintf("maxSessions of %d", n+1))
}

// TestQuotaConcurrentHTTP sends 200 POST /session at once, over HTTP, to a
// control plane with simulated nodes that has room for all of them, against
// a quota of ten: exactly ten are 201 and 190 are 402. Stopping one makes
// room for exactly one more.
func TestQuotaConcurrentHTTP(t *testing.T) {
	st, err := startSimServer(context.Background(), 4, arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checker := apitest.NewChecker(t)
	type answer struct {
		req    *nethttp.Request
		status int
		header nethttp.Header
		body   []byte
	}
	send := func(method, path, body string) (answer, error) {
		req, err := nethttp.NewRequest(method, st.URL+path, strings.NewReader(body))
		if err != nil {
			return answer{}, err
		}
		req.Header.Set("Authorization", "Bearer "+st.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return answer{req: req, status: resp.StatusCode, header: resp.Header, body: data}, err
	}
	call := func(method, path, body string) answer {
		t.Helper()
		a, err := send(method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		checker.Check(t, a.req, a.status, a.header, a.body)
		return a
	}
	api := client.New(st.URL, st.Token, client.WithHTTPClient(&nethttp.Client{Transport: checkingTransport{t, checker}}))
	if _, err := api.Admin().SetQuota(t.Context(), "bench", client.QuotaRequest{MaxSessions: 10}); err != nil {
		t.Fatalf("PUT quota: %v", err)
	}

	const creates = 200
	answers := make([]answer, creates)
	errs := make([]error, creates)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range creates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i], errs[i] = send("POST", "/session", `{"location":"local","image":"echo"}`)
		}()
	}
	close(start)
	wg.Wait()
	statuses := map[int]int{}
	var ids []string
	for i, a := range answers {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		checker.Check(t, a.req, a.status, a.header, a.body)
		statuses[a.status]++
		switch a.status {
		case 201:
			var c client.CreatedSession
			if err := json.Unmarshal(a.body, &c); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		case 402:
			wantQuotaError(t, a.status, a.body, "maxSessions of 10")
		}
	}
	if statuses[201] != 10 || statuses[402] != 190 {
		t.Fatalf("answers %v, want ten 201 and 190 402", statuses)
	}
	org := func() client.Active {
		t.Helper()
		o, err := api.Admin().GetOrg(t.Context(), "bench")
		if err != nil {
			t.Fatalf("GET org: %v", err)
		}
		return o.Active
	}
	if got := org().Sessions; got != 10 {
		t.Fatalf("%d active sessions, want 10", got)
	}

	if err := api.Sessions().Stop(t.Context(), ids[0]); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	dockertest.Eventually(t, 10*time.Second, func() error {
		if got := org().Sessions; got != 9 {
			return fmt.Errorf("%d active sessions, want 9 once the stop is reported", got)
		}
		return nil
	})
	if _, err := api.Sessions().Create(t.Context(), client.SessionRequest{Location: "local", Image: "echo"}); err != nil {
		t.Fatalf("a create after a stop: %v", err)
	}
	a := call("POST", "/session", `{"location":"local","image":"echo"}`)
	wantQuotaError(t, a.status, a.body, "maxSessions of 10")
}

// TestOrgQuotaCLI drives `arena org quota`, `get` and `list` against a
// control plane with simulated nodes, one step after another.
func TestOrgQuotaCLI(t *testing.T) {
	st, err := startSimServer(context.Background(), 1, arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := func(cmd func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (string, error) {
		var out bytes.Buffer
		err := cmd(context.Background(), append(args, "--server", st.URL, "--token", st.Token), &out, io.Discard)
		return out.String(), err
	}
	// row is the table's line of the bench organisation, its cells split.
	row := func(out string) []string {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == "bench" {
				return f
			}
		}
		return nil
	}
	tests := []struct {
		name string
		args []string
		// sessions and cpu are the table's SESSIONS and CPU cells.
		sessions, cpu string
		// err is part of the error, for a command that must fail.
		err string
	}{
		{name: "show without a quota", args: []string{"quota", "bench"}, sessions: "0/-", cpu: "0/-"},
		{name: "both bounds", args: []string{"quota", "bench", "--sessions", "2", "--cpu", "0.5"}, sessions: "0/2", cpu: "0/0.5"},
		{name: "a bound not given is kept", args: []string{"quota", "bench", "--sessions", "3"}, sessions: "0/3", cpu: "0/0.5"},
		{name: "get", args: []string{"get", "bench"}, sessions: "0/3", cpu: "0/0.5"},
		{name: "clear and a bound at once", args: []string{"quota", "bench", "--clear", "--cpu", "1"}, err: "--clear"},
		{name: "not a number of cores", args: []string{"quota", "bench", "--cpu", "NaN"}, err: "--cpu"},
		{name: "a negative bound", args: []string{"quota", "bench", "--sessions", "-1"}, err: "422"},
		{name: "an unknown organisation", args: []string{"quota", "nowhere", "--sessions", "1"}, err: "404"},
		{name: "refusals changed nothing", args: []string{"list"}, sessions: "0/3", cpu: "0/0.5"},
		{name: "one core", args: []string{"quota", "bench", "--cpu", "1"}, sessions: "0/3", cpu: "0/1"},
		{name: "cleared", args: []string{"quota", "bench", "--clear"}, sessions: "0/-", cpu: "0/-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(runOrg, tt.args...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("%v: %v, want an error naming %q\n%s", tt.args, err, tt.err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			r := row(out)
			if !strings.Contains(out, "SESSIONS") || len(r) < 5 || r[3] != tt.sessions || r[4] != tt.cpu {
				t.Fatalf("%v: want SESSIONS %s and CPU %s in\n%s", tt.args, tt.sessions, tt.cpu, out)
			}
		})
	}

	t.Run("usage and json", func(t *testing.T) {
		if _, err := run(runOrg, "quota", "bench", "--sessions", "2", "--cpu", "0.5"); err != nil {
			t.Fatal(err)
		}
		if _, err := run(runSession, "create", "--location", "local-0", "--image", "echo"); err != nil {
			t.Fatal(err)
		}
		out, err := run(runOrg, "list")
		if r := row(out); err != nil || len(r) < 6 || r[3] != "1/2" || r[4] != "0.01/0.5" || r[5] != "api" {
			t.Fatalf("list with a session: %v\n%s", err, out)
		}
		out, err = run(runOrg, "get", "bench", "-o", "json")
		var o struct {
			Quota struct {
				MaxSessions int   `json:"maxSessions"`
				MaxMilliCPU int64 `json:"maxMilliCpu"`
			} `json:"quota"`
			Active struct {
				Sessions int   `json:"sessions"`
				MilliCPU int64 `json:"milliCpu"`
			} `json:"active"`
		}
		if err != nil || json.Unmarshal([]byte(out), &o) != nil || o.Quota.MaxSessions != 2 || o.Quota.MaxMilliCPU != 500 ||
			o.Active.Sessions != 1 || o.Active.MilliCPU != simApp.MilliCPU {
			t.Fatalf("get -o json: %v %+v\n%s", err, o, out)
		}
		out, err = run(runOrg, "list", "-o", "json")
		if err != nil || !strings.Contains(out, `"organizations"`) || !strings.Contains(out, `"maxMilliCpu":500`) {
			t.Fatalf("list -o json: %v\n%s", err, out)
		}
	})
}
