package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
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
	admin := s.api().Admin()
	if _, err := admin.CreateOrg(s.tb.Context(), client.OrganizationRequest{ID: org, Environment: "sandbox"}); err != nil {
		s.tb.Fatalf("creating %s: %v", org, err)
	}
	if len(scopes) == 0 {
		scopes = []string{arena.ScopeAdmin}
	}
	created, err := admin.CreateToken(s.tb.Context(), org, client.TokenRequest{Name: "test", Scopes: scopes})
	if err != nil {
		s.tb.Fatalf("token of %s: %v", org, err)
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
	ctx := t.Context()
	for _, tn := range []orgAdmin{a, b} {
		if _, err := s.api(tn.token).Admin().CreateApplication(ctx, tn.org, app); err != nil {
			t.Fatalf("application of %s: %v", tn.org, err)
		}
	}
	// studio-a runs a session of its application; the one application
	// name is two applications, one per organisation.
	c, err := s.api(a.token).Sessions().Create(ctx, client.SessionRequest{Location: "local", Image: "duel", ID: "a-match"})
	if err != nil {
		t.Fatalf("studio-a's session: %v", err)
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
	if _, err := s.api(a.token).Admin().UpdateApplication(ctx, "studio-a", "duel", changed); err != nil {
		t.Fatalf("changing the application: %v", err)
	}
	if got := dockertest.AskTCP(t, hostPort(c, arena.TCP), "ENV MODE"); !strings.Contains(got, "ranked") {
		t.Fatalf("the running session changed with its application: %q", got)
	}

	bs, ba := s.api(b.token).Sessions(), s.api(b.token).Admin()
	foreign := []struct {
		method, path string
		call         func(context.Context) error
	}{
		{"GET", "/session/a-match", func(ctx context.Context) error {
			_, err := bs.Get(ctx, "a-match", client.GetOptions{})
			return err
		}},
		{"DELETE", "/session/a-match", func(ctx context.Context) error { return bs.Stop(ctx, "a-match") }},
		{"PUT", "/session/player/join", func(ctx context.Context) error {
			_, err := bs.Join(ctx, "a-match", []string{"p1"})
			return err
		}},
		{"DELETE", "/session/player/leave", func(ctx context.Context) error {
			_, err := bs.Leave(ctx, "a-match", []string{"p1"})
			return err
		}},
		{"GET", "/logs?id=a-match", func(ctx context.Context) error {
			_, err := readStream(bs.Logs(ctx, "a-match"))
			return err
		}},
		{"GET", "/artifacts?session=a-match&path=/arena-terminated", func(ctx context.Context) error {
			_, err := readStream(bs.Artifact(ctx, "a-match", "/arena-terminated"))
			return err
		}},
		{"GET", "/available-location/echo", func(ctx context.Context) error {
			_, err := bs.AvailableLocations(ctx, "echo")
			return err
		}},
		{"GET", "/tag/europe/echo/" + tag, func(ctx context.Context) error {
			_, err := bs.Tag(ctx, "europe", "echo", tag)
			return err
		}},
		{"POST", "/session", func(ctx context.Context) error {
			_, err := bs.Create(ctx, client.SessionRequest{Location: "local", Image: "echo"})
			return err
		}},
		{"GET", "/admin/v1/orgs/studio-a", func(ctx context.Context) error {
			_, err := ba.GetOrg(ctx, "studio-a")
			return err
		}},
		{"GET", "/admin/v1/orgs/studio-a/applications/duel", func(ctx context.Context) error {
			_, err := ba.GetApplication(ctx, "studio-a", "duel")
			return err
		}},
		{"PUT", "/admin/v1/orgs/studio-a/applications/duel", func(ctx context.Context) error {
			_, err := ba.UpdateApplication(ctx, "studio-a", "duel", changed)
			return err
		}},
		{"DELETE", "/admin/v1/orgs/studio-a/applications/duel", func(ctx context.Context) error {
			return ba.DeleteApplication(ctx, "studio-a", "duel")
		}},
		{"GET", "/admin/v1/orgs/studio-a/tokens", func(ctx context.Context) error {
			_, err := ba.ListTokens(ctx, "studio-a")
			return err
		}},
		{"POST", "/admin/v1/orgs/studio-a/tokens", func(ctx context.Context) error {
			_, err := ba.CreateToken(ctx, "studio-a", client.TokenRequest{Name: "intruder"})
			return err
		}},
		{"GET", "/admin/v1/orgs/studio-a/users", func(ctx context.Context) error {
			_, err := ba.ListUsers(ctx, "studio-a")
			return err
		}},
	}
	for _, f := range foreign {
		t.Run("foreign "+f.method+" "+f.path, func(t *testing.T) {
			if err := f.call(t.Context()); arena.ErrorCode(err) != arena.ENOTFOUND {
				t.Fatalf("studio-b got %v, want %s", err, arena.ENOTFOUND)
			}
		})
	}
	// studio-b lists nothing of studio-a's.
	lists := []struct {
		path string
		list func() ([]byte, error)
	}{
		{"/session?all=true", func() ([]byte, error) {
			l, err := bs.List(ctx, client.ListOptions{All: true})
			return l.Raw(), err
		}},
		{"/usage", func() ([]byte, error) {
			u, err := bs.Usage(ctx, "", "")
			return u.Raw(), err
		}},
		{"/admin/v1/orgs", func() ([]byte, error) {
			l, err := ba.ListOrgs(ctx)
			return l.Raw(), err
		}},
		{"/admin/v1/orgs/studio-b/applications", func() ([]byte, error) {
			l, err := ba.ListApplications(ctx, "studio-b")
			return l.Raw(), err
		}},
	}
	for _, l := range lists {
		if body, _ := l.list(); strings.Contains(string(body), "a-match") || strings.Contains(string(body), "studio-a") {
			t.Fatalf("GET %s shows studio-a to studio-b: %s", l.path, body)
		}
	}
	// The session is untouched by all of that.
	if d := s.waitStatus(c.ID, "running"); d.ID != "a-match" {
		t.Fatalf("studio-a's session: %+v", d)
	}

	// An id is the organisation's own: studio-b may use "a-match" too, and
	// gets a session of its own rather than a conflict that would tell it
	// studio-a has one.
	bc, err := bs.Create(ctx, client.SessionRequest{Location: "local", Image: "duel", ID: "a-match"})
	if err != nil || bc.ID != "a-match" || hostPort(bc, arena.TCP) == hostPort(c, arena.TCP) {
		t.Fatalf("studio-b's a-match: %v %s", err, bc.Raw())
	}
	s.token = b.token
	s.waitStatus("a-match", "running")
	for _, cc := range []client.CreatedSession{c, bc} {
		if got := dockertest.AskTCP(t, hostPort(cc, arena.TCP), "ENV "+arena.EnvSessionID); !strings.Contains(got, "a-match") {
			t.Fatalf("the game server at %s knows itself as %q", hostPort(cc, arena.TCP), got)
		}
	}
	if err := bs.Stop(ctx, "a-match"); err != nil {
		t.Fatalf("studio-b stopping its a-match: %v", err)
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
	ctx := t.Context()
	reader := s.newTenantToken(a, "reader", []string{arena.ScopeSessionsRead})
	if _, err := s.api(reader).Sessions().List(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("reader cannot read: %v", err)
	}
	if _, err := s.api(reader).Sessions().Create(ctx, client.SessionRequest{Location: "local", Image: "echo"}); arena.ErrorCode(err) != arena.EFORBIDDEN {
		t.Fatalf("reader created a session: %v, want %s", err, arena.EFORBIDDEN)
	}
	// An admin cannot mint a token with more than it has.
	admin := s.api(a.token).Admin()
	if _, err := admin.CreateToken(ctx, "studio-a", client.TokenRequest{Name: "up", Scopes: []string{"operator"}}); arena.ErrorCode(err) != arena.EINVALID {
		t.Fatalf("admin minted an operator token: %v, want %s", err, arena.EINVALID)
	}
	// Revocation takes effect on the next request.
	list, err := admin.ListTokens(ctx, "studio-a")
	if err != nil || strings.Contains(string(list.Raw()), reader) {
		t.Fatalf("token list %s (%v) shows a secret", list.Raw(), err)
	}
	var readerID string
	for _, tk := range list.Tokens {
		if tk.Name == "reader" {
			readerID = tk.ID
		}
	}
	if err := admin.RevokeToken(ctx, "studio-a", readerID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := s.api(reader).Sessions().List(ctx, client.ListOptions{}); arena.ErrorCode(err) != arena.EUNAUTHORIZED || !strings.Contains(arena.ErrorMessage(err), "revoked") {
		t.Fatalf("revoked token still works: %v", err)
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
	if _, err := s.api(secret).Sessions().List(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("the CLI's token does not work: %v", err)
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
	if _, err := s.api(secret).Sessions().Create(ctx, client.SessionRequest{Location: "local", Image: "skirmish"}); err != nil {
		t.Fatalf("a session of the CLI's application: %v", err)
	}
	if out, err := cli(runApp, "delete", "skirmish"); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("arena app delete: %v\n%s", err, out)
	}
	// Applications of the config file belong to the file.
	s.token = testToken
	if err := s.api().Admin().DeleteApplication(ctx, "dev", "echo"); arena.ErrorCode(err) != arena.ECONFLICT {
		t.Fatalf("deleting a config application: %v, want %s", err, arena.ECONFLICT)
	}
}

// newTenantToken issues a token of t's organisation with scopes.
func (s *testStack) newTenantToken(t orgAdmin, name string, scopes []string) string {
	s.tb.Helper()
	created, err := s.api(t.token).Admin().CreateToken(s.tb.Context(), t.org, client.TokenRequest{Name: name, Scopes: scopes})
	if err != nil {
		s.tb.Fatalf("token %s: %v", name, err)
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
	who, err := s.api().Admin().WhoAmI(t.Context())
	if err != nil || !slices.Contains(who.Token.Scopes, arena.ScopeOperator) {
		t.Fatalf("whoami with the first token: %v %s", err, who.Raw())
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
