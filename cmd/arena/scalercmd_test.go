package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	arenahttp "github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/http/apitest"
)

const scalerTestToken = "operator-token"

// scalerRequest is a request the fake admin API was sent.
type scalerRequest struct {
	method, uri, body string
}

// fakeScalerAPI is the scaler's part of the admin API, as an httptest
// server that answers as Arena does, holds each request and its answer to
// the OpenAPI document, and records the requests.
type fakeScalerAPI struct {
	*httptest.Server
	mu    sync.Mutex
	asked []scalerRequest
}

// The answers of the fake, as Arena writes them.
const (
	scalerPolicyJSON = `{"region":"europe","source":"api","offers":[{"provider":"hz","region":"fsn1","location":"europe","instanceType":"cx22","image":"123456",` +
		`"costPerHour":0.006,"capacity":{"milliCpu":2000,"memoryMb":4096}}],"buffer":{"sessions":4,"org":"studio","application":"echo",` +
		`"resources":{"milliCpu":0,"memoryMb":0}},"minNodes":0,"maxNodes":10,"maxCostPerHour":0.5,"scaleUpCooldownSeconds":30,` +
		`"scaleDownCooldownSeconds":30,"idleTimeoutSeconds":600,"joinTimeoutSeconds":600}`
	scalerConfigPolicyJSON = `{"region":"local","source":"config","offers":[{"provider":"local","region":"","location":"local","instanceType":"",` +
		`"image":"","costPerHour":0,"capacity":{"milliCpu":1000,"memoryMb":1024}}],"buffer":{"sessions":0,"org":"","application":"",` +
		`"resources":{"milliCpu":500,"memoryMb":256}},"minNodes":1,"maxNodes":2,"maxCostPerHour":0,"scaleUpCooldownSeconds":30,` +
		`"scaleDownCooldownSeconds":30,"idleTimeoutSeconds":120,"joinTimeoutSeconds":600}`
	scalerStatusJSON = `{"policies":[` + scalerPolicyJSON + `,` + scalerConfigPolicyJSON + `],` +
		`"machines":[{"node":"cloud-1","region":"europe","provider":"hz","providerId":"4711","instanceType":"cx22","state":"ready",` +
		`"reason":"buffer of 4 echo","costPerHour":0.006,"capacity":{"milliCpu":2000,"memoryMb":4096},"createdAt":"2026-11-01T10:00:00Z",` +
		`"joinedAt":"2026-11-01T10:01:00Z","updatedAt":"2026-11-01T10:01:00Z"}],` +
		`"decisions":[{"at":"2026-11-01T10:00:00Z","region":"europe","kind":"add","node":"cloud-1","provider":"hz","reason":"buffer of 4 echo","error":""},` +
		`{"at":"2026-11-01T10:05:00Z","region":"europe","kind":"add","node":"","provider":"hz","reason":"buffer of 4 echo","error":"quota"}],` +
		`"costPerHour":0.006}`
	scalerProvidersJSON = `{"providers":[{"name":"hz","type":"hetzner","settings":{"sshKeys":"ops","timeout":"30s"},"credentials":["token"],` +
		`"source":"api","createdAt":"2026-11-01T10:00:00Z","updatedAt":"2026-11-01T10:00:00Z"},` +
		`{"name":"local","type":"local","settings":{},"credentials":[],"source":"config","createdAt":"2026-11-01T09:00:00Z","updatedAt":"2026-11-01T09:00:00Z"}]}`
)

// scalerChecker is the checker of every fake, loaded once: loading the
// document takes longer than a test of a command.
var scalerChecker = sync.OnceValues(func() (*apitest.Checker, error) { return apitest.Load(arenahttp.OpenAPIDocument()) })

// newFakeScalerAPI starts the fake, closed at the test's end.
func newFakeScalerAPI(tb testing.TB) *fakeScalerAPI {
	tb.Helper()
	checker, err := scalerChecker()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fakeScalerAPI{}
	mux := nethttp.NewServeMux()
	answer := func(status int, body string) nethttp.HandlerFunc {
		return func(w nethttp.ResponseWriter, r *nethttp.Request) { writeScalerAnswer(tb, checker, w, r, status, body) }
	}
	mux.Handle("GET /admin/v1/scaler", answer(200, scalerStatusJSON))
	mux.HandleFunc("PUT /admin/v1/scaler/policies/{region}", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		region, _ := json.Marshal(r.PathValue("region"))
		writeScalerAnswer(tb, checker, w, r, 200, strings.Replace(scalerPolicyJSON, `"europe"`, string(region), 1))
	})
	mux.HandleFunc("DELETE /admin/v1/scaler/policies/{region}", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.PathValue("region") == "local" {
			writeScalerAnswer(tb, checker, w, r, 409, scalerErrorJSON(409, "conflict", "the policy of local is defined in the config file; remove it there"))
			return
		}
		writeScalerAnswer(tb, checker, w, r, 204, "")
	})
	mux.Handle("GET /admin/v1/scaler/providers", answer(200, scalerProvidersJSON))
	mux.HandleFunc("PUT /admin/v1/scaler/providers/{name}", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		// As Arena: the settings as given, the credentials by name.
		var in struct {
			Type        string            `json:"type"`
			Settings    map[string]string `json:"settings"`
			Credentials map[string]string `json:"credentials"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			tb.Errorf("PUT %s: %v", r.URL.Path, err)
		}
		names := []string{"token"} // the stored one, when none is given
		if in.Credentials != nil {
			names = slices.Sorted(maps.Keys(in.Credentials))
		}
		if in.Settings == nil {
			in.Settings = map[string]string{}
		}
		body, _ := json.Marshal(map[string]any{"name": r.PathValue("name"), "type": in.Type, "settings": in.Settings, "credentials": names,
			"source": "api", "createdAt": "2026-11-01T10:00:00Z", "updatedAt": "2026-11-02T10:00:00Z"})
		writeScalerAnswer(tb, checker, w, r, 200, string(body))
	})
	mux.Handle("DELETE /admin/v1/scaler/providers/{name}", answer(204, ""))

	f.Server = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			tb.Errorf("reading the request: %v", err)
		}
		f.mu.Lock()
		f.asked = append(f.asked, scalerRequest{r.Method, r.RequestURI, string(body)})
		f.mu.Unlock()
		if got := r.Header.Get("Authorization"); got != "Bearer "+scalerTestToken {
			tb.Errorf("%s %s: Authorization %q", r.Method, r.URL.Path, got)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		checkScalerRequest(tb, checker, r, body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	}))
	tb.Cleanup(f.Close)
	return f
}

// requests returns what the fake was sent so far, in order.
func (f *fakeScalerAPI) requests() []scalerRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// scalerErrorJSON is the contract's error body.
func scalerErrorJSON(status int, code, message string) string {
	b, _ := json.Marshal(map[string]any{"statusCode": status, "code": code, "message": message, "details": "", "path": "/admin/v1/scaler",
		"identifier": "req-1", "timestamp": "2026-11-01T10:00:00.000Z", "violations": []any{}})
	return string(b)
}

// writeScalerAnswer answers r with status and body, once the OpenAPI
// document has them: a fake that answered otherwise than Arena would
// prove nothing of the CLI.
func writeScalerAnswer(tb testing.TB, checker *apitest.Checker, w nethttp.ResponseWriter, r *nethttp.Request, status int, body string) {
	tb.Helper()
	header := nethttp.Header{"X-Request-Id": {"req-1"}}
	if body != "" {
		header.Set("Content-Type", "application/json")
	}
	checker.Check(tb, r, status, header, []byte(body))
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// checkScalerRequest reports through tb every way in which r departs from
// the operation of the OpenAPI document it asks for: its path's
// parameters, a body that does not match the operation's schema (a field
// unknown or missing, a number below its minimum).
func checkScalerRequest(tb testing.TB, checker *apitest.Checker, r *nethttp.Request, body []byte) {
	tb.Helper()
	doc := checker.Document()
	segments := strings.Split(r.URL.Path, "/")
	for tmpl, item := range doc.Paths.Map() {
		parts := strings.Split(tmpl, "/")
		if len(parts) != len(segments) || item.GetOperation(r.Method) == nil {
			continue
		}
		params := map[string]string{}
		for i, p := range parts {
			if strings.HasPrefix(p, "{") {
				params[strings.Trim(p, "{}")] = segments[i]
			} else if p != segments[i] {
				params = nil
				break
			}
		}
		if params == nil {
			continue
		}
		input := &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: r.Method, Operation: item.GetOperation(r.Method)},
			Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		}
		if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
			tb.Errorf("%s %s: the request does not match the OpenAPI document: %v\nbody: %s", r.Method, r.URL.Path, err, body)
		}
		return
	}
	tb.Errorf("%s %s: no operation of the OpenAPI document", r.Method, r.URL.Path)
}

// TestScalerCLI runs each arena scaler command against the fake admin API:
// what it sends, exactly, and what it prints.
func TestScalerCLI(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	policyYAML := write("policy.yaml", `# europe, on Hetzner
offers:
  - provider: hz
    region: fsn1
    location: europe
    instanceType: cx22
    image: 123456          # an image id, a string whatever YAML makes of it
    costPerHour: 0.006
    capacity: {milliCpu: 2000, memoryMb: 4096}
buffer: {sessions: 4, org: studio, application: echo}
maxNodes: 10
maxCostPerHour: 0.5
scaleUpCooldownSeconds: 0
idleTimeoutSeconds: 600
`)
	policyJSON := write("policy.json", `{"offers":[{"provider":"hz","location":"europe","costPerHour":0.006,"capacity":{"milliCpu":2000,"memoryMb":4096}}],"maxNodes":3}`)
	policyBody := `{"offers":[{"provider":"hz","region":"fsn1","location":"europe","instanceType":"cx22","image":"123456","costPerHour":0.006,` +
		`"capacity":{"milliCpu":2000,"memoryMb":4096}}],"buffer":{"sessions":4,"org":"studio","application":"echo"},"maxNodes":10,` +
		`"maxCostPerHour":0.5,"scaleUpCooldownSeconds":0,"idleTimeoutSeconds":600}`

	const (
		envSecret   = "hz-env-s3cret-0123456789"
		fileSecret  = "aws-file-s3cret/9876+543210"
		otherSecret = "aws-key-id-s3cret"
	)
	t.Setenv("ARENA_TEST_HZ_TOKEN", envSecret)
	t.Setenv("ARENA_TEST_AWS_KEY_ID", otherSecret+"\n")
	secretFile := write("aws-secret", fileSecret+"\n")
	secrets := []string{envSecret, fileSecret, otherSecret}

	policyTable := "REGION  SOURCE  BUFFER  NODES  MAX COST/H  IDLE   OFFERS\n" +
		"europe  api     4×echo  0-10   0.5         10m0s  hz:cx22@fsn1 (0.006/h)\n"
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  []scalerRequest
		out   string // all of stdout
		// prefix: out is only the beginning of stdout, for YAML whose
		// end tells nothing more.
		prefix bool
	}{
		{name: "status", args: []string{"status"},
			want: []scalerRequest{{"GET", "/admin/v1/scaler", ""}},
			out: "NODE     REGION  PROVIDER  TYPE  STATE  COST/H  REASON\n" +
				"cloud-1  europe  hz        cx22  ready  0.006   buffer of 4 echo\n" +
				"\n" +
				"COST/H  0.006\n" +
				"\n" +
				"AT                    REGION  DECISION  NODE     PROVIDER  REASON\n" +
				"2026-11-01T10:00:00Z  europe  add       cloud-1  hz        buffer of 4 echo\n" +
				"2026-11-01T10:05:00Z  europe  add       -        hz        buffer of 4 echo — failed: quota\n"},
		{name: "the policies", args: []string{"policy"},
			want: []scalerRequest{{"GET", "/admin/v1/scaler", ""}},
			out: "REGION  SOURCE  BUFFER      NODES  MAX COST/H  IDLE   OFFERS\n" +
				"europe  api     4×echo      0-10   0.5         10m0s  hz:cx22@fsn1 (0.006/h)\n" +
				"local   config  500m/256Mi  1-2    0           2m0s   local:@ (0.000/h)\n"},
		{name: "the policies by list", args: []string{"policy", "list", "-o", "json"},
			want: []scalerRequest{{"GET", "/admin/v1/scaler", ""}}, out: scalerStatusJSON + "\n"},
		{name: "set a policy from YAML", args: []string{"policy", "set", "europe", "-f", policyYAML},
			want: []scalerRequest{{"PUT", "/admin/v1/scaler/policies/europe", policyBody}}, out: policyTable},
		{name: "set a policy from JSON, of a region to be escaped", args: []string{"policy", "set", "eu west", "-f", policyJSON, "-o", "json"},
			want: []scalerRequest{{"PUT", "/admin/v1/scaler/policies/eu%20west",
				`{"offers":[{"provider":"hz","location":"europe","costPerHour":0.006,"capacity":{"milliCpu":2000,"memoryMb":4096}}],"maxNodes":3}`}},
			out: strings.Replace(scalerPolicyJSON, `"europe"`, `"eu west"`, 1) + "\n"},
		{name: "set a policy from stdin", args: []string{"policy", "set", "europe", "-f", "-", "-o", "yaml"},
			stdin: "maxNodes: 2\noffers: [{provider: hz, location: europe, costPerHour: 0.01, capacity: {milliCpu: 1000, memoryMb: 1024}}]\n",
			want: []scalerRequest{{"PUT", "/admin/v1/scaler/policies/europe",
				`{"offers":[{"provider":"hz","location":"europe","costPerHour":0.01,"capacity":{"milliCpu":1000,"memoryMb":1024}}],"maxNodes":2}`}},
			out: "region: europe\nsource: api\noffers:\n    - provider: hz\n", prefix: true},
		{name: "delete a policy", args: []string{"policy", "delete", "europe"},
			want: []scalerRequest{{"DELETE", "/admin/v1/scaler/policies/europe", ""}}, out: "policy of europe deleted; its cloud machines retire once idle\n"},
		{name: "the providers", args: []string{"provider"},
			want: []scalerRequest{{"GET", "/admin/v1/scaler/providers", ""}},
			out: "NAME   TYPE     SOURCE  SETTINGS                  CREDENTIALS\n" +
				"hz     hetzner  api     sshKeys=ops, timeout=30s  token\n" +
				"local  local    config  -                         -\n"},
		{name: "the providers by list", args: []string{"provider", "list", "-o", "json"},
			want: []scalerRequest{{"GET", "/admin/v1/scaler/providers", ""}}, out: scalerProvidersJSON + "\n"},
		{name: "set a provider, its credential from a variable", args: []string{"provider", "set", "hz", "--type", "hetzner",
			"--setting", "sshKeys=ops", "--setting", "timeout=30s", "--credential-env", "token=ARENA_TEST_HZ_TOKEN"},
			want: []scalerRequest{{"PUT", "/admin/v1/scaler/providers/hz",
				`{"type":"hetzner","settings":{"sshKeys":"ops","timeout":"30s"},"credentials":{"token":"` + envSecret + `"}}`}},
			out: "NAME  TYPE     SOURCE  SETTINGS                  CREDENTIALS\n" +
				"hz    hetzner  api     sshKeys=ops, timeout=30s  token\n"},
		{name: "set a provider, its credentials from a file and a variable, without newlines", args: []string{"provider", "set", "aws-eu", "--type", "aws",
			"--setting", "region=eu-central-1", "--credential-file", "secretAccessKey=" + secretFile,
			"--credential-env", "accessKeyId=ARENA_TEST_AWS_KEY_ID", "-o", "json"},
			want: []scalerRequest{{"PUT", "/admin/v1/scaler/providers/aws-eu",
				`{"type":"aws","settings":{"region":"eu-central-1"},"credentials":{"accessKeyId":"` + otherSecret + `","secretAccessKey":"` + fileSecret + `"}}`}},
			out: `{"createdAt":"2026-11-01T10:00:00Z","credentials":["accessKeyId","secretAccessKey"],"name":"aws-eu","settings":{"region":"eu-central-1"},` +
				`"source":"api","type":"aws","updatedAt":"2026-11-02T10:00:00Z"}` + "\n"},
		{name: "set a provider, keeping its credentials", args: []string{"provider", "set", "hz", "--type", "hetzner", "-o", "yaml"},
			want: []scalerRequest{{"PUT", "/admin/v1/scaler/providers/hz", `{"type":"hetzner"}`}},
			out:  "createdAt: \"2026-11-01T10:00:00Z\"\ncredentials:\n    - token\nname: hz\nsettings: {}\nsource: api\ntype: hetzner\nupdatedAt: \"2026-11-02T10:00:00Z\"\n"},
		{name: "delete a provider", args: []string{"provider", "delete", "hz"},
			want: []scalerRequest{{"DELETE", "/admin/v1/scaler/providers/hz", ""}}, out: "provider hz deleted\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeScalerAPI(t)
			code, out, errOut := runScalerCLI(t, tt.stdin, append(append([]string{"scaler"}, tt.args...), "--server", api.URL, "--token", scalerTestToken)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d\nstderr %s", code, errOut)
			}
			if got := api.requests(); !slices.Equal(got, tt.want) {
				t.Errorf("sent %q\nwant %q", got, tt.want)
			}
			if tt.prefix && !strings.HasPrefix(out, tt.out) || !tt.prefix && out != tt.out {
				t.Errorf("printed\n%s\nwant\n%s", out, tt.out)
			}
			for _, r := range api.requests() {
				for _, s := range secrets {
					if strings.Contains(r.uri, s) {
						t.Errorf("a credential in the request's path or query: %s", r.uri)
					}
				}
			}
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(errOut, s) {
					t.Errorf("a credential printed:\n%s%s", out, errOut)
				}
			}
		})
	}
}

// runScalerCLI runs a command line as main does, -f - reading stdin.
func runScalerCLI(tb testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	saved := scalerStdin
	scalerStdin = strings.NewReader(stdin)
	defer func() { scalerStdin = saved }()
	return arenaCLI(tb, args...)
}

// TestScalerCLIRefuses: a command line that is wrong, or names a
// credential or a policy that cannot be read, is refused before any
// request, saying why and never what a credential holds; an answer of
// the API other than 2xx fails the command.
func TestScalerCLIRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	empty := write("empty", "\n")
	typo := write("typo.yaml", "offers: [{provider: hz, location: europe, costPerHour: 0.01, capacity: {milliCpu: 1000, memoryMb: 1024}}]\nmaxNode: 3\n")
	list := write("list.yaml", "- maxNodes: 3\n")
	t.Setenv("ARENA_TEST_EMPTY", "")
	t.Setenv("ARENA_TEST_UNSET", "x")
	os.Unsetenv("ARENA_TEST_UNSET") // restored, unset, by t.Setenv's cleanup
	const literal = "hz-literal-s3cret/0123+456=="

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // all of it
		want   []scalerRequest
	}{
		{"an unknown word", []string{"scale"}, 2,
			"arena scaler: unknown command \"scale\": one of status, policy, provider\nRun 'arena scaler --help' for usage.\n", nil},
		{"no word", nil, 2,
			"arena scaler: missing command: one of status, policy, provider\nRun 'arena scaler --help' for usage.\n", nil},
		{"an unknown word of policy", []string{"policy", "get"}, 2,
			"arena scaler policy: unknown command \"get\": one of list, set, delete\nRun 'arena scaler policy --help' for usage.\n", nil},
		{"an unknown word of provider", []string{"provider", "add", "hz"}, 2,
			"arena scaler provider: unknown command \"add\": one of list, set, delete\nRun 'arena scaler provider --help' for usage.\n", nil},
		{"a policy without its region", []string{"policy", "delete"}, 2,
			"arena scaler policy delete: missing REGION\nRun 'arena scaler policy delete --help' for usage.\n", nil},
		{"a provider with an argument too many", []string{"provider", "delete", "hz", "aws"}, 2,
			"arena scaler provider delete: unexpected argument \"aws\"\nRun 'arena scaler provider delete --help' for usage.\n", nil},
		{"an argument to list", []string{"provider", "list", "hz"}, 2,
			"arena scaler provider list: unexpected argument \"hz\"\nRun 'arena scaler provider list --help' for usage.\n", nil},
		{"a policy without -f", []string{"policy", "set", "europe"}, 2,
			"arena scaler policy set: missing -f FILE\nRun 'arena scaler policy set --help' for usage.\n", nil},
		{"a provider without --type", []string{"provider", "set", "hz", "--credential-env", "token=ARENA_TEST_UNSET"}, 2,
			"arena scaler provider set: missing --type TYPE\nRun 'arena scaler provider set --help' for usage.\n", nil},
		{"a malformed --setting", []string{"provider", "set", "hz", "--type", "hetzner", "--setting", "sshKeys"}, 2,
			"arena scaler provider set: invalid value \"sshKeys\" for --setting: \"sshKeys\" is not KEY=VALUE\nRun 'arena scaler provider set --help' for usage.\n", nil},

		{"a credential from a variable not set", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-env", "token=ARENA_TEST_UNSET"}, 1,
			"arena: credential token: the environment variable ARENA_TEST_UNSET is not set\n", nil},
		{"a credential from an empty variable", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-env", "token=ARENA_TEST_EMPTY"}, 1,
			"arena: credential token: the environment variable ARENA_TEST_EMPTY is empty\n", nil},
		{"a credential from a file that is not there", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-file", "token=" + filepath.Join(dir, "nope")}, 1,
			"arena: credential token: open " + filepath.Join(dir, "nope") + ": no such file or directory\n", nil},
		{"a credential from a directory", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-file", "token=" + dir}, 1,
			"arena: credential token: read " + dir + ": is a directory\n", nil},
		{"a credential from an empty file", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-file", "token=" + empty}, 1,
			"arena: credential token: " + empty + " is empty\n", nil},
		{"a credential given as a value", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-env", "token=" + literal}, 2,
			"arena scaler provider set: each --credential-env must be K=VAR, VAR the name of the environment variable that holds the credential\n" +
				"Run 'arena scaler provider set --help' for usage.\n", nil},
		{"a credential given alone", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-env", literal}, 2,
			"arena scaler provider set: each --credential-env must be K=VAR, VAR the name of the environment variable that holds the credential\n" +
				"Run 'arena scaler provider set --help' for usage.\n", nil},
		{"a credential file without its name", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-file", empty}, 2,
			"arena scaler provider set: each --credential-file must be K=PATH, PATH the file that holds the credential\n" +
				"Run 'arena scaler provider set --help' for usage.\n", nil},
		{"a credential given twice", []string{"provider", "set", "hz", "--type", "hetzner", "--credential-env", "token=ARENA_TEST_EMPTY", "--credential-file", "token=" + empty}, 2,
			"arena scaler provider set: credential token is given twice\nRun 'arena scaler provider set --help' for usage.\n", nil},

		{"a policy file that is not there", []string{"policy", "set", "europe", "-f", filepath.Join(dir, "nope.yaml")}, 1,
			"arena: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory\n", nil},
		{"a policy with a field it does not have", []string{"policy", "set", "europe", "-f", typo}, 1,
			"arena: " + typo + ": unknown field \"maxNode\"\n", nil},
		{"a policy that is a list", []string{"policy", "set", "europe", "-f", list}, 1,
			"arena: " + list + ": not a scaling policy: want a mapping of its fields, such as offers and maxNodes\n", nil},
		{"a policy that is empty", []string{"policy", "set", "europe", "-f", empty}, 1,
			"arena: " + empty + ": not a scaling policy: want a mapping of its fields, such as offers and maxNodes\n", nil},

		{"an answer of the API that refuses", []string{"policy", "delete", "local"}, 1,
			"arena: 409 Conflict: the policy of local is defined in the config file; remove it there\n",
			[]scalerRequest{{"DELETE", "/admin/v1/scaler/policies/local", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeScalerAPI(t)
			code, out, errOut := runScalerCLI(t, "", append(append([]string{"scaler"}, tt.args...), "--server", api.URL, "--token", scalerTestToken)...)
			if code != tt.code || errOut != tt.stderr || out != "" {
				t.Fatalf("exit %d, want %d\nstderr %q\nwant   %q\nstdout %q", code, tt.code, errOut, tt.stderr, out)
			}
			if got := api.requests(); !slices.Equal(got, tt.want) {
				t.Errorf("sent %q\nwant %q", got, tt.want)
			}
			if strings.Contains(errOut, literal) || strings.Contains(errOut, strings.TrimRight(literal, "=")) {
				t.Errorf("a credential printed: %s", errOut)
			}
		})
	}
}

// TestScalerCLIHelp: the help tells of every word of arena scaler.
func TestScalerCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "scaler"}, {"scaler", "provider", "set", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out := mustCLI(t, args...)
			for _, want := range []string{"arena scaler status", "arena scaler policy [list]", "arena scaler policy set REGION -f FILE",
				"arena scaler policy delete REGION", "arena scaler provider [list]", "arena scaler provider set NAME --type TYPE",
				"--credential-env K=VAR", "--credential-file K=PATH", "arena scaler provider delete NAME"} {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in\n%s", want, out)
				}
			}
		})
	}
}
