package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/arena-hq/arena"
)

// arenaCLI runs a command line as main does, and returns its exit status
// and what it wrote.
func arenaCLI(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// describedField returns the value of a "Key:  value" line of a described
// entity, "" when there is no such line.
func describedField(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// startCLIServer starts a control plane with simulated nodes for the CLI
// to talk to, and returns it with the flags that name it.
func startCLIServer(tb testing.TB, nodes int) (*simServer, []string) {
	tb.Helper()
	st, err := startSimServer(context.Background(), nodes, arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st, []string{"--server", st.URL, "--token", st.Token}
}

// mustCLI runs a command line that must succeed and returns its output.
func mustCLI(tb testing.TB, args ...string) string {
	tb.Helper()
	code, out, errOut := arenaCLI(tb, args...)
	if code != 0 {
		tb.Fatalf("arena %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// waitSessionStatus waits until the session has the status.
func waitSessionStatus(tb testing.TB, flags []string, id, status string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var s struct{ Status string }
		out := mustCLI(tb, append([]string{"session", "get", id, "-o", "json"}, flags...)...)
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			tb.Fatal(err)
		}
		if s.Status == status {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("session %s is %s, not %s", id, s.Status, status)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}
}

// TestHelpOfCommands: arena help COMMAND and arena COMMAND --help print the
// command's own help, on stdout, for every command.
func TestHelpOfCommands(t *testing.T) {
	top := usage()
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, viaHelp, errOut := arenaCLI(t, "help", c.name)
			if code != 0 || viaHelp == "" || errOut != "" {
				t.Fatalf("arena help %s: exit %d, stdout %q, stderr %q", c.name, code, viaHelp, errOut)
			}
			if c.name != "help" && viaHelp == top {
				t.Fatalf("arena help %s prints arena's own help", c.name)
			}
			if c.name == "help" {
				return
			}
			code, viaFlag, _ := arenaCLI(t, c.name, "--help")
			if code != 0 || viaFlag != viaHelp {
				t.Fatalf("arena %s --help: exit %d, and differs from arena help %s:\n%s", c.name, code, c.name, viaFlag)
			}
			if strings.Contains(viaHelp, "\n  -server") || strings.Contains(viaHelp, "\n  -listen") {
				t.Fatalf("arena help %s spells a flag with one dash:\n%s", c.name, viaHelp)
			}
		})
	}
	tests := []struct {
		name string
		args []string
		want string // in the help
	}{
		{"session", []string{"help", "session"}, "arena session create --location L"},
		{"a session command", []string{"session", "list", "--help"}, "arena session list [--all]"},
		{"help of a command's word", []string{"help", "session", "get"}, "arena session get ID"},
		{"flags of a command without a help text", []string{"help", "dev"}, "  --listen string\n"},
		{"arena's own", []string{"--help"}, "completion bash|zsh|fish"},
		{"help alone", []string{"help"}, "Exit status: 0 on success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := arenaCLI(t, tt.args...)
			if code != 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("arena %s: exit %d, want %q in\n%s", strings.Join(tt.args, " "), code, tt.want, out)
			}
		})
	}
	if code, _, errOut := arenaCLI(t, "help", "nope"); code != 2 || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Fatalf("arena help nope: exit %d\n%s", code, errOut)
	}
}

// TestCommandLineErrors: a command line Arena does not understand exits 2
// with one line saying why and where the help is; a command that fails
// exits 1.
func TestCommandLineErrors(t *testing.T) {
	_, flags := startCLIServer(t, 1)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // all of it
	}{
		{"a mistyped flag", []string{"session", "list", "--fooo"}, 2,
			"arena session list: unknown flag --fooo\nRun 'arena session list --help' for usage.\n"},
		{"a mistyped flag spelt with one dash", []string{"session", "list", "-fooo"}, 2,
			"arena session list: unknown flag --fooo\nRun 'arena session list --help' for usage.\n"},
		{"a mistyped flag before the command's word", []string{"node", "--fooo", "list"}, 2,
			"arena node list: unknown flag --fooo\nRun 'arena node list --help' for usage.\n"},
		{"a mistyped flag of a command without words", []string{"dev", "--liste", ":0"}, 2,
			"arena dev: unknown flag --liste\nRun 'arena dev --help' for usage.\n"},
		{"an unknown command", []string{"sesion"}, 2,
			"arena: unknown command \"sesion\"\nRun 'arena --help' for usage.\n"},
		{"an unknown word of a command", []string{"session", "lst"}, 2,
			"arena session: unknown command \"lst\": one of create, list, get, delete, logs, artifact, join, leave\nRun 'arena session --help' for usage.\n"},
		{"a command without its word", []string{"node"}, 2,
			"arena node: missing command: one of list, drain, undrain, remove\nRun 'arena node --help' for usage.\n"},
		{"a missing argument", []string{"session", "get"}, 2,
			"arena session get: missing ID\nRun 'arena session get --help' for usage.\n"},
		{"a missing argument of several", []string{"tag", "europe"}, 2,
			"arena tag: missing IMAGE VERSION\nRun 'arena tag --help' for usage.\n"},
		{"an argument too many", []string{"session", "get", "a", "b"}, 2,
			"arena session get: unexpected argument \"b\"\nRun 'arena session get --help' for usage.\n"},
		{"an argument to a command that takes none", []string{"server", "now"}, 2,
			"arena server: unexpected argument \"now\"\nRun 'arena server --help' for usage.\n"},
		{"a flag without its value", []string{"session", "list", "--location"}, 2,
			"arena session list: flag --location needs a value\nRun 'arena session list --help' for usage.\n"},
		{"a bad value", []string{"session", "create", "--ttl", "soon"}, 2,
			"arena session create: invalid value \"soon\" for --ttl: parse error\nRun 'arena session create --help' for usage.\n"},
		{"an unknown output format", []string{"session", "list", "-o", "xml"}, 2,
			"arena session list: invalid value \"xml\" for -o: must be table, json, yaml\nRun 'arena session list --help' for usage.\n"},
		{"a missing -f", []string{"app", "apply"}, 2,
			"arena app apply: missing -f FILE\nRun 'arena app apply --help' for usage.\n"},
		{"no command at all", nil, 2, usage()},
		{"a command that fails", append([]string{"session", "get", "nope"}, flags...), 1,
			"arena: 404 Not Found: session \"nope\" not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := arenaCLI(t, tt.args...)
			if code != tt.code || errOut != tt.stderr || out != "" {
				t.Fatalf("arena %s: exit %d, want %d\nstderr %q\nwant   %q\nstdout %q", strings.Join(tt.args, " "), code, tt.code, errOut, tt.stderr, out)
			}
		})
	}
}

// TestVersion reads what the toolchain recorded in the binary.
func TestVersion(t *testing.T) {
	t.Run("--version is arena version", func(t *testing.T) {
		a, b := mustCLI(t, "--version"), mustCLI(t, "version")
		if a != b || describedField(a, "Version") == "" || !strings.Contains(describedField(a, "Go"), runtime.Version()) {
			t.Fatalf("arena --version:\n%s\narena version:\n%s", a, b)
		}
	})
	t.Run("json", func(t *testing.T) {
		var info buildInfo
		if err := json.Unmarshal([]byte(mustCLI(t, "version", "-o", "json")), &info); err != nil || info.GoVersion != runtime.Version() || info.Platform != runtime.GOOS+"/"+runtime.GOARCH {
			t.Fatalf("arena version -o json: %+v %v", info, err)
		}
	})

	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want buildInfo
	}{
		{"from a checkout", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "f66b0d7aa", "vcs.time", "2026-11-01T10:00:00Z", "vcs.modified", "true")},
			true, buildInfo{Version: "dev", Commit: "f66b0d7aa", CommitTime: "2026-11-01T10:00:00Z", Modified: true, GoVersion: "go1.99"}},
		{"a clean tree", &debug.BuildInfo{GoVersion: "go1.99", Settings: settings("vcs.revision", "abc", "vcs.modified", "false")},
			true, buildInfo{Version: "dev", Commit: "abc", GoVersion: "go1.99"}},
		{"installed as a module", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}},
			true, buildInfo{Version: "v1.2.3", GoVersion: "go1.99"}},
		{"no build information", nil, false, buildInfo{Version: "dev", GoVersion: runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got := readBuildInfo(tt.bi, tt.ok); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("a binary built from the checkout", func(t *testing.T) {
		git, err := exec.LookPath("git")
		if err != nil {
			t.Skip("no git")
		}
		head, err := exec.Command(git, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Skipf("not in a git checkout: %v", err)
		}
		top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
			t.Skip("a linked git worktree, whose .git is a file: Go stamps only builds in a checkout with a .git directory")
		}
		bin := filepath.Join(t.TempDir(), "arena")
		// The environment may turn stamping off (GOFLAGS): this is about it.
		if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version", "-o", "json").Output()
		var info buildInfo
		if err != nil || json.Unmarshal(out, &info) != nil {
			t.Fatalf("arena version -o json: %v\n%s", err, out)
		}
		if info.Commit != strings.TrimSpace(string(head)) || info.CommitTime == "" {
			t.Fatalf("built from %s, the binary says %+v", head, info)
		}
	})
}

// TestSessionDescribed: session get describes a session in lines a person
// reads, and -o prints the API's answer as JSON or YAML.
func TestSessionDescribed(t *testing.T) {
	_, flags := startCLIServer(t, 1)
	cli := func(args ...string) string { t.Helper(); return mustCLI(t, append(args, flags...)...) }
	cli("session", "create", "--location", "local", "--image", "echo", "--id", "duel-1", "--label", "mode=duel", "--label", "match=42")

	out := cli("session", "get", "duel-1")
	if strings.Contains(out, "map[") {
		t.Fatalf("Go's map syntax in\n%s", out)
	}
	for key, want := range map[string]string{"Session": "duel-1", "Labels": "match=42, mode=duel", "Image": "echo:latest", "Players": "-"} {
		if got := describedField(out, key); got != want {
			t.Errorf("%s: %q, want %q in\n%s", key, got, want, out)
		}
	}
	if created := describedField(out, "Created"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\)$`).MatchString(created) {
		t.Errorf("Created: %q", created)
	}

	type session struct {
		ID     string            `json:"id" yaml:"id"`
		Labels map[string]string `json:"labels" yaml:"labels"`
	}
	for _, tt := range []struct {
		format    string
		unmarshal func([]byte, any) error
	}{{"json", json.Unmarshal}, {"yaml", yaml.Unmarshal}} {
		t.Run(tt.format, func(t *testing.T) {
			out := cli("session", "get", "duel-1", "-o", tt.format)
			var s session
			if err := tt.unmarshal([]byte(out), &s); err != nil || s.ID != "duel-1" || s.Labels["mode"] != "duel" || s.Labels["match"] != "42" {
				t.Fatalf("-o %s: %+v %v\n%s", tt.format, s, err, out)
			}
			if tt.format == "yaml" && strings.ContainsAny(out, "{}") {
				t.Fatalf("-o yaml in flow style:\n%s", out)
			}
		})
	}
}

func TestJSONToYAML(t *testing.T) {
	tests := []struct {
		name, json, yaml string
	}{
		{"order kept", `{"b":1,"a":"x"}`, "b: 1\na: x\n"},
		{"strings that read as other types stay strings", `{"tag":"1.10","ok":"true","n":"007","null":"null"}`, "tag: \"1.10\"\nok: \"true\"\nn: \"007\"\n\"null\": \"null\"\n"},
		{"nesting", `{"ports":[{"type":"tcp","host":32768}],"labels":{}}`, "ports:\n    - type: tcp\n      host: 32768\nlabels: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonToYAML([]byte(tt.json))
			if err != nil || string(got) != tt.yaml {
				t.Fatalf("got %q %v, want %q", got, err, tt.yaml)
			}
		})
	}
}

// TestServerUnreachable: a control plane that is not there is said so, with
// what to do about it.
func TestServerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	tests := []struct {
		name string
		args []string
	}{
		{"a call", []string{"session", "list"}},
		{"a stream", []string{"session", "logs", "x"}},
		{"an admin command", []string{"node", "list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := arenaCLI(t, append(tt.args, "--server", addr)...)
			want := "arena: cannot reach Arena at " + addr + ": connection refused (is it running? set --server or ARENA_SERVER)\n"
			if code != 1 || errOut != want {
				t.Fatalf("exit %d\n%q\nwant %q", code, errOut, want)
			}
		})
	}
	err = runSession(context.Background(), []string{"list", "--server", addr}, io.Discard, io.Discard)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the error %v is not ECONNREFUSED", err)
	}
}

// TestIDPrefix: sessions and nodes may be named by the beginning of their
// ids, as long as it is theirs alone.
func TestIDPrefix(t *testing.T) {
	st, flags := startCLIServer(t, 1)
	cli := func(args ...string) (int, string, string) { t.Helper(); return arenaCLI(t, append(args, flags...)...) }
	for _, id := range []string{"5b0c1d", "5b0c2e", "9f00aa"} {
		mustCLI(t, append([]string{"session", "create", "--location", "local", "--image", "echo", "--id", id}, flags...)...)
	}
	for _, n := range []string{"ams-metal-1", "ams-cloud-1"} {
		node := arena.Node{ID: n, Region: "europe", Location: "ams", Provider: "p", Class: arena.ClassMetal, PublicIP: "127.0.0.1",
			Capacity: arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, PortMin: 30000, PortMax: 30010}
		if err := st.fleet.RegisterNode(context.Background(), node); err != nil {
			t.Fatal(err)
		}
	}
	waitSessionStatus(t, flags, "9f00aa", "running")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // part of it
		stderr string // part of it
	}{
		{"get by a unique prefix", []string{"session", "get", "9f"}, 0, "9f00aa", ""},
		{"get by a full id", []string{"session", "get", "5b0c1d"}, 0, "5b0c1d", ""},
		{"an ambiguous prefix", []string{"session", "get", "5b0c"}, 1, "",
			`arena: "5b0c" is ambiguous: it begins the ids of 2 sessions: 5b0c1d, 5b0c2e` + "\n"},
		{"no such session", []string{"session", "get", "77"}, 1, "", "404 Not Found"},
		{"logs by a prefix", []string{"session", "logs", "9f0"}, 0, "simulated server started", ""},
		{"delete by a prefix", []string{"session", "delete", "5b0c2"}, 0, "session 5b0c2e is stopping", ""},
		{"a prefix to stop is unique once the other is stopping", []string{"session", "delete", "5b0c"}, 0, "session 5b0c1d is stopping", ""},
		{"a node by a prefix", []string{"node", "drain", "ams-m"}, 0, "ams-metal-1", ""},
		{"an ambiguous node prefix", []string{"node", "undrain", "ams-"}, 1, "",
			`arena: "ams-" is ambiguous: it begins the ids of 2 nodes: ams-cloud-1, ams-metal-1` + "\n"},
		{"a node removed by a prefix", []string{"node", "remove", "ams-c"}, 0, "node ams-cloud-1 removed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("arena %s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(tt.args, " "), code, tt.code, out, errOut)
			}
		})
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{-3 * time.Second, "0s"}, // a clock a little ahead
		{5 * time.Second, "5s"},
		{59 * time.Second, "59s"},
		{3*time.Minute + 59*time.Second, "3m"},
		{2*time.Hour + 30*time.Minute, "2h"},
		{4*24*time.Hour + 23*time.Hour, "4d"},
		{800 * 24 * time.Hour, "2y"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := age(now, now.Add(-tt.ago)); got != tt.want {
				t.Fatalf("age of %s: %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
	if got := age(now, time.Time{}); got != "-" {
		t.Fatalf("age of an unknown time: %q", got)
	}
}

// TestListsHaveAge: session and node lists have an AGE column.
func TestListsHaveAge(t *testing.T) {
	_, flags := startCLIServer(t, 1)
	mustCLI(t, append([]string{"session", "create", "--location", "local", "--image", "echo", "--id", "aged"}, flags...)...)
	tests := []struct {
		name string
		args []string
		row  string // the first cell of the row
	}{
		{"sessions", []string{"session", "list"}, "aged"},
		{"nodes", []string{"node", "list"}, "sim-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustCLI(t, append(tt.args, flags...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			head := strings.Fields(lines[0])
			if len(lines) != 2 || head[len(head)-1] != "AGE" || !strings.HasPrefix(lines[1], tt.row+" ") {
				t.Fatalf("want a header ending in AGE and the row of %s:\n%s", tt.row, out)
			}
			cells := strings.Fields(lines[1])
			if !regexp.MustCompile(`^\d+[smhdy]$`).MatchString(cells[len(cells)-1]) {
				t.Fatalf("AGE %q in\n%s", cells[len(cells)-1], out)
			}
		})
	}
}

// TestDeleteWait: session delete --wait returns once the session stopped,
// and gives up at --timeout.
func TestDeleteWait(t *testing.T) {
	_, flags := startCLIServer(t, 1)
	mustCLI(t, append([]string{"session", "create", "--location", "local", "--image", "echo", "--id", "waited"}, flags...)...)
	waitSessionStatus(t, flags, "waited", "running")
	out := mustCLI(t, append([]string{"session", "delete", "waited", "--wait", "--timeout", "30s"}, flags...)...)
	if out != "session waited stopped: exited\n" {
		t.Fatalf("delete --wait: %q", out)
	}
	var s struct{ Status string }
	if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"session", "get", "waited", "-o", "json"}, flags...)...)), &s); err != nil || s.Status != "exited" {
		t.Fatalf("after delete --wait the session is %q (%v)", s.Status, err)
	}

	t.Run("a session that does not stop", func(t *testing.T) {
		// A control plane whose session stays shutting down, as one whose
		// game server ignores SIGTERM for its whole grace period.
		api := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if r.Method == nethttp.MethodGet {
				_, _ = w.Write([]byte(`{"id":"stuck","status":"shuttingdown"}`))
				return
			}
			w.WriteHeader(nethttp.StatusNoContent)
		}))
		defer api.Close()
		start := time.Now()
		code, _, errOut := arenaCLI(t, "session", "delete", "stuck", "--wait", "--timeout", "300ms", "--server", api.URL)
		if code != 1 || errOut != "arena: session stuck is still shuttingdown after 300ms\n" {
			t.Fatalf("exit %d: %q", code, errOut)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("gave up after %s, not at the timeout", took)
		}
	})
}

// TestUsageCost: small costs keep their significant digits, and the report
// names its currency.
func TestUsageCost(t *testing.T) {
	st, err := startSimServerPriced(context.Background(), 1, arena.Resources{MilliCPU: 1000, MemoryMB: 1000}, "",
		[]arena.Rate{{Resources: simApp, PerHour: 0.1}}, "USD")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flags := []string{"--server", st.URL, "--token", st.Token}
	mustCLI(t, append([]string{"session", "create", "--location", "local", "--image", "echo", "--id", "billed"}, flags...)...)
	waitSessionStatus(t, flags, "billed", "running")

	out := mustCLI(t, append([]string{"usage"}, flags...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[1], "COST (USD)") {
		t.Fatalf("usage table:\n%s", out)
	}
	// A few seconds at 0.1 an hour, 0.000028 a second: two significant
	// digits, not 0.00.
	line, total := strings.Fields(lines[2]), strings.Fields(lines[3])
	cost := line[len(line)-1]
	if !regexp.MustCompile(`^0\.000+[1-9]\d$`).MatchString(cost) || total[len(total)-1] != cost {
		t.Fatalf("cost %q, total %q:\n%s", cost, total[len(total)-1], out)
	}
	var report struct{ Currency string }
	if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"usage", "-o", "json"}, flags...)...)), &report); err != nil || report.Currency != "USD" {
		t.Fatalf("usage -o json: %+v %v", report, err)
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0.00"},
		{12.345, "12.35"},
		{1, "1.00"},
		{0.5, "0.50"},
		{0.05, "0.050"},
		{0.0000278, "0.000028"},
		{1e-12, "0.00000000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := money(tt.v); got != tt.want {
				t.Fatalf("money(%v) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}

// TestCompletion: the completion scripts complete every command, its words
// and its flags.
func TestCompletion(t *testing.T) {
	specs := completionSpecs(context.Background())
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			script := mustCLI(t, "completion", shell)
			for _, c := range commands() {
				if !strings.Contains(script, c.name) {
					t.Errorf("no command %s", c.name)
				}
			}
			for _, sp := range specs {
				for _, w := range append(sp.words, sp.flags...) {
					if shell == "fish" {
						w = strings.TrimLeft(w, "-")
					}
					if !strings.Contains(script, w) {
						t.Errorf("%s: no %s", sp.name, w)
					}
				}
			}
			if sh, err := exec.LookPath(shell); err == nil {
				if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
					t.Errorf("%s -n: %v\n%s", shell, err, out)
				}
			}
		})
	}
	t.Run("flags of the commands", func(t *testing.T) {
		want := map[string][]string{
			"session": {"--server", "--token", "-o", "--wait", "--timeout", "--label", "--help"},
			"dev":     {"--listen", "--config", "--help"},
			"node":    {"--server", "-o"},
			"usage":   {"--from", "-o"},
		}
		for _, sp := range specs {
			for _, f := range want[sp.name] {
				if !strings.Contains(" "+strings.Join(sp.flags, " ")+" ", " "+f+" ") {
					t.Errorf("%s has no flag %s: %v", sp.name, f, sp.flags)
				}
			}
			if sp.name == "session" && (!slices.Contains(sp.values, "--server") || slices.Contains(sp.values, "--wait")) {
				t.Errorf("session's flags with values: %v", sp.values)
			}
		}
	})

	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "arena.bash")
	if err := os.WriteFile(script, []byte(mustCLI(t, "completion", "bash")), 0o600); err != nil {
		t.Fatal(err)
	}
	// complete returns what _arena offers for a command line whose last
	// word is being typed.
	complete := func(t *testing.T, line ...string) string {
		t.Helper()
		words := make([]string, len(line))
		for i, w := range line {
			words[i] = "'" + w + "'"
		}
		prog := `source "$1" && complete -p arena && COMP_WORDS=(` + strings.Join(words, " ") + `) && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _arena && echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog, "bash", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		registered, offered, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if registered != "complete -F _arena arena" {
			t.Fatalf("complete -p arena: %q", registered)
		}
		return offered
	}
	tests := []struct {
		name string
		line []string
		want string
	}{
		{"commands", []string{"arena", "ses"}, "session"},
		{"several commands", []string{"arena", "t"}, "tag token"},
		{"a command's words", []string{"arena", "session", "l"}, "list logs leave"},
		{"a command's flags", []string{"arena", "session", "list", "--se"}, "--server --session"},
		{"after the command's word, no words", []string{"arena", "node", "drain", ""}, ""},
		{"a flag's value is not the command's word", []string{"arena", "session", "--server", "x", "g"}, "get"},
		{"the shells", []string{"arena", "completion", ""}, "bash zsh fish"},
		{"help's commands", []string{"arena", "help", "we"}, "webhook"},
		{"top-level flags", []string{"arena", "--v"}, "--version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := complete(t, tt.line...); got != tt.want {
				t.Fatalf("%q offers %q, want %q", strings.Join(tt.line, " "), got, tt.want)
			}
		})
	}
}
