package http_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCreateSession(t *testing.T) {
	tests := []struct {
		name string
		body string
		want arena.SessionRequest
	}{
		{
			name: "required fields only",
			body: `{"location":"europe","image":"my-game"}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game"},
		},
		{
			name: "every field",
			body: `{"id":"match-42","location":"europe","image":"my-game","version":"1.2",
				"env":{"MODE":"ranked"},"args":["--max-players=8"],"labels":{"match":"42","empty":""},
				"ttl":3600,"restart":true}`,
			want: arena.SessionRequest{
				ID: "match-42", Location: "europe", Image: "my-game", Version: "1.2",
				Env: map[string]string{"MODE": "ranked"}, Args: []string{"--max-players=8"},
				Labels: map[string]string{"match": "42", "empty": ""}, TTL: time.Hour, Restart: true,
			},
		},
		{
			name: "null optional fields mean absent",
			body: `{"id":null,"location":"europe","image":"my-game","version":null,"env":null,
				"args":null,"labels":null,"ttl":null,"restart":null}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game"},
		},
		{
			name: "empty optional fields mean absent",
			body: `{"id":"","location":"europe","image":"my-game","version":"","env":{},"args":[],"labels":{},"ttl":0}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game"},
		},
		{
			name: "the current revision's fields, as Nakama's fleet manager sends them",
			body: `{"id":"f7965a22-e327-4541-a30e-8262890d3a29","location":"europe","image":"my-game","version":"1.0.0",
				"labels":{"mode":"duel"},"restart":false,"ttl":"30m","external_id":"match-1"}`,
			want: arena.SessionRequest{
				ID: "f7965a22-e327-4541-a30e-8262890d3a29", Location: "europe", Image: "my-game", Version: "1.0.0",
				Labels: map[string]string{"mode": "duel"}, TTL: 30 * time.Minute, ExternalID: "match-1",
			},
		},
		{
			name: "ttl in hours and minutes",
			body: `{"location":"europe","image":"my-game","ttl":"2h30m"}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game", TTL: 150 * time.Minute},
		},
		{
			name: "ttl under a minute rounds up to one",
			body: `{"location":"europe","image":"my-game","ttl":"0.5m"}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game", TTL: time.Minute},
		},
		{
			name: "null external_id means absent",
			body: `{"location":"europe","image":"my-game","external_id":null}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game"},
		},
		{
			name: "ttl written as an integral number",
			body: `{"location":"europe","image":"my-game","ttl":6e1}`,
			want: arena.SessionRequest{Location: "europe", Image: "my-game", TTL: time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodPost, "/session", tt.body)
			if r.status != http.StatusCreated {
				t.Fatalf("status = %d, want 201; body: %s", r.status, r.body)
			}
			calls := api.sessions.Calls()
			if len(calls) != 1 {
				t.Fatalf("service calls = %d, want 1", len(calls))
			}
			if calls[0].orgID != testOrg {
				t.Errorf("org = %q, want the token's %q", calls[0].orgID, testOrg)
			}
			if !reflect.DeepEqual(calls[0].req, tt.want) {
				t.Errorf("request = %+v\nwant      %+v", calls[0].req, tt.want)
			}
		})
	}
}

func TestCreateSessionResponse(t *testing.T) {
	api := newTestAPI(t, &fakeSessions{create: func(req arena.SessionRequest) (*arena.Session, error) {
		return &arena.Session{ID: "s-1", Host: "203.0.113.7", Ports: []arena.Port{
			{Protocol: arena.UDP, Container: 7777, Host: 32768},
			{Protocol: arena.TCP, Container: 27015, Host: 32769},
		}}, nil
	}})
	r := api.do(t, http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body: %s", r.status, r.body)
	}
	var got map[string]any
	r.decodeJSON(t, &got)
	want := map[string]any{"id": "s-1", "host": "203.0.113.7", "ports": []any{
		map[string]any{"type": "udp", "container": 7777.0, "host": 32768.0},
		map[string]any{"type": "tcp", "container": 27015.0, "host": 32769.0},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v\nwant   %v", got, want)
	}
}

func TestCreateSessionInvalid(t *testing.T) {
	tests := []struct {
		name string
		body string
		// want lists the fields of the violations, in order.
		want []string
	}{
		{"unknown field", `{"location":"europe","image":"g","region":"eu"}`, []string{"region"}},
		{"field names are case-sensitive", `{"Location":"europe","image":"g"}`, []string{"Location", "location"}},
		{"missing location and image", `{}`, []string{"location", "image"}},
		{"null location", `{"location":null,"image":"g"}`, []string{"location"}},
		{"empty image", `{"location":"europe","image":""}`, []string{"image"}},
		{"location of the wrong type", `{"location":5,"image":"g"}`, []string{"location"}},
		{"id of the wrong type", `{"id":42,"location":"europe","image":"g"}`, []string{"id"}},
		{"malformed id", `{"id":"-x y","location":"europe","image":"g"}`, []string{"id"}},
		{"env not an object", `{"location":"europe","image":"g","env":["A=1"]}`, []string{"env"}},
		{"env value not a string", `{"location":"europe","image":"g","env":{"A":1,"B":null}}`, []string{"env.A", "env.B"}},
		{"env value empty", `{"location":"europe","image":"g","env":{"A":""}}`, []string{"env.A"}},
		{"env name invalid", `{"location":"europe","image":"g","env":{"1A":"x"}}`, []string{"env.1A"}},
		{"args not an array", `{"location":"europe","image":"g","args":"--x"}`, []string{"args"}},
		{"args item not a string", `{"location":"europe","image":"g","args":["ok",3,""]}`, []string{"args[1]", "args[2]"}},
		{"labels value not a string", `{"location":"europe","image":"g","labels":{"a":true}}`, []string{"labels.a"}},
		{"restart not a boolean", `{"location":"europe","image":"g","restart":"yes"}`, []string{"restart"}},
		{"ttl as a string of seconds", `{"location":"europe","image":"g","ttl":"60"}`, []string{"ttl"}},
		{"ttl of nonsense", `{"location":"europe","image":"g","ttl":"soon"}`, []string{"ttl"}},
		{"ttl in seconds as a string", `{"location":"europe","image":"g","ttl":"30s"}`, []string{"ttl"}},
		{"ttl in days", `{"location":"europe","image":"g","ttl":"1d"}`, []string{"ttl"}},
		{"ttl as an empty string", `{"location":"europe","image":"g","ttl":""}`, []string{"ttl"}},
		{"ttl string over the maximum", `{"location":"europe","image":"g","ttl":"721h"}`, []string{"ttl"}},
		{"ttl of another type", `{"location":"europe","image":"g","ttl":{"m":30}}`, []string{"ttl"}},
		{"external_id not a string", `{"location":"europe","image":"g","external_id":42}`, []string{"external_id"}},
		{"external_id too long", `{"location":"europe","image":"g","external_id":"` + strings.Repeat("x", arena.MaxExternalID+1) + `"}`, []string{"external_id"}},
		{"ttl with a fraction", `{"location":"europe","image":"g","ttl":1.5}`, []string{"ttl"}},
		{"negative ttl", `{"location":"europe","image":"g","ttl":-1}`, []string{"ttl"}},
		{"ttl over the maximum", fmt.Sprintf(`{"location":"europe","image":"g","ttl":%d}`, int64(arena.MaxTTL/time.Second)+1), []string{"ttl"}},
		{"ttl beyond int64", `{"location":"europe","image":"g","ttl":1e300}`, []string{"ttl"}},
		{"every problem at once", `{"image":7,"ttl":"x","extra":1}`, []string{"extra", "image", "ttl", "location"}},
		{"empty body", ``, []string{"body"}},
		{"null body", `null`, []string{"body"}},
		{"array body", `[{"location":"europe","image":"g"}]`, []string{"body"}},
		{"invalid JSON", `{"location":"europe",}`, []string{"body"}},
		{"trailing data", `{"location":"europe","image":"g"} {}`, []string{"body"}},
		{"body over 1 MiB", `{"location":"europe","image":"g","labels":{"a":"` + strings.Repeat("x", 1<<20) + `"}}`, []string{"body"}},
		{"image twice", `{"location":"europe","image":"g","image":"h"}`, []string{"image"}},
		{"a key twice, of a null", `{"location":"europe","image":"g","ttl":null,"ttl":60}`, []string{"ttl"}},
		{"an env key twice", `{"location":"europe","image":"g","env":{"A":"1","B":"2","A":"3"}}`, []string{"env.A"}},
		{"keys that differ in case", `{"location":"europe","image":"g","env":{"A":"1","a":"2"}}`, nil},
		{"the same key in two objects", `{"location":"europe","image":"g","env":{"a":"1"},"labels":{"a":"2"}}`, nil},
		{"a surrogate pair", `{"location":"europe","image":"g","labels":{"a":"\ud83d\ude00"}}`, nil},
		{"an escaped backslash before u", `{"location":"europe","image":"g","labels":{"a":"\\ud800"}}`, nil},
		{"bytes that are not UTF-8", "{\"location\":\"europe\",\"image\":\"g\xff\"}", []string{"body"}},
		{"a truncated UTF-8 sequence", "{\"location\":\"europe\",\"image\":\"g\xc3\"}", []string{"body"}},
		{"half a surrogate pair", `{"location":"europe","image":"g\ud800"}`, []string{"body"}},
		{"a low surrogate alone", `{"location":"europe","image":"g","labels":{"a":"\udc00x"}}`, []string{"body"}},
		{"a high surrogate before another escape", `{"location":"europe","image":"g\ud800\u0041"}`, []string{"body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodPost, "/session", tt.body)
			if tt.want == nil {
				if r.status != http.StatusCreated {
					t.Fatalf("status = %d, want 201: %s", r.status, r.body)
				}
				return
			}
			e := r.wantError(t, http.StatusUnprocessableEntity, arena.EINVALID)
			if got := e.fields(); !slices.Equal(got, tt.want) {
				t.Errorf("violations = %+v, want fields %q", e.Violations, tt.want)
			}
			if calls := api.sessions.Calls(); len(calls) != 0 {
				t.Errorf("the service was called with an invalid request: %+v", calls)
			}
		})
	}
}

func TestListSessionsFilter(t *testing.T) {
	intp := func(n int) *int { return &n }
	tests := []struct {
		name  string
		query string
		want  arena.SessionFilter
	}{
		{"no query", "", arena.SessionFilter{}},
		{"all", "all=true", arena.SessionFilter{All: true}},
		{"all false", "all=false", arena.SessionFilter{}},
		{"empty values do not filter", "all=&location=&playerCount%5Blt%5D=&filter%5Bmode%5D=", arena.SessionFilter{}},
		{
			"scalar filters", "location=europe&image=my-game&tag=1.2&host=203.0.113.7",
			arena.SessionFilter{Location: "europe", Image: "my-game", Tag: "1.2", Host: "203.0.113.7"},
		},
		{"external id", "external_id=match-42", arena.SessionFilter{ExternalID: "match-42"}},
		{
			"labels", "filter[mode]=ranked&filter%5Bmatch%5D=42",
			arena.SessionFilter{Labels: map[string]string{"mode": "ranked", "match": "42"}},
		},
		{
			"player count bounds", "playerCount[lt]=8&playerCount[gt]=0",
			arena.SessionFilter{PlayerCountLT: intp(8), PlayerCountGT: intp(0)},
		},
		{"unknown parameters are ignored", "foo=1&foo=2&location[x]=y", arena.SessionFilter{}},
		{
			"backfill search", "location=europe&playerCount[lt]=16&filter[mode]=casual",
			arena.SessionFilter{Location: "europe", PlayerCountLT: intp(16), Labels: map[string]string{"mode": "casual"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodGet, "/session?"+tt.query, "")
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", r.status, r.body)
			}
			calls := api.sessions.Calls()
			if len(calls) != 1 || calls[0].orgID != testOrg {
				t.Fatalf("calls = %+v, want one for %s", calls, testOrg)
			}
			if !reflect.DeepEqual(calls[0].filter, tt.want) {
				t.Errorf("filter = %+v\nwant     %+v", calls[0].filter, tt.want)
			}
		})
	}
}

func TestListSessionsInvalidQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all not a boolean", "all=maybe", []string{"all"}},
		{"player count not an integer", "playerCount[lt]=abc", []string{"playerCount[lt]"}},
		{"unknown player count bound", "playerCount[eq]=3", []string{"playerCount[eq]"}},
		{"unknown player count bound without a value", "playerCount[le]=", []string{"playerCount[le]"}},
		{"player count without a key", "playerCount=3", []string{"playerCount"}},
		{"filter without a key", "filter=mode", []string{"filter"}},
		{"filter with an empty key", "filter[]=x", []string{"filter[]"}},
		{"parameter given twice", "location=a&location=b", []string{"location"}},
		{"malformed query", "location=%zz", []string{"query"}},
		{"several problems", "all=2x&playerCount[gt]=1.5", []string{"all", "playerCount[gt]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodGet, "/session?"+tt.query, "")
			e := r.wantError(t, http.StatusUnprocessableEntity, arena.EINVALID)
			if got := e.fields(); !slices.Equal(got, tt.want) {
				t.Errorf("violations = %+v, want fields %q", e.Violations, tt.want)
			}
			if calls := api.sessions.Calls(); len(calls) != 0 {
				t.Errorf("the service was called: %+v", calls)
			}
		})
	}
}

// testSessions are sessions that exercise every rendering rule: ports,
// labels and players present or not, location or only a region.
func testSessions() []*arena.Session {
	created := time.UnixMilli(1648472895000).UTC()
	return []*arena.Session{
		{
			ID: "s-running", OrgID: testOrg, ExternalID: "match-42", Application: "my-game", Tag: "1.2", Image: "registry.example/my-game:1.2",
			Region: "europe", Location: "europe-ams1", Host: "203.0.113.7",
			Ports: []arena.Port{
				{Protocol: arena.UDP, Container: 7777, Host: 32768},
				{Protocol: arena.TCP, Container: 27015, Host: 32769},
			},
			Labels:  map[string]string{"match": "42", "mode": "ranked"},
			Players: []string{"p1", "p2"},
			Env:     map[string]string{"MAP": "dust", "API_KEY": "s3cr3t-value"},
			State:   arena.SessionRunning, CreatedAt: created, RunningAt: created.Add(1500 * time.Millisecond),
			Restarts: 1, ExitCode: 3,
		},
		{
			ID: "s-dead", OrgID: testOrg, Application: "my-game", Tag: "1.1", Region: "us-east",
			State: arena.SessionStopped, StopReason: arena.StopFailed, CreatedAt: created.Add(time.Second),
			StopMessage: "start deadline passed (start timeout 2m0s): the session waited for its turn behind the node's other starts all along",
			StoppedAt:   created.Add(2 * time.Second), ExitCode: -1,
		},
	}
}

func TestListSessionsResponse(t *testing.T) {
	api := newTestAPI(t, &fakeSessions{list: func(arena.SessionFilter) ([]*arena.Session, error) {
		return testSessions(), nil
	}})
	r := api.do(t, http.MethodGet, "/session?all=true", "")
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body: %s", r.status, r.body)
	}
	compareGolden(t, "list_sessions.json", r.body)
}

func TestListSessionsEmpty(t *testing.T) {
	api := newTestAPI(t, nil)
	r := api.do(t, http.MethodGet, "/session", "")
	if got := strings.TrimSpace(string(r.body)); got != `{"sessions":[]}` {
		t.Errorf("body = %s, want an empty array, not null", got)
	}
}

func TestDescribeSession(t *testing.T) {
	for _, sess := range testSessions() {
		t.Run(sess.ID, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, &fakeSessions{find: func(string) (*arena.Session, error) { return sess, nil }})
			r := api.do(t, http.MethodGet, "/session/"+sess.ID+"?all=true", "")
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", r.status, r.body)
			}
			if calls := api.sessions.Calls(); len(calls) != 1 || calls[0].id != sess.ID || calls[0].orgID != testOrg {
				t.Errorf("calls = %+v, want FindSession(%s, %s)", calls, testOrg, sess.ID)
			}
			compareGolden(t, "describe_"+sess.ID+".json", r.body)
			// The environment's names are shown, its values never.
			for k, v := range sess.Env {
				if !strings.Contains(string(r.body), `"`+k+`"`) || strings.Contains(string(r.body), v) {
					t.Errorf("the env %s=%s is not shown as its name alone: %s", k, v, r.body)
				}
			}
		})
	}
}

// TestDescribeStoppedSession: a stopped session is described only when the
// caller asks for all sessions, as the platform says a stopped one is gone.
func TestDescribeStoppedSession(t *testing.T) {
	dead := testSessions()[1]
	tests := []struct {
		name, query string
		want        int
	}{
		{"default", "", http.StatusNotFound},
		{"all=false", "?all=false", http.StatusNotFound},
		{"all=true", "?all=true", http.StatusOK},
		{"all=1", "?all=1", http.StatusOK},
		{"malformed", "?all=maybe", http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, &fakeSessions{find: func(string) (*arena.Session, error) { return dead, nil }})
			if r := api.do(t, http.MethodGet, "/session/"+dead.ID+tt.query, ""); r.status != tt.want {
				t.Fatalf("status = %d, want %d; body: %s", r.status, tt.want, r.body)
			}
		})
	}
}

// TestSessionStatus checks the status every state is rendered with.
func TestSessionStatus(t *testing.T) {
	tests := []struct {
		state  arena.SessionState
		reason arena.StopReason
		want   string
	}{
		{arena.SessionStarted, "", "created"},
		{arena.SessionRunning, "", "running"},
		{arena.SessionRestarting, "", "restarting"},
		{arena.SessionStopping, arena.StopDeleted, "shuttingdown"},
		{arena.SessionUnreachable, "", "server_unreachable"},
		{arena.SessionStopped, arena.StopDeleted, "exited"},
		{arena.SessionStopped, arena.StopTTL, "exited"},
		{arena.SessionStopped, arena.StopExited, "exited"},
		{arena.SessionStopped, arena.StopFailed, "dead"},
		{arena.SessionStopped, arena.StopCrashLoop, "dead"},
		{arena.SessionStopped, arena.StopLost, "dead"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.state, tt.reason), func(t *testing.T) {
			t.Parallel()
			sess := &arena.Session{ID: "s", State: tt.state, StopReason: tt.reason}
			api := newTestAPI(t, &fakeSessions{
				find: func(string) (*arena.Session, error) { return sess, nil },
				list: func(arena.SessionFilter) ([]*arena.Session, error) { return []*arena.Session{sess}, nil },
			})
			var described struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(api.do(t, http.MethodGet, "/session/s?all=true", "").body, &described); err != nil {
				t.Fatal(err)
			}
			var listed struct {
				Sessions []struct {
					Status string `json:"status"`
				} `json:"sessions"`
			}
			if err := json.Unmarshal(api.do(t, http.MethodGet, "/session?all=true", "").body, &listed); err != nil {
				t.Fatal(err)
			}
			if described.Status != tt.want || len(listed.Sessions) != 1 || listed.Sessions[0].Status != tt.want {
				t.Errorf("status described %q, listed %+v; want %q", described.Status, listed.Sessions, tt.want)
			}
		})
	}
}

func TestStopSession(t *testing.T) {
	api := newTestAPI(t, nil)
	r := api.do(t, http.MethodDelete, "/session/s-1", "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("status = %d, body %q; want 204 and no body", r.status, r.body)
	}
	if calls := api.sessions.Calls(); len(calls) != 1 || calls[0].method != "StopSession" || calls[0].id != "s-1" || calls[0].orgID != testOrg {
		t.Errorf("calls = %+v, want StopSession(%s, s-1)", calls, testOrg)
	}
}

// TestServiceErrors checks that every operation answers a service error with
// the status of its code when the operation documents the code, as an
// internal error otherwise, and never shows the cause of an internal error.
func TestServiceErrors(t *testing.T) {
	const cause = "disk I/O error at /var/lib/arena/arena.db"
	errs := []struct {
		name string
		err  error
	}{
		{"invalid", arena.Invalid(arena.Violation{Field: "version", Description: "is not a tag of my-game"})},
		{"not found", arena.Errorf(arena.ENOTFOUND, "session s-1 not found")},
		{"conflict", arena.Errorf(arena.ECONFLICT, "session s-1 has already stopped")},
		{"unavailable", arena.Errorf(arena.EUNAVAILABLE, "no capacity in europe")},
		{"internal", arena.Internal(errors.New(cause), "creating the session")},
		{"plain error", errors.New(cause)},
		{"unknown code", &arena.Error{Code: "teapot", Message: cause}},
	}
	statuses := map[string]int{
		arena.EINVALID:     http.StatusUnprocessableEntity,
		arena.ENOTFOUND:    http.StatusNotFound,
		arena.ECONFLICT:    http.StatusConflict,
		arena.EUNAVAILABLE: 420,
	}
	operations := []struct {
		method, path, body string
		// codes are the codes the operation documents besides internal.
		codes []string
	}{
		{http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`, []string{arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT, arena.EUNAVAILABLE}},
		{http.MethodGet, "/session", "", []string{arena.EINVALID, arena.EUNAVAILABLE}},
		{http.MethodGet, "/session/s-1", "", []string{arena.EINVALID, arena.ENOTFOUND, arena.EUNAVAILABLE}},
		{http.MethodDelete, "/session/s-1", "", []string{arena.EINVALID, arena.ENOTFOUND, arena.ECONFLICT, arena.EUNAVAILABLE}},
	}
	for _, op := range operations {
		for _, tc := range errs {
			t.Run(op.method+" "+op.path+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				api := newTestAPI(t, &fakeSessions{
					create: func(arena.SessionRequest) (*arena.Session, error) { return nil, tc.err },
					find:   func(string) (*arena.Session, error) { return nil, tc.err },
					list:   func(arena.SessionFilter) ([]*arena.Session, error) { return nil, tc.err },
					stop:   func(string) error { return tc.err },
				})
				code, status := arena.EINTERNAL, http.StatusInternalServerError
				if c := arena.ErrorCode(tc.err); slices.Contains(op.codes, c) {
					code, status = c, statuses[c]
				}
				r := api.do(t, op.method, op.path, op.body)
				e := r.wantError(t, status, code)
				if code == arena.EINTERNAL {
					if strings.Contains(string(r.body), "disk") || strings.Contains(string(r.body), "while") {
						t.Errorf("the body shows the internal cause: %s", r.body)
					}
					if logs := api.waitForLog(t, `"level":"ERROR","msg":"internal error"`); !strings.Contains(logs, e.Identifier) {
						t.Errorf("no internal error logged for request %s:\n%s", e.Identifier, logs)
					}
					return
				}
				if want := arena.ErrorMessage(tc.err); e.Message != want {
					t.Errorf("message = %q, want %q", e.Message, want)
				}
				if want := arena.ErrorViolations(tc.err); len(want) > 0 && !reflect.DeepEqual(e.Violations, want) {
					t.Errorf("violations = %+v, want %+v", e.Violations, want)
				}
			})
		}
	}
	t.Run("the cause is logged", func(t *testing.T) {
		t.Parallel()
		api := newTestAPI(t, &fakeSessions{find: func(string) (*arena.Session, error) {
			return nil, arena.Internal(errors.New(cause), "finding the session")
		}})
		e := api.do(t, http.MethodGet, "/session/s-1", "").wantError(t, http.StatusInternalServerError, arena.EINTERNAL)
		if logs := api.waitForLog(t, cause); !strings.Contains(logs, cause) {
			t.Errorf("the cause of request %s is not logged:\n%s", e.Identifier, logs)
		}
	})
}

// compareGolden compares a JSON body with testdata/name, semantically, or
// rewrites the file with -update.
func compareGolden(tb testing.TB, name string, body []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			tb.Fatal(err)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(pretty, '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	var got, wantV any
	if err := json.Unmarshal(body, &got); err != nil {
		tb.Fatalf("body is not JSON: %v", err)
	}
	if err := json.Unmarshal(want, &wantV); err != nil {
		tb.Fatalf("%s is not JSON: %v", path, err)
	}
	if !reflect.DeepEqual(got, wantV) {
		tb.Errorf("body differs from %s:\n got: %s\nwant: %s", path, body, want)
	}
}

// TestSessionIDInPath: an id that cannot name a session is a 422 that never
// reaches the service.
func TestSessionIDInPath(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		for name, id := range map[string]string{"too long": strings.Repeat("a", arena.MaxIDLength+1), "bad character": "a%2Cb"} {
			t.Run(method+" "+name, func(t *testing.T) {
				api := newTestAPI(t, nil)
				r := api.do(t, method, "/session/"+id, "")
				if r.status != http.StatusUnprocessableEntity {
					t.Fatalf("status = %d, want 422; body: %s", r.status, r.body)
				}
				if calls := api.sessions.Calls(); len(calls) != 0 {
					t.Fatalf("the service was called: %+v", calls)
				}
			})
		}
	}
}

func TestTagExists(t *testing.T) {
	tests := []struct {
		name, path string
		status     int
		// body is the whole answer for 200, the error code otherwise.
		body string
	}{
		{"present", "/tag/europe/my-game/1.0", http.StatusOK,
			`{"exists":true,"status":"present","nodes":{"total":3,"present":2,"pulling":1,"failed":0}}`},
		{"failed with the reason", "/tag/europe/my-game/2.0", http.StatusOK,
			`{"exists":false,"status":"failed","nodes":{"total":3,"present":0,"pulling":0,"failed":3},"error":"pulling image my-game:2.0: unauthorized"}`},
		{"not a tag of the image", "/tag/europe/my-game/3.0", http.StatusOK,
			`{"exists":false,"status":"missing","nodes":{"total":3,"present":0,"pulling":0,"failed":0}}`},
		{"unknown image", "/tag/europe/other-game/1.0", http.StatusNotFound, arena.ENOTFOUND},
		{"unknown region", "/tag/asia/my-game/1.0", http.StatusNotFound, arena.ENOTFOUND},
		{"malformed version", "/tag/europe/my-game/-bad", http.StatusBadRequest, "bad_request"},
		{"overlong image", "/tag/europe/" + strings.Repeat("g", 129) + "/1.0", http.StatusBadRequest, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodGet, tt.path, "")
			if tt.status != http.StatusOK {
				r.wantError(t, tt.status, tt.body)
				if tt.status == http.StatusBadRequest && len(api.sessions.Calls()) != 0 {
					t.Fatalf("a malformed lookup reached the service: %+v", api.sessions.Calls())
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; body: %s", r.status, r.body)
			}
			if got := strings.TrimSpace(string(r.body)); got != tt.body {
				t.Fatalf("body %s, want %s", got, tt.body)
			}
			if calls := api.sessions.Calls(); len(calls) != 1 || calls[0].orgID != testOrg {
				t.Fatalf("calls %+v", calls)
			}
		})
	}
}

func TestAvailableLocations(t *testing.T) {
	api := newTestAPI(t, nil)
	r := api.do(t, http.MethodGet, "/available-location/my-game", "")
	if r.status != http.StatusOK {
		t.Fatalf("status = %d; body: %s", r.status, r.body)
	}
	want := `{"locations":[{"id":"europe-ams1","ips":["203.0.113.7","203.0.113.8"]},{"id":"us-iad1","ips":[]}]}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Fatalf("body %s, want %s", got, want)
	}
	api.do(t, http.MethodGet, "/available-location/other-game", "").wantError(t, http.StatusNotFound, arena.ENOTFOUND)
	if calls := api.sessions.Calls(); len(calls) != 2 || calls[0].orgID != testOrg {
		t.Fatalf("calls %+v", calls)
	}
}

// TestCreateBehindRetryAfter: a session refused because every node is too
// far behind with its starts is answered 420, the contract's transient "no
// capacity", with when to try again.
func TestCreateBehindRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		want       string
	}{
		{"nodes behind with their starts", 12 * time.Second, "12"},
		{"a part of a second is a second", 1500 * time.Millisecond, "2"},
		{"no time known", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newTestAPI(t, &fakeSessions{create: func(arena.SessionRequest) (*arena.Session, error) {
				return nil, &arena.Error{Code: arena.EUNAVAILABLE, RetryAfter: tc.retryAfter, Message: "every node of \"europe\" with room for the session is too far behind with starting containers to start it in time"}
			}})
			r := api.do(t, http.MethodPost, "/session", `{"location":"europe","image":"my-game"}`)
			r.wantError(t, 420, arena.EUNAVAILABLE)
			if got := r.header.Get("Retry-After"); got != tc.want {
				t.Errorf("Retry-After = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestIsSessionRead: what a follower may answer from the store itself.
func TestIsSessionRead(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{http.MethodGet, "/session", true},
		{http.MethodGet, "/session/match-1", true},
		{http.MethodHead, "/session/match-1", true},
		{http.MethodPost, "/session", false},
		{http.MethodDelete, "/session/match-1", false},
		{http.MethodGet, "/session/", false},
		{http.MethodGet, "/session/player/join", false},
		{http.MethodGet, "/sessions", false},
		{http.MethodGet, "/admin/v1/nodes", false},
		{http.MethodGet, "/available-location/echo", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if got := arenahttp.IsSessionRead(r); got != tt.want {
				t.Fatalf("IsSessionRead = %v, want %v", got, tt.want)
			}
		})
	}
}
