package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
)

const token = "test-token"

// answer is what a test server answers every request with.
type answer struct {
	status int
	header map[string]string
	body   string
}

// request is what a test server was asked.
type request struct {
	method, uri, contentType, authorization, body string
}

// serve starts a server on loopback that answers every request with a and
// sends what it was asked on the channel it returns.
func serve(tb testing.TB, a answer) (*httptest.Server, <-chan request) {
	tb.Helper()
	asked := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		asked <- request{r.Method, r.RequestURI, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(body)}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	tb.Cleanup(srv.Close)
	return srv, asked
}

// errorBody is the contract's error body, as Arena writes it.
func errorBody(status int, code, message string, violations ...arena.Violation) string {
	if violations == nil {
		violations = []arena.Violation{}
	}
	// Strings, numbers and violations: it marshals.
	b, _ := json.Marshal(map[string]any{
		"statusCode": status, "code": code, "message": message, "details": "what to do", "path": "/session/x",
		"identifier": "req-1", "timestamp": "2026-11-01T10:00:00.000Z", "violations": violations,
	})
	return string(b)
}

// drain reads and closes a stream that call returned.
func drain(rc io.ReadCloser, err error) error {
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// TestErrorAnswers: an answer other than 2xx is an error that carries its
// status and unwraps to the body's code, message and violations, and
// Retry-After, for a call and for a stream alike.
func TestErrorAnswers(t *testing.T) {
	tooMany := []arena.Violation{{Field: "ttl", Description: "must be at most 30 days"}, {Field: "env.1X", Description: "is not a name"}}
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		code       string
		message    string
		text       string // of the error
		retry      time.Duration
		violations []arena.Violation
	}{
		{name: "unauthorized", status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="arena"`},
			body: errorBody(401, arena.EUNAUTHORIZED, "the token is revoked"),
			code: arena.EUNAUTHORIZED, message: "the token is revoked", text: "401 Unauthorized: the token is revoked"},
		{name: "forbidden", status: 403,
			body: errorBody(403, arena.EFORBIDDEN, "the token lacks session:start"),
			code: arena.EFORBIDDEN, message: "the token lacks session:start", text: "403 Forbidden: the token lacks session:start"},
		{name: "not found", status: 404,
			body: errorBody(404, arena.ENOTFOUND, `session "x" not found`),
			code: arena.ENOTFOUND, message: `session "x" not found`, text: `404 Not Found: session "x" not found`},
		{name: "conflict", status: 409,
			body: errorBody(409, arena.ECONFLICT, "the session is stopping already"),
			code: arena.ECONFLICT, message: "the session is stopping already", text: "409 Conflict: the session is stopping already"},
		{name: "quota", status: 402,
			body: errorBody(402, arena.EQUOTA, "the organisation runs 2 of 2 sessions"),
			code: arena.EQUOTA, message: "the organisation runs 2 of 2 sessions", text: "402 Payment Required: the organisation runs 2 of 2 sessions"},
		{name: "no capacity, with Retry-After", status: 420, header: map[string]string{"Retry-After": "3"},
			body: errorBody(420, arena.EUNAVAILABLE, "no capacity in local"),
			code: arena.EUNAVAILABLE, message: "no capacity in local", text: "420 status code 420: no capacity in local", retry: 3 * time.Second},
		{name: "no capacity, without Retry-After", status: 420,
			body: errorBody(420, arena.EUNAVAILABLE, "no capacity in local"),
			code: arena.EUNAVAILABLE, message: "no capacity in local", text: "420 status code 420: no capacity in local"},
		{name: "invalid, with violations", status: 422,
			body: errorBody(422, arena.EINVALID, "the request is invalid", tooMany...),
			code: arena.EINVALID, message: "the request is invalid", text: "422 Unprocessable Entity: the request is invalid", violations: tooMany},
		{name: "starting", status: 503, header: map[string]string{"Retry-After": "1"},
			body: errorBody(503, arena.ENOTREADY, "Arena is starting"),
			code: arena.ENOTREADY, message: "Arena is starting", text: "503 Service Unavailable: Arena is starting", retry: time.Second},
		{name: "a proxy's answer, not Arena's", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body: "<html>bad gateway</html>",
			code: "", message: "", text: "502 Bad Gateway"},
	}
	calls := []struct {
		name string
		call func(context.Context, *client.Client) error
	}{
		{"a call", func(ctx context.Context, c *client.Client) error {
			_, err := c.Sessions().Get(ctx, "x", client.GetOptions{})
			return err
		}},
		{"a call without an answer body", func(ctx context.Context, c *client.Client) error { return c.Sessions().Stop(ctx, "x") }},
		{"a stream", func(ctx context.Context, c *client.Client) error { return drain(c.Sessions().Logs(ctx, "x")) }},
	}
	for _, tt := range tests {
		for _, call := range calls {
			t.Run(tt.name+", "+call.name, func(t *testing.T) {
				srv, _ := serve(t, answer{status: tt.status, header: tt.header, body: tt.body})
				err := call.call(context.Background(), client.New(srv.URL, token))
				var ae *client.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("error %v (%T), want an *APIError", err, err)
				}
				if ae.StatusCode != tt.status || err.Error() != tt.text {
					t.Errorf("status %d, text %q; want %d, %q", ae.StatusCode, err.Error(), tt.status, tt.text)
				}
				var e *arena.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v does not unwrap to an *arena.Error", err)
				}
				if got := arena.ErrorCode(err); got != tt.code {
					t.Errorf("code %q, want %q", got, tt.code)
				}
				if got := e.Message; got != tt.message {
					t.Errorf("message %q, want %q", got, tt.message)
				}
				if e.RetryAfter != tt.retry {
					t.Errorf("RetryAfter %s, want %s", e.RetryAfter, tt.retry)
				}
				if got := arena.ErrorViolations(err); !slices.Equal(got, tt.violations) {
					t.Errorf("violations %v, want %v", got, tt.violations)
				}
			})
		}
	}
}

// TestUnreachable: a control plane that is not there is an error saying
// where it was looked for and why it did not answer.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	tests := []struct {
		name string
		call func(context.Context, *client.Client) error
	}{
		{"a call", func(ctx context.Context, c *client.Client) error {
			_, err := c.Sessions().List(ctx, client.ListOptions{})
			return err
		}},
		{"an admin call", func(ctx context.Context, c *client.Client) error {
			_, err := c.Nodes().List(ctx)
			return err
		}},
		{"a stream", func(ctx context.Context, c *client.Client) error { return drain(c.Sessions().FollowLogs(ctx, "x")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A trailing slash is no part of the address.
			err := tt.call(context.Background(), client.New(base+"/", token))
			want := "cannot reach Arena at " + base + ": connection refused"
			var ue *client.UnreachableError
			if !errors.As(err, &ue) || ue.URL != base || err.Error() != want {
				t.Fatalf("error %q (%T), want %q", err, err, want)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("%v is not ECONNREFUSED", err)
			}
		})
	}
}

// deadlineTransport records whether each request's context has a
// deadline, and how far off it is, then sends it.
type deadlineTransport struct {
	asked chan<- time.Duration // -1 for none
}

func (d deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	left := time.Duration(-1)
	if dl, ok := req.Context().Deadline(); ok {
		left = time.Until(dl)
	}
	d.asked <- left
	return http.DefaultTransport.RoundTrip(req)
}

// TestDeadlines: every call has the client's timeout, but a stream, which
// lasts as long as its reader reads.
func TestDeadlines(t *testing.T) {
	tests := []struct {
		name    string
		timeout []client.Option
		call    func(context.Context, *client.Client) error
		min     time.Duration // of the deadline left; -1 for none
		max     time.Duration
	}{
		{"a call has the default", nil, func(ctx context.Context, c *client.Client) error {
			_, err := c.Admin().WhoAmI(ctx)
			return err
		}, client.DefaultTimeout - 5*time.Second, client.DefaultTimeout},
		{"a call has the client's", []client.Option{client.WithTimeout(time.Minute)}, func(ctx context.Context, c *client.Client) error {
			_, err := c.Sessions().Create(ctx, client.SessionRequest{Location: "local", Image: "echo"})
			return err
		}, time.Minute - 5*time.Second, time.Minute},
		{"a call of a client without a timeout has none", []client.Option{client.WithTimeout(0)}, func(ctx context.Context, c *client.Client) error {
			_, err := c.Sessions().List(ctx, client.ListOptions{})
			return err
		}, -1, -1},
		{"a CSV answer read whole has one", nil, func(ctx context.Context, c *client.Client) error {
			_, err := c.Sessions().UsageCSV(ctx, "", "")
			return err
		}, client.DefaultTimeout - 5*time.Second, client.DefaultTimeout},
		{"a log has none", nil, func(ctx context.Context, c *client.Client) error { return drain(c.Sessions().Logs(ctx, "x")) }, -1, -1},
		{"a followed log has none", nil, func(ctx context.Context, c *client.Client) error { return drain(c.Sessions().FollowLogs(ctx, "x")) }, -1, -1},
		{"a download has none", nil, func(ctx context.Context, c *client.Client) error {
			return drain(c.Sessions().Artifact(ctx, "x", "/out"))
		}, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, answer{status: 200, body: "{}"})
			asked := make(chan time.Duration, 1)
			opts := append([]client.Option{client.WithHTTPClient(&http.Client{Transport: deadlineTransport{asked}})}, tt.timeout...)
			if err := tt.call(context.Background(), client.New(srv.URL, token, opts...)); err != nil {
				t.Fatal(err)
			}
			if left := <-asked; left < tt.min || left > tt.max {
				t.Fatalf("deadline in %s, want %s to %s (-1: none)", left, tt.min, tt.max)
			}
		})
	}

	t.Run("a call gives up at its deadline", func(t *testing.T) {
		// A control plane that takes the request and never answers.
		hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		defer hung.Close()
		_, err := client.New(hung.URL, token, client.WithTimeout(50*time.Millisecond)).Sessions().List(context.Background(), client.ListOptions{})
		var ue *client.UnreachableError
		if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) {
			t.Fatalf("error %v (%T), want the deadline's", err, err)
		}
	})
}

// TestRequests: each call asks what the API document says its operation
// takes, with the token, and decodes the answer.
func TestRequests(t *testing.T) {
	ctx := context.Background()
	two := 2
	tests := []struct {
		name   string
		call   func(*client.Client) (any, error)
		method string
		uri    string
		body   string // JSON sent, "" for none
		answer answer
		want   string // what the call returned, as fmt's %+v shows it
	}{
		{"create a session", func(c *client.Client) (any, error) {
			return c.Sessions().Create(ctx, client.SessionRequest{Location: "local", Image: "echo", ID: "m-1", Version: "v2", TTL: 90,
				Env: map[string]string{"A": "1"}, Args: []string{"--x"}, Labels: map[string]string{"k": "v"}, Restart: true, ExternalID: "match-1"})
		}, "POST", "/session",
			`{"id":"m-1","location":"local","image":"echo","version":"v2","env":{"A":"1"},"args":["--x"],"labels":{"k":"v"},"ttl":90,"restart":true,"external_id":"match-1"}`,
			answer{201, nil, `{"id":"m-1","host":"127.0.0.1","ports":[{"type":"udp","container":7777,"host":32768}]}`},
			"m-1 127.0.0.1 [{Protocol:udp Container:7777 Host:32768}]"},
		{"create a session with only what it needs", func(c *client.Client) (any, error) {
			s, err := c.Sessions().Create(ctx, client.SessionRequest{Location: "local", Image: "echo"})
			return s.ID, err
		}, "POST", "/session", `{"location":"local","image":"echo"}`, answer{201, nil, `{"id":"gen"}`}, "gen"},
		{"list the active sessions", func(c *client.Client) (any, error) {
			l, err := c.Sessions().List(ctx, client.ListOptions{})
			return l.Sessions, err
		}, "GET", "/session", "", answer{200, nil, `{"sessions":[{"id":"a","playerCount":1}]}`}, "a 1"},
		{"list by every filter", func(c *client.Client) (any, error) {
			_, err := c.Sessions().List(ctx, client.ListOptions{All: true, Location: "ams", Image: "echo", Tag: "v1", Host: "10.0.0.1",
				ExternalID: "match-1", Labels: map[string]string{"mode": "duel"}, PlayersFewer: &two, PlayersMore: &two})
			return nil, err
		}, "GET", "/session?all=true&external_id=match-1&filter%5Bmode%5D=duel&host=10.0.0.1&image=echo&location=ams&playerCount%5Bgt%5D=2&playerCount%5Blt%5D=2&tag=v1",
			"", answer{200, nil, `{"sessions":[]}`}, "<nil>"},
		{"get an active session", func(c *client.Client) (any, error) {
			s, err := c.Sessions().Get(ctx, "a/b", client.GetOptions{})
			return s.ID, err
		}, "GET", "/session/a%2Fb", "", answer{200, nil, `{"id":"a/b"}`}, "a/b"},
		{"get a stopped session too", func(c *client.Client) (any, error) {
			s, err := c.Sessions().Get(ctx, "a", client.GetOptions{All: true})
			return s.Status, err
		}, "GET", "/session/a?all=true", "", answer{200, nil, `{"id":"a","status":"exited"}`}, "exited"},
		{"stop a session", func(c *client.Client) (any, error) { return nil, c.Sessions().Stop(ctx, "a") },
			"DELETE", "/session/a", "", answer{204, nil, ""}, "<nil>"},
		{"join", func(c *client.Client) (any, error) { return c.Sessions().Join(ctx, "a", []string{"p1", "p2"}) },
			"PUT", "/session/player/join", `{"session":"a","players":["p1","p2"]}`, answer{200, nil, `{"count":2,"players":["p1","p2"]}`}, "2 [p1 p2]"},
		{"leave a session", func(c *client.Client) (any, error) { return c.Sessions().Leave(ctx, "a", []string{"p1"}) },
			"DELETE", "/session/player/leave", `{"session":"a","players":["p1"]}`, answer{200, nil, `{"count":1,"players":["p1"]}`}, "1 [p1]"},
		{"leave whichever session", func(c *client.Client) (any, error) {
			p, err := c.Sessions().Leave(ctx, "", []string{"p1"})
			return p.Count, err
		}, "DELETE", "/session/player/leave", `{"players":["p1"]}`, answer{200, nil, `{"count":0,"players":["p1"]}`}, "0"},
		{"logs", func(c *client.Client) (any, error) { return readAll(c.Sessions().Logs(ctx, "a b")) },
			"GET", "/logs?id=a+b", "", answer{200, nil, "line 1\n"}, "line 1\n"},
		{"followed logs", func(c *client.Client) (any, error) { return readAll(c.Sessions().FollowLogs(ctx, "a")) },
			"GET", "/logs?follow=true&id=a", "", answer{200, nil, "line 1\n"}, "line 1\n"},
		{"an artifact", func(c *client.Client) (any, error) { return readAll(c.Sessions().Artifact(ctx, "a", "/out/x")) },
			"GET", "/artifacts?path=%2Fout%2Fx&session=a", "", answer{200, nil, "tar"}, "tar"},
		{"usage of the default period", func(c *client.Client) (any, error) {
			u, err := c.Sessions().Usage(ctx, "", "")
			return u.Currency, err
		}, "GET", "/usage", "", answer{200, nil, `{"currency":"EUR"}`}, "EUR"},
		{"usage of a period", func(c *client.Client) (any, error) {
			u, err := c.Sessions().Usage(ctx, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
			return u.Lines, err
		}, "GET", "/usage?from=2026-11-01T00%3A00%3A00Z&to=2026-12-01T00%3A00%3A00Z", "",
			answer{200, nil, `{"lines":[{"application":"echo","location":"local","profile":{"milliCpu":100,"memoryMb":64},"sessions":1,"seconds":3,"cost":0.5,"priced":true,"warmPoolSessions":2,"warmPoolSeconds":60}]}`},
			"[{Application:echo Location:local Profile:{MilliCPU:100 MemoryMB:64} Sessions:1 Seconds:3 Cost:0.5 Priced:true WarmPoolSessions:2 WarmPoolSeconds:60}]"},
		{"usage as CSV", func(c *client.Client) (any, error) {
			b, err := c.Sessions().UsageCSV(ctx, "2026-11-01T00:00:00Z", "")
			return string(b), err
		}, "GET", "/usage?format=csv&from=2026-11-01T00%3A00%3A00Z", "", answer{200, nil, "echo,local\n"}, "echo,local\n"},
		{"available locations", func(c *client.Client) (any, error) {
			l, err := c.Sessions().AvailableLocations(ctx, "echo")
			return l.Locations, err
		}, "GET", "/available-location/echo", "", answer{200, nil, `{"locations":[{"id":"local","ips":["127.0.0.1"]}]}`}, "[{ID:local IPs:[127.0.0.1]}]"},
		{"a tag", func(c *client.Client) (any, error) {
			s, err := c.Sessions().Tag(ctx, "europe", "echo", "1.0")
			return spaced(s.Exists, s.Status, s.Nodes, s.Error), err
		}, "GET", "/tag/europe/echo/1.0", "", answer{200, nil, `{"exists":false,"status":"failed","nodes":{"total":2,"present":0,"pulling":1,"failed":1},"error":"denied"}`},
			"false failed {2 0 1 1} denied"},

		{"who am I", func(c *client.Client) (any, error) {
			w, err := c.Admin().WhoAmI(ctx)
			return spaced(w.Token.Scopes, w.Organization.ID), err
		}, "GET", "/admin/v1/whoami", "", answer{200, nil, `{"token":{"scopes":["admin"]},"organization":{"id":"dev"}}`}, "[admin] dev"},
		{"list organisations", func(c *client.Client) (any, error) {
			l, err := c.Admin().ListOrgs(ctx)
			if err != nil {
				return nil, err
			}
			return l.Organizations[0].Quota, nil
		}, "GET", "/admin/v1/orgs", "", answer{200, nil, `{"organizations":[{"id":"dev","quota":{"maxSessions":2,"maxMilliCpu":1500,"source":"api"}}]}`},
			"{MaxSessions:2 MaxMilliCPU:1500 Source:api}"},
		{"get an organisation", func(c *client.Client) (any, error) {
			o, err := c.Admin().GetOrg(ctx, "studio a")
			return o.Active, err
		}, "GET", "/admin/v1/orgs/studio%20a", "", answer{200, nil, `{"id":"studio a","active":{"sessions":1,"milliCpu":100}}`}, "{Sessions:1 MilliCPU:100}"},
		{"create an organisation", func(c *client.Client) (any, error) {
			o, err := c.Admin().CreateOrg(ctx, client.OrganizationRequest{ID: "s", Name: "Studio", Environment: "sandbox"})
			return o.Environment, err
		}, "POST", "/admin/v1/orgs", `{"id":"s","name":"Studio","environment":"sandbox"}`, answer{201, nil, `{"id":"s","environment":"sandbox"}`}, "sandbox"},
		{"set a quota", func(c *client.Client) (any, error) {
			o, err := c.Admin().SetQuota(ctx, "s", client.QuotaRequest{MaxSessions: 3})
			return o.Quota.MaxSessions, err
		}, "PUT", "/admin/v1/orgs/s/quota", `{"maxSessions":3,"maxMilliCpu":0}`, answer{200, nil, `{"quota":{"maxSessions":3}}`}, "3"},
		{"list users", func(c *client.Client) (any, error) {
			l, err := c.Admin().ListUsers(ctx, "s")
			return l.Users, err
		}, "GET", "/admin/v1/orgs/s/users", "", answer{200, nil, `{"users":[{"id":"u1","email":"a@b","name":"A","createdAt":"t"}]}`}, "u1 a@b A t"},
		{"create a user", func(c *client.Client) (any, error) {
			u, err := c.Admin().CreateUser(ctx, "s", client.UserRequest{Email: "a@b", Name: "A"})
			return u.ID, err
		}, "POST", "/admin/v1/orgs/s/users", `{"email":"a@b","name":"A"}`, answer{201, nil, `{"id":"u1"}`}, "u1"},
		{"delete a user", func(c *client.Client) (any, error) { return nil, c.Admin().DeleteUser(ctx, "s", "u1") },
			"DELETE", "/admin/v1/orgs/s/users/u1", "", answer{204, nil, ""}, "<nil>"},
		{"list tokens", func(c *client.Client) (any, error) {
			l, err := c.Admin().ListTokens(ctx, "s")
			return l.Tokens, err
		}, "GET", "/admin/v1/orgs/s/tokens", "", answer{200, nil, `{"tokens":[{"id":"t1","orgId":"s","name":"mm","scopes":["logs"],"createdAt":"c","revokedAt":"r","rateLimit":1.5,"rateBurst":3}]}`},
			"[{ID:t1 OrgID:s Name:mm UserID: Scopes:[logs] CreatedAt:c ExpiresAt: RevokedAt:r RateLimit:1.5 RateBurst:3}]"},
		{"create a token", func(c *client.Client) (any, error) {
			tc, err := c.Admin().CreateToken(ctx, "s", client.TokenRequest{Name: "mm", Scopes: []string{"logs"}, ExpiresInSeconds: 60, UserID: "u1", RateLimit: 2, RateBurst: 4})
			return tc.Token.ID + " " + tc.Secret, err
		}, "POST", "/admin/v1/orgs/s/tokens", `{"name":"mm","userId":"u1","scopes":["logs"],"expiresInSeconds":60,"rateLimit":2,"rateBurst":4}`,
			answer{201, nil, `{"secret":"arena_x","token":{"id":"t1"}}`}, "t1 arena_x"},
		{"revoke a token", func(c *client.Client) (any, error) { return nil, c.Admin().RevokeToken(ctx, "s", "t1") },
			"DELETE", "/admin/v1/orgs/s/tokens/t1", "", answer{204, nil, ""}, "<nil>"},
		{"list applications", func(c *client.Client) (any, error) {
			l, err := c.Admin().ListApplications(ctx, "s")
			if err != nil {
				return nil, err
			}
			return spaced(l.Applications[0].Name, l.Applications[0].Limits, l.Applications[0].Pull["v1"].Status), nil
		}, "GET", "/admin/v1/orgs/s/applications", "", answer{200, nil, `{"applications":[{"name":"echo","limits":{"milliCpu":200,"memoryMb":128},"pull":{"v1":{"status":"present"}}}]}`},
			"echo &{200 128} present"},
		{"get an application", func(c *client.Client) (any, error) {
			a, err := c.Admin().GetApplication(ctx, "s", "echo")
			return spaced(a.Tags, a.Ports, a.Registry), err
		}, "GET", "/admin/v1/orgs/s/applications/echo", "",
			answer{200, nil, `{"name":"echo","tags":[{"name":"1.10","priority":1}],"ports":[{"container":7777,"protocol":"udp"}],"registry":{"username":"ci","passwordSet":true}}`},
			"[{1.10 1}] [{7777 udp}] &{ci true}"},
		{"create an application from a file's map", func(c *client.Client) (any, error) {
			a, err := c.Admin().CreateApplication(ctx, "s", map[string]any{"name": "echo", "colour": "red"})
			return a.Name, err
		}, "POST", "/admin/v1/orgs/s/applications", `{"colour":"red","name":"echo"}`, answer{201, nil, `{"name":"echo"}`}, "echo"},
		{"update an application", func(c *client.Client) (any, error) {
			a, err := c.Admin().UpdateApplication(ctx, "s", "echo", json.RawMessage(`{"name":"echo","registry":null}`))
			return a.Name, err
		}, "PUT", "/admin/v1/orgs/s/applications/echo", `{"name":"echo","registry":null}`, answer{200, nil, `{"name":"echo"}`}, "echo"},
		{"delete an application", func(c *client.Client) (any, error) { return nil, c.Admin().DeleteApplication(ctx, "s", "echo") },
			"DELETE", "/admin/v1/orgs/s/applications/echo", "", answer{204, nil, ""}, "<nil>"},
		{"list webhooks", func(c *client.Client) (any, error) {
			l, err := c.Admin().ListWebhooks(ctx, "s")
			return l.Webhooks, err
		}, "GET", "/admin/v1/orgs/s/webhooks", "", answer{200, nil, `{"webhooks":[{"id":"w1","url":"https://x","events":["session.started"],"createdAt":"c"}]}`},
			"[{ID:w1 URL:https://x Events:[session.started] CreatedAt:c}]"},
		{"create a webhook", func(c *client.Client) (any, error) {
			w, err := c.Admin().CreateWebhook(ctx, "s", client.WebhookRequest{URL: "https://x", Events: []string{"session.stopped"}})
			return w.Webhook.ID + " " + w.Secret, err
		}, "POST", "/admin/v1/orgs/s/webhooks", `{"url":"https://x","events":["session.stopped"]}`, answer{201, nil, `{"webhook":{"id":"w1"},"secret":"whsec_x"}`}, "w1 whsec_x"},
		{"delete a webhook", func(c *client.Client) (any, error) { return nil, c.Admin().DeleteWebhook(ctx, "s", "w1") },
			"DELETE", "/admin/v1/orgs/s/webhooks/w1", "", answer{204, nil, ""}, "<nil>"},

		{"list nodes", func(c *client.Client) (any, error) {
			l, err := c.Nodes().List(ctx)
			if err != nil {
				return nil, err
			}
			n := l.Nodes[0]
			return spaced(n.ID, n.PublicIP, n.Capacity, n.Ports, n.JoinedAt, n.Starts.ExpectedWaitMs), nil
		}, "GET", "/admin/v1/nodes", "",
			answer{200, nil, `{"nodes":[{"id":"n1","publicIp":"10.0.0.1","capacity":{"milliCpu":4000,"memoryMb":4096},"ports":{"min":1,"max":9,"free":8},"joinedAt":"2026-11-01T10:00:00Z","starts":{"expectedWaitMs":250}}]}`},
			"n1 10.0.0.1 {4000 4096} {1 9 8} 2026-11-01T10:00:00Z 250"},
		{"drain a node", func(c *client.Client) (any, error) {
			n, err := c.Nodes().Drain(ctx, "n/1")
			return n.Draining, err
		}, "POST", "/admin/v1/nodes/n%2F1/drain", "", answer{200, nil, `{"id":"n/1","draining":true}`}, "true"},
		{"undrain a node", func(c *client.Client) (any, error) {
			n, err := c.Nodes().Undrain(ctx, "n1")
			return n.State, err
		}, "POST", "/admin/v1/nodes/n1/undrain", "", answer{200, nil, `{"id":"n1","state":"ready"}`}, "ready"},
		{"remove a node", func(c *client.Client) (any, error) { return nil, c.Nodes().Remove(ctx, "n1") },
			"DELETE", "/admin/v1/nodes/n1", "", answer{204, nil, ""}, "<nil>"},

		{"the scaler's status", func(c *client.Client) (any, error) {
			st, err := c.Nodes().Scaler(ctx)
			if err != nil {
				return nil, err
			}
			p := st.Policies[0]
			return spaced(st.CostPerHour, p.Region, p.Source, p.Offers[0].Provider, p.Buffer.Sessions, st.Machines[0].Node, st.Decisions[0].Kind), nil
		}, "GET", "/admin/v1/scaler", "",
			answer{200, nil, `{"policies":[{"region":"eu","source":"config","offers":[{"provider":"hz"}],"buffer":{"sessions":2}}],` +
				`"machines":[{"node":"cloud-1"}],"decisions":[{"kind":"add"}],"costPerHour":0.5}`},
			"0.5 eu config hz 2 cloud-1 add"},
		{"put a scaling policy", func(c *client.Client) (any, error) {
			idle, none := 120.0, 0.0
			p, err := c.Nodes().PutScalingPolicy(ctx, "eu/west", client.ScalingPolicyInput{
				Offers: []client.ScalingOffer{{Provider: "hz", Region: "fsn1", Location: "eu", InstanceType: "cx22", Image: "arena-node",
					CostPerHour: 0.01, Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 4096}}},
				Buffer:   client.ScalingBuffer{Sessions: 2, Org: "studio", Application: "echo"},
				MinNodes: 1, MaxNodes: 4, MaxCostPerHour: 0.5, IdleTimeoutSeconds: &idle, ScaleUpCooldownSeconds: &none})
			if err != nil {
				return nil, err
			}
			return spaced(p.Region, p.Source, p.Offers[0].InstanceType, p.IdleTimeoutSeconds, p.JoinTimeoutSeconds, len(p.Raw()) > 0), nil
		}, "PUT", "/admin/v1/scaler/policies/eu%2Fwest",
			`{"offers":[{"provider":"hz","region":"fsn1","location":"eu","instanceType":"cx22","image":"arena-node","costPerHour":0.01,"capacity":{"milliCpu":2000,"memoryMb":4096}}],` +
				`"buffer":{"sessions":2,"org":"studio","application":"echo"},"minNodes":1,"maxNodes":4,"maxCostPerHour":0.5,"scaleUpCooldownSeconds":0,"idleTimeoutSeconds":120}`,
			answer{200, nil, `{"region":"eu/west","source":"api","offers":[{"provider":"hz","instanceType":"cx22"}],"idleTimeoutSeconds":120,"joinTimeoutSeconds":600}`},
			"eu/west api cx22 120 600 true"},
		{"put a scaling policy with only what it needs", func(c *client.Client) (any, error) {
			p, err := c.Nodes().PutScalingPolicy(ctx, "eu", client.ScalingPolicyInput{MaxNodes: 2,
				Offers: []client.ScalingOffer{{Provider: "hz", Location: "eu", CostPerHour: 0.01, Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 4096}}}})
			return p.Region, err
		}, "PUT", "/admin/v1/scaler/policies/eu",
			`{"offers":[{"provider":"hz","location":"eu","costPerHour":0.01,"capacity":{"milliCpu":2000,"memoryMb":4096}}],"maxNodes":2}`,
			answer{200, nil, `{"region":"eu"}`}, "eu"},
		{"delete a scaling policy", func(c *client.Client) (any, error) { return nil, c.Nodes().DeleteScalingPolicy(ctx, "eu west") },
			"DELETE", "/admin/v1/scaler/policies/eu%20west", "", answer{204, nil, ""}, "<nil>"},
		{"list cloud providers", func(c *client.Client) (any, error) {
			l, err := c.Nodes().CloudProviders(ctx)
			if err != nil {
				return nil, err
			}
			p := l.Providers[0]
			return spaced(len(l.Providers), p.Name, p.Type, p.Settings, p.Credentials, p.Source, p.CreatedAt, p.UpdatedAt), nil
		}, "GET", "/admin/v1/scaler/providers", "",
			answer{200, nil, `{"providers":[{"name":"hz","type":"hetzner","settings":{"sshKeys":"ops"},"credentials":["token"],"source":"api","createdAt":"c","updatedAt":"u"}]}`},
			"1 hz hetzner map[sshKeys:ops] [token] api c u"},
		{"put a cloud provider", func(c *client.Client) (any, error) {
			p, err := c.Nodes().PutCloudProvider(ctx, "hz/1", client.CloudProviderInput{Type: "hetzner",
				Settings: map[string]string{"sshKeys": "ops"}, Credentials: map[string]string{"token": "s3cret"}})
			return spaced(p.Name, p.Credentials, p.Settings, len(p.Raw()) > 0), err
		}, "PUT", "/admin/v1/scaler/providers/hz%2F1", `{"type":"hetzner","settings":{"sshKeys":"ops"},"credentials":{"token":"s3cret"}}`,
			answer{200, nil, `{"name":"hz/1","type":"hetzner","settings":{"sshKeys":"ops"},"credentials":["token"],"source":"api"}`},
			"hz/1 [token] map[sshKeys:ops] true"},
		{"put a cloud provider keeping its credentials", func(c *client.Client) (any, error) {
			p, err := c.Nodes().PutCloudProvider(ctx, "hz", client.CloudProviderInput{Type: "hetzner"})
			return p.Credentials, err
		}, "PUT", "/admin/v1/scaler/providers/hz", `{"type":"hetzner"}`,
			answer{200, nil, `{"name":"hz","type":"hetzner","settings":{},"credentials":["token"]}`}, "[token]"},
		{"delete a cloud provider", func(c *client.Client) (any, error) { return nil, c.Nodes().DeleteCloudProvider(ctx, "hz 1") },
			"DELETE", "/admin/v1/scaler/providers/hz%201", "", answer{204, nil, ""}, "<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, asked := serve(t, tt.answer)
			got, err := tt.call(client.New(srv.URL, token))
			if err != nil {
				t.Fatal(err)
			}
			r := <-asked
			if r.method != tt.method || r.uri != tt.uri || r.body != tt.body {
				t.Errorf("asked %s %s %s\nwant  %s %s %s", r.method, r.uri, r.body, tt.method, tt.uri, tt.body)
			}
			if wantType := map[bool]string{true: "application/json", false: ""}[tt.body != ""]; r.contentType != wantType {
				t.Errorf("Content-Type %q, want %q", r.contentType, wantType)
			}
			if r.authorization != "Bearer "+token {
				t.Errorf("Authorization %q", r.authorization)
			}
			if s := shown(got); s != tt.want {
				t.Errorf("answered %s\nwant     %s", s, tt.want)
			}
		})
	}
}

// spaced is fmt.Sprintln without the newline: operands apart by spaces.
func spaced(v ...any) string { return strings.TrimSuffix(fmt.Sprintln(v...), "\n") }

// readAll reads and closes a stream that a call returned.
func readAll(rc io.ReadCloser, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

// shown is a call's result as the tests compare it: fmt's %+v, but for the
// bodies answers keep, which TestRawBody is about.
func shown(v any) string {
	switch x := v.(type) {
	case client.CreatedSession:
		return fmt.Sprintf("%s %s %+v", x.ID, x.Host, x.Ports)
	case client.Players:
		return fmt.Sprintf("%d %v", x.Count, x.Players)
	case []client.Session:
		var parts []string
		for _, s := range x {
			parts = append(parts, fmt.Sprintf("%s %d", s.ID, s.PlayerCount))
		}
		return strings.Join(parts, ", ")
	case []client.User:
		var parts []string
		for _, u := range x {
			parts = append(parts, strings.Join([]string{u.ID, u.Email, u.Name, u.CreatedAt}, " "))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%+v", v)
}

// TestRawBody: a whole answer keeps the JSON it came as, byte for byte, so
// that it can be shown as Arena wrote it; a value within one keeps none.
func TestRawBody(t *testing.T) {
	// Keys in Arena's order, and one this client does not know of.
	body := `{"sessions":[{"id":"a","image":"echo","tag":"v1","location":"local","host":"127.0.0.1","created":1767261600000,` +
		`"port":{"7777/udp":32768},"status":"running","labels":{},"external_id":"","playerCount":0,"colour":"red"}]}`
	srv, _ := serve(t, answer{status: 200, body: body})
	l, err := client.New(srv.URL, token).Sessions().List(context.Background(), client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(l.Raw()) != body {
		t.Fatalf("Raw() = %s\nwant    %s", l.Raw(), body)
	}
	if len(l.Sessions) != 1 || l.Sessions[0].Raw() != nil {
		t.Fatalf("a session of the list: %+v", l.Sessions)
	}
	if s := l.Sessions[0]; s.Port["7777/udp"] != 32768 || s.Created != 1767261600000 || s.Status != "running" {
		t.Fatalf("decoded %+v", s)
	}
}
