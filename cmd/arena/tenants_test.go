package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
)

// orgAdmin is an organisation made through the admin API, with a token.
type orgAdmin struct {
	org, token string
}

// newTenant creates an organisation with an admin token, as an operator
// would, and gives it the echo application through the admin API.
func (s *testStack) newTenant(org string, scopes ...string) orgAdmin {
	s.tb.Helper()
	if status, body := s.call("POST", "/admin/v1/orgs", map[string]any{"id": org, "environment": "sandbox"}); status != 201 {
		s.tb.Fatalf("creating %s: %d %s", org, status, body)
	}
	if len(scopes) == 0 {
		scopes = []string{arena.ScopeAdmin}
	}
	status, body := s.call("POST", "/admin/v1/orgs/"+org+"/tokens", map[string]any{"name": "test", "scopes": scopes})
	if status != 201 {
		s.tb.Fatalf("token of %s: %d %s", org, status, body)
	}
	var created struct{ Secret string }
	if err := json.Unmarshal(body, &created); err != nil {
		s.tb.Fatal(err)
	}
	return orgAdmin{org: org, token: created.Secret}
}

// TestTenants runs two organisations on one installation: each sees its
// own sessions, applications, logs, artifacts and usage, and the other's
// are answered 404 on every endpoint, as if they did not exist.
func TestTenants(t *testing.T) {
	s := newStackWith(t, 8, "")
	image := dockertest.EchoImage(t)
	repo, tag, _ := strings.Cut(image, ":")
	app := map[string]any{
		"name": "duel", "repository": repo, "tags": []map[string]any{{"name": tag, "priority": 1}},
		"ports": []map[string]any{{"container": 7777, "protocol": "tcp"}}, "resources": map[string]any{"milliCpu": 100, "memoryMb": 64},
		"env": map[string]string{"MODE": "ranked"}, "artifacts": []string{"/arena-terminated"},
	}
	a, b := s.newTenant("studio-a"), s.newTenant("studio-b")
	// (The image is local, in no registry: the application has no
	// registry login, or its sessions could not prove they may run it.)
	for _, tn := range []orgAdmin{a, b} {
		if status, body := s.call("POST", "/admin/v1/orgs/"+tn.org+"/applications", app, tn.token); status != 201 {
			t.Fatalf("application of %s: %d %s", tn.org, status, body)
		}
	}
	// studio-a runs a session of its application; the one application
	// name is two applications, one per organisation.
	var c created
	status, body := s.call("POST", "/session", map[string]any{"location": "local", "image": "duel", "id": "a-match"}, a.token)
	if status != 201 || json.Unmarshal(body, &c) != nil {
		t.Fatalf("studio-a's session: %d %s", status, body)
	}
	s.token = a.token
	s.waitStatus(c.ID, "running")
	if got := dockertest.AskTCP(t, hostPort(c, arena.TCP), "ENV MODE"); !strings.Contains(got, "ranked") {
		t.Fatalf("the application's env did not arrive: %q", got)
	}

	// A change of the application does not touch the running session.
	changed := map[string]any{}
	for k, v := range app {
		changed[k] = v
	}
	changed["env"] = map[string]string{"MODE": "casual"}
	delete(changed, "registry")
	if status, body := s.call("PUT", "/admin/v1/orgs/studio-a/applications/duel", changed, a.token); status != 200 {
		t.Fatalf("changing the application: %d %s", status, body)
	}
	if got := dockertest.AskTCP(t, hostPort(c, arena.TCP), "ENV MODE"); !strings.Contains(got, "ranked") {
		t.Fatalf("the running session changed with its application: %q", got)
	}

	foreign := []struct {
		method, path string
		body         any
	}{
		{"GET", "/session/a-match", nil},
		{"DELETE", "/session/a-match", nil},
		{"PUT", "/session/player/join", map[string]any{"session": "a-match", "players": []string{"p1"}}},
		{"DELETE", "/session/player/leave", map[string]any{"session": "a-match", "players": []string{"p1"}}},
		{"GET", "/logs?id=a-match", nil},
		{"GET", "/artifacts?session=a-match&path=/arena-terminated", nil},
		{"GET", "/available-location/echo", nil},
		{"GET", "/tag/europe/echo/" + tag, nil},
		{"POST", "/session", map[string]any{"location": "local", "image": "echo"}},
		{"GET", "/admin/v1/orgs/studio-a", nil},
		{"GET", "/admin/v1/orgs/studio-a/applications/duel", nil},
		{"PUT", "/admin/v1/orgs/studio-a/applications/duel", changed},
		{"DELETE", "/admin/v1/orgs/studio-a/applications/duel", nil},
		{"GET", "/admin/v1/orgs/studio-a/tokens", nil},
		{"POST", "/admin/v1/orgs/studio-a/tokens", map[string]any{"name": "intruder"}},
		{"GET", "/admin/v1/orgs/studio-a/users", nil},
	}
	for _, f := range foreign {
		t.Run("foreign "+f.method+" "+f.path, func(t *testing.T) {
			status, body := s.call(f.method, f.path, f.body, b.token)
			if status != 404 {
				t.Fatalf("studio-b got %d %s, want 404", status, body)
			}
		})
	}
	// studio-b lists nothing of studio-a's.
	for _, path := range []string{"/session?all=true", "/usage", "/admin/v1/orgs", "/admin/v1/orgs/studio-b/applications"} {
		if _, body := s.call("GET", path, nil, b.token); strings.Contains(string(body), "a-match") || strings.Contains(string(body), "studio-a") {
			t.Fatalf("GET %s shows studio-a to studio-b: %s", path, body)
		}
	}
	// The session is untouched by all of that.
	if d := s.waitStatus(c.ID, "running"); d.ID != "a-match" {
		t.Fatalf("studio-a's session: %+v", d)
	}

	// An id is the organisation's own: studio-b may use "a-match" too, and
	// gets a session of its own rather than a conflict that would tell it
	// studio-a has one.
	var bc created
	status, body = s.call("POST", "/session", map[string]any{"location": "local", "image": "duel", "id": "a-match"}, b.token)
	if status != 201 || json.Unmarshal(body, &bc) != nil || bc.ID != "a-match" || hostPort(bc, arena.TCP) == hostPort(c, arena.TCP) {
		t.Fatalf("studio-b's a-match: %d %s", status, body)
	}
	s.token = b.token
	s.waitStatus("a-match", "running")
	for _, cc := range []created{c, bc} {
		if got := dockertest.AskTCP(t, hostPort(cc, arena.TCP), "ENV "+arena.EnvSessionID); !strings.Contains(got, "a-match") {
			t.Fatalf("the game server at %s knows itself as %q", hostPort(cc, arena.TCP), got)
		}
	}
	if status, _ := s.call("DELETE", "/session/a-match", nil, b.token); status != 204 {
		t.Fatalf("studio-b stopping its a-match: %d", status)
	}
	s.waitStatus("a-match", "exited")
	s.token = a.token
	s.waitStatus("a-match", "running")
}

// TestTokenLifecycle issues scoped, expiring and revocable tokens and
// checks each takes effect at once, through the API and the CLI.
func TestTokenLifecycle(t *testing.T) {
	s := newStackWith(t, 4, "")
	a := s.newTenant("studio-a")
	reader := s.newTenantToken(a, "reader", []string{arena.ScopeSessionsRead})
	if status, _ := s.call("GET", "/session", nil, reader); status != 200 {
		t.Fatalf("reader cannot read: %d", status)
	}
	if status, _ := s.call("POST", "/session", map[string]any{"location": "local", "image": "echo"}, reader); status != 403 {
		t.Fatalf("reader created a session: %d", status)
	}
	// An admin cannot mint a token with more than it has.
	if status, body := s.call("POST", "/admin/v1/orgs/studio-a/tokens", map[string]any{"name": "up", "scopes": []string{"operator"}}, a.token); status != 422 {
		t.Fatalf("admin minted an operator token: %d %s", status, body)
	}
	// Revocation takes effect on the next request.
	var list struct {
		Tokens []struct{ ID, Name, RevokedAt string }
	}
	_, body := s.call("GET", "/admin/v1/orgs/studio-a/tokens", nil, a.token)
	if err := json.Unmarshal(body, &list); err != nil || strings.Contains(string(body), reader) {
		t.Fatalf("token list %s (%v) shows a secret", body, err)
	}
	var readerID string
	for _, tk := range list.Tokens {
		if tk.Name == "reader" {
			readerID = tk.ID
		}
	}
	if status, _ := s.call("DELETE", "/admin/v1/orgs/studio-a/tokens/"+readerID, nil, a.token); status != 204 {
		t.Fatalf("revoke: %d", status)
	}
	if status, body := s.call("GET", "/session", nil, reader); status != 401 || !strings.Contains(string(body), "revoked") {
		t.Fatalf("revoked token still works: %d %s", status, body)
	}

	// The CLI does the same.
	cli := func(cmd func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := cmd(context.Background(), append(args, "--server", s.URL, "--token", a.token), &out, &errOut)
		return out.String(), err
	}
	out, err := cli(runToken, "create", "matchmaker", "--scope", "sessions:write", "--scope", "sessions:read", "--expires", "1h")
	if err != nil || !strings.Contains(out, "arena_") {
		t.Fatalf("arena token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := strings.TrimSpace(lines[len(lines)-1])
	if status, _ := s.call("GET", "/session", nil, secret); status != 200 {
		t.Fatalf("the CLI's token does not work: %d", status)
	}
	if out, err := cli(runToken, "list"); err != nil || !strings.Contains(out, "matchmaker") || strings.Contains(out, secret) {
		t.Fatalf("arena token list: %v\n%s", err, out)
	}
	if out, err := cli(runUser, "create", "ana@studio.example", "--name", "Ana"); err != nil || !strings.Contains(out, "ana@studio.example") {
		t.Fatalf("arena user create: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "app.yaml")
	t.Setenv("TEST_REGISTRY_PASSWORD", "from-env-hunter2")
	image := dockertest.EchoImage(t)
	repo, tag, _ := strings.Cut(image, ":")
	if err := os.WriteFile(file, fmt.Appendf(nil, `
name: skirmish
repository: %s
tags: [{name: %s, priority: 1}, {name: 1.10, priority: 0}]
ports: [{container: 7777, protocol: udp}]
resources: {milliCpu: 100, memoryMb: 64}
limits: {milliCpu: 200, memoryMb: 128}
regions: [europe]
tagKeep: 2
nodePool: metal
user: 65534
readOnlyRootFilesystem: true
tmpfs: [/tmp]
registry: {username: ci, passwordEnv: TEST_REGISTRY_PASSWORD}
`, repo, tag), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // create, then replace
		if out, err := cli(runApp, "apply", "-f", file); err != nil || !strings.Contains(out, "skirmish") || strings.Contains(out, "hunter2") {
			t.Fatalf("arena app apply: %v\n%s", err, out)
		}
	}
	// A tag that YAML would read as a number stays as written.
	if out, err := cli(runApp, "list", "-o", "json"); err != nil || !strings.Contains(out, `"passwordSet":true`) || !strings.Contains(out, `"name":"1.10"`) || strings.Contains(out, "hunter2") {
		t.Fatalf("arena app list: %v\n%s", err, out)
	}
	for _, want := range []string{`"limits":{"milliCpu":200,"memoryMb":128}`, `"regions":["europe"]`, `"tagKeep":2`, `"nodePool":"metal"`,
		`"user":"65534"`, `"readOnlyRootFilesystem":true`, `"tmpfs":["/tmp"]`} {
		if out, err := cli(runApp, "get", "skirmish", "-o", "json"); err != nil || !strings.Contains(out, want) {
			t.Fatalf("arena app get lacks %s: %v\n%s", want, err, out)
		}
	}
	if out, err := cli(runApp, "get", "skirmish"); err != nil || !strings.Contains(out, `{"memoryMb":128,"milliCpu":200}`) || !strings.Contains(out, " europe ") ||
		!strings.Contains(out, " 65534 ") {
		t.Fatalf("arena app get's table lacks the limits, regions or user: %v\n%s", err, out)
	}
	status, body := s.call("POST", "/session", map[string]any{"location": "local", "image": "skirmish"}, secret)
	if status != 201 {
		t.Fatalf("a session of the CLI's application: %d %s", status, body)
	}
	if out, err := cli(runApp, "delete", "skirmish"); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("arena app delete: %v\n%s", err, out)
	}
	// Applications of the config file belong to the file.
	s.token = testToken
	if status, _ := s.call("DELETE", "/admin/v1/orgs/dev/applications/echo", nil); status != 409 {
		t.Fatalf("deleting a config application: %d, want 409", status)
	}
}

// newTenantToken issues a token of t's organisation with scopes.
func (s *testStack) newTenantToken(t orgAdmin, name string, scopes []string) string {
	s.tb.Helper()
	status, body := s.call("POST", "/admin/v1/orgs/"+t.org+"/tokens", map[string]any{"name": name, "scopes": scopes}, t.token)
	if status != 201 {
		s.tb.Fatalf("token %s: %d %s", name, status, body)
	}
	var created struct{ Secret string }
	if err := json.Unmarshal(body, &created); err != nil {
		s.tb.Fatal(err)
	}
	return created.Secret
}

// TestBootstrapToken starts a control plane on an empty data directory
// twice: the first start makes an operator's token and hands it over once;
// the second makes none and shows none, and the first still works. The
// secret is kept nowhere but in the caller's hands.
func TestBootstrapToken(t *testing.T) {
	cfg, err := config.Parse([]byte("demoImage: \"\"\napplications: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := stackOptions{listen: "127.0.0.1:0", data: dir}
	log := slog.New(slog.DiscardHandler)
	first, err := startControlPlane(context.Background(), cfg, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	token, isNew := first.Token, first.NewToken
	first.Close()
	if !isNew || !strings.HasPrefix(token, "arena_") {
		t.Fatalf("first start: token %q, new %v", token, isNew)
	}
	second, err := startControlPlane(context.Background(), cfg, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if second.Token != "" || second.NewToken {
		t.Fatalf("second start shows a token again: %q", second.Token)
	}
	s := &testStack{tb: t, token: token, checker: apitest.NewChecker(t), stack: second}
	status, body := s.call("GET", "/admin/v1/whoami", nil)
	if status != 200 || !strings.Contains(string(body), `"operator"`) {
		t.Fatalf("whoami with the first token: %d %s", status, body)
	}
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, []byte(token)) {
			return fmt.Errorf("%s holds the admin token", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
