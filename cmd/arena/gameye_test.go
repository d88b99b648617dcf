package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/http/apitest"
	"github.com/arena-hq/arena/internal/gameyeclient/current"
	v121 "github.com/arena-hq/arena/internal/gameyeclient/v121"
	"github.com/arena-hq/arena/registry/registrytest"
)

// checkingTransport passes every response through Arena's OpenAPI
// document, so that what the generated clients and Arena's own read is
// proven documented.
type checkingTransport struct {
	tb      testing.TB
	checker *apitest.Checker
}

func (c checkingTransport) RoundTrip(req *nethttp.Request) (*nethttp.Response, error) {
	resp, err := nethttp.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if req.URL.Path == "/logs" && req.URL.Query().Get("follow") == "true" && resp.StatusCode == nethttp.StatusOK {
		// A followed log is read as it comes: read whole here, it would
		// reach its reader only once its session stopped. It is checked
		// when it ends.
		resp.Body = &checkedStream{ReadCloser: resp.Body, check: func(body []byte) {
			c.checker.Check(c.tb, req, resp.StatusCode, resp.Header, body)
		}}
		return resp, nil
	}
	body := c.checker.CheckResponse(c.tb, resp)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// checkedStream is a body that is checked once it has been read to its
// end; one closed before is not, as what was read of it is not the answer.
type checkedStream struct {
	io.ReadCloser
	read  bytes.Buffer
	check func([]byte)
}

func (s *checkedStream) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	s.read.Write(p[:n])
	if err == io.EOF && s.check != nil {
		s.check(s.read.Bytes())
		s.check = nil
	}
	return n, err
}

// bearer returns a request editor that authenticates as the generated
// clients' users do.
func bearer(token string) func(context.Context, *nethttp.Request) error {
	return func(_ context.Context, req *nethttp.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// checkedClient is an HTTP client whose every response is checked against
// Arena's OpenAPI document.
func checkedClient(tb testing.TB, s *testStack) *nethttp.Client {
	return &nethttp.Client{Transport: checkingTransport{tb, s.checker}}
}

func newCurrentClient(t *testing.T, s *testStack, token string) *current.ClientWithResponses {
	t.Helper()
	c, err := current.NewClientWithResponses(s.URL, current.WithHTTPClient(checkedClient(t, s)), current.WithRequestEditorFn(bearer(token)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newV121Client(t *testing.T, s *testStack, token string) *v121.ClientWithResponses {
	t.Helper()
	c, err := v121.NewClientWithResponses(s.URL, v121.WithHTTPClient(checkedClient(t, s)), v121.WithRequestEditorFn(bearer(token)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// status fails the test unless a generated client's call answered want.
func status(t *testing.T, what string, got int, body []byte, err error, want int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: %d, want %d; body %s", what, got, want, body)
	}
}

// TestNakamaFleetManagerRequests replays, with a client generated from the
// current revision of the Gameye document as Nakama's fleet manager v0.1.0
// is, the requests the fleet manager sends, with the fields it sets, and
// checks the fields it reads: create (ttl "30m", external_id, env, labels,
// restart false), describe, list by region, image and tag, join, leave,
// and stop, twice; and its error cases.
func TestNakamaFleetManagerRequests(t *testing.T) {
	s := newStack(t, 4)
	_, tag, _ := strings.Cut(dockertest.EchoImage(t), ":")
	ctx := context.Background()

	// The fleet manager's token has the current revision's scopes alone.
	admin := newCurrentClient(t, s, testToken)
	tok, err := admin.CreateTokenWithResponse(ctx, current.CreateTokenRequestBody{
		Name: "nakama", Scopes: []string{arena.ScopeSessionStart, arena.ScopeSessionRead, arena.ScopeSessionStop, arena.ScopeRegionsRead},
		ExpiresAfter: ptr("1h"),
	})
	status(t, "POST /token", tok.StatusCode(), tok.Body, err, 201)
	fm := newCurrentClient(t, s, tok.JSON201.Token)

	id := uuid.NewString()
	run := current.SessionRunJSONRequestBody{
		Id: &id, Location: "europe", Image: "echo", Version: &tag,
		Env: &map[string]string{"SEAT_SECRET": "x"}, Labels: map[string]string{"mode": "duel"},
		Restart: ptr(false), Ttl: ptr("30m"), ExternalId: ptr("match-1"),
	}
	before := time.Now()
	created, err := fm.SessionRunWithResponse(ctx, run)
	status(t, "POST /session", created.StatusCode(), created.Body, err, 201)
	ok := created.JSON201
	if ok.Id == nil || *ok.Id != id || ok.Host != "127.0.0.1" || len(ok.Ports) != 2 || ok.Ports[0].Host < 1 {
		t.Fatalf("created %s", created.Body)
	}
	if sess := s.session(id); sess.TTL != 30*time.Minute || sess.ExternalID != "match-1" || sess.Env["SEAT_SECRET"] != "x" || sess.Restart {
		t.Fatalf("stored session: ttl %v, external id %q, env %v, restart %v", sess.TTL, sess.ExternalID, sess.Env, sess.Restart)
	}
	t.Run("a retry with the same body gets the same session", func(t *testing.T) {
		again, err := fm.SessionRunWithResponse(ctx, run)
		status(t, "POST /session again", again.StatusCode(), again.Body, err, 201)
		if *again.JSON201.Id != id || again.JSON201.Ports[0] != ok.Ports[0] {
			t.Fatalf("retry answered %s, first %s", again.Body, created.Body)
		}
	})

	// The fleet manager's Get: it keeps the session while it is running,
	// draining or shutting down, and reads the first port of the record.
	var desc *current.DescribedSession
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		r, err := fm.DescribeSessionWithResponse(ctx, id)
		if err != nil || r.StatusCode() != 200 {
			return fmt.Errorf("describe: %v %d %s", err, r.StatusCode(), r.Body)
		}
		if desc = r.JSON200; desc.Status != current.Running {
			return fmt.Errorf("status %s", desc.Status)
		}
		return nil
	})
	key := fmt.Sprintf("%d/%s", ok.Ports[0].Container, ok.Ports[0].Type)
	if desc.Id != id || desc.Host != ok.Host || int(desc.Port[key]) != ok.Ports[0].Host || desc.Players.JoinedCount != 0 ||
		desc.Labels["mode"] != "duel" || desc.Image != "echo" || desc.Tag != tag || desc.Location != "local" {
		t.Fatalf("described %+v", desc)
	}
	// Created is Unix milliseconds; the client reads it as a float32.
	if created := time.UnixMilli(int64(desc.Created)); created.Before(before.Add(-10*time.Minute)) || created.After(time.Now().Add(10*time.Minute)) {
		t.Fatalf("created %v, not about now", created)
	}

	// The fleet manager's List: its region, image and version.
	list := func(params current.SessionListParams) []current.SessionListEntry {
		t.Helper()
		r, err := fm.SessionListWithResponse(ctx, &params)
		status(t, "GET /session", r.StatusCode(), r.Body, err, 200)
		return r.JSON200.Sessions
	}
	entries := list(current.SessionListParams{Location: ptr("europe"), Image: ptr("echo"), Tag: &tag})
	if len(entries) != 1 || entries[0].Id != id || entries[0].PlayerCount == nil || *entries[0].PlayerCount != 0 ||
		entries[0].Status != current.Running || int(entries[0].Port[key]) != ok.Ports[0].Host {
		t.Fatalf("listed %+v", entries)
	}
	if other := list(current.SessionListParams{Tag: ptr("not-" + tag)}); len(other) != 0 {
		t.Fatalf("another tag's listing has %+v", other)
	}
	if l, err := s.api().Sessions().List(ctx, client.ListOptions{ExternalID: "match-1"}); err != nil || !strings.Contains(string(l.Raw()), id) {
		t.Fatalf("listing by external_id: %v %s", err, l.Raw())
	}

	// Join and leave, as the fleet manager's Create and the game server do.
	joined, err := fm.JoinSessionWithResponse(ctx, current.JoinSession{Session: id, Players: []string{"u1", "u2"}})
	status(t, "PUT /session/player/join", joined.StatusCode(), joined.Body, err, 200)
	if joined.JSON200.Count != 2 || !slices.Equal(joined.JSON200.Players, []string{"u1", "u2"}) {
		t.Fatalf("joined %s", joined.Body)
	}
	backfill := list(current.SessionListParams{Location: ptr("europe"), PlayerCount: &map[string]int{"lt": 3}})
	full := list(current.SessionListParams{Location: ptr("europe"), PlayerCount: &map[string]int{"lt": 2}})
	if len(backfill) != 1 || *backfill[0].PlayerCount != 2 || len(full) != 0 {
		t.Fatalf("backfill search: %+v, full: %+v", backfill, full)
	}
	left, err := fm.LeaveSessionWithResponse(ctx, current.LeaveSession{Players: []string{"u1"}})
	status(t, "DELETE /session/player/leave", left.StatusCode(), left.Body, err, 200)
	if r, _ := fm.DescribeSessionWithResponse(ctx, id); r.JSON200 == nil || r.JSON200.Players.JoinedCount != 1 {
		t.Fatalf("after leaving: %s", r.Body)
	}

	// The tag is present: the node holds the image, loaded without a registry.
	for _, region := range []string{"europe", "local"} {
		r, err := fm.TagExistsWithResponse(ctx, region, "echo", tag)
		status(t, "GET /tag/"+region, r.StatusCode(), r.Body, err, 200)
		if !r.JSON200.Exists {
			t.Errorf("tag in %s: %s", region, r.Body)
		}
	}
	regions, err := fm.ListRegionsWithResponse(ctx)
	status(t, "GET /region", regions.StatusCode(), regions.Body, err, 200)
	if !slices.Contains(regions.JSON200.Regions, "europe") {
		t.Fatalf("regions %s", regions.Body)
	}

	errorCases := []struct {
		name string
		run  current.SessionRunJSONRequestBody
		want int
	}{
		{"unknown image", current.SessionRunJSONRequestBody{Location: "europe", Image: "nope"}, 404},
		{"unknown region", current.SessionRunJSONRequestBody{Location: "atlantis", Image: "echo"}, 404},
		{"unknown tag", current.SessionRunJSONRequestBody{Location: "europe", Image: "echo", Version: ptr("no-such-tag")}, 404},
		{"same id, another body", current.SessionRunJSONRequestBody{Id: &id, Location: "europe", Image: "echo", Ttl: ptr("1h")}, 409},
		{"a ttl that is no duration", current.SessionRunJSONRequestBody{Location: "europe", Image: "echo", Ttl: ptr("soon")}, 422},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			r, err := fm.SessionRunWithResponse(ctx, tt.run)
			status(t, "POST /session", r.StatusCode(), r.Body, err, tt.want)
			var e *current.ErrorResponse
			switch tt.want {
			case 404:
				e = r.JSON404
			case 409:
				e = r.JSON409
			case 422:
				e = r.JSON422
			}
			if e == nil || e.StatusCode != tt.want || e.Message == "" || e.Identifier == "" {
				t.Fatalf("error body %s", r.Body)
			}
			if tt.want == 422 && (e.Violations == nil || len(*e.Violations) != 1 || (*e.Violations)[0].Field != "ttl") {
				t.Fatalf("violations %s", r.Body)
			}
		})
	}
	t.Run("bad token", func(t *testing.T) {
		r, err := newCurrentClient(t, s, "not-a-token").SessionRunWithResponse(ctx, run)
		status(t, "POST /session", r.StatusCode(), r.Body, err, 401)
		if r.JSON401 == nil || r.JSON401.StatusCode != 401 {
			t.Fatalf("error body %s", r.Body)
		}
	})
	t.Run("a token without the scope", func(t *testing.T) {
		reader, err := admin.CreateTokenWithResponse(ctx, current.CreateTokenRequestBody{Name: "reader", Scopes: []string{arena.ScopeSessionRead}})
		status(t, "POST /token", reader.StatusCode(), reader.Body, err, 201)
		r, err := newCurrentClient(t, s, reader.JSON201.Token).SessionStopWithResponse(ctx, id)
		status(t, "DELETE /session", r.StatusCode(), r.Body, err, 403)
	})

	// The fleet manager's Delete: 204, and 409 for every stop after it,
	// whether the container is still going or gone.
	stop, err := fm.SessionStopWithResponse(ctx, id)
	status(t, "DELETE /session", stop.StatusCode(), stop.Body, err, 204)
	again, err := fm.SessionStopWithResponse(ctx, id)
	status(t, "DELETE /session again", again.StatusCode(), again.Body, err, 409)
	s.waitStatus(id, "exited")
	again, err = fm.SessionStopWithResponse(ctx, id)
	status(t, "DELETE /session once stopped", again.StatusCode(), again.Body, err, 409)
	gone, err := fm.DescribeSessionWithResponse(ctx, id)
	status(t, "GET /session/{id} once stopped", gone.StatusCode(), gone.Body, err, 404)
}

// TestGameyeLifecycle runs a session's whole lifecycle with a client
// generated, unmodified, from each revision of the Gameye document:
// create, describe, list, players, logs, tag and delete.
func TestGameyeLifecycle(t *testing.T) {
	s := newStack(t, 4)
	_, tag, _ := strings.Cut(dockertest.EchoImage(t), ":")
	ctx := context.Background()

	t.Run("current", func(t *testing.T) {
		c := newCurrentClient(t, s, testToken)
		id := "current-" + uuid.NewString()
		r, err := c.SessionRunWithResponse(ctx, current.SessionRunJSONRequestBody{Id: &id, Location: "local", Image: "echo",
			Args: &[]string{"--port", "7777"}, Ttl: ptr("1h"), Labels: map[string]string{"rev": "current"}})
		status(t, "POST /session", r.StatusCode(), r.Body, err, 201)
		s.waitStatus(id, "running")
		d, err := c.DescribeSessionWithResponse(ctx, id)
		status(t, "GET /session/{id}", d.StatusCode(), d.Body, err, 200)
		l, err := c.SessionListWithResponse(ctx, &current.SessionListParams{Filter: &map[string]string{"rev": "current"}})
		status(t, "GET /session", l.StatusCode(), l.Body, err, 200)
		if len(l.JSON200.Sessions) != 1 || l.JSON200.Sessions[0].Id != id {
			t.Fatalf("listed %s", l.Body)
		}
		j, err := c.JoinSessionWithResponse(ctx, current.JoinSession{Session: id, Players: []string{"p1"}})
		status(t, "join", j.StatusCode(), j.Body, err, 200)
		lv, err := c.LeaveSessionWithResponse(ctx, current.LeaveSession{Players: []string{"p1"}})
		status(t, "leave", lv.StatusCode(), lv.Body, err, 200)
		g, err := c.StreamLogsWithResponse(ctx, &current.StreamLogsParams{Id: id})
		status(t, "GET /logs", g.StatusCode(), g.Body, err, 200)
		tg, err := c.TagExistsWithResponse(ctx, "local", "echo", tag)
		status(t, "GET /tag", tg.StatusCode(), tg.Body, err, 200)
		if !tg.JSON200.Exists {
			t.Fatalf("tag %s", tg.Body)
		}
		del, err := c.SessionStopWithResponse(ctx, id)
		status(t, "DELETE /session", del.StatusCode(), del.Body, err, 204)
		s.waitStatus(id, "exited")
	})

	t.Run("1.2.1", func(t *testing.T) {
		c := newV121Client(t, s, testToken)
		id := "v121-" + uuid.NewString()
		r, err := c.SessionRunWithResponse(ctx, v121.SessionRunJSONRequestBody{Id: &id, Location: "local", Image: "echo", Version: &tag,
			Env: &map[string]string{"MODE": "casual"}, Restart: ptr(true), Labels: map[string]string{"rev": "1.2.1"}})
		status(t, "POST /session", r.StatusCode(), r.Body, err, 201)
		if r.JSON201 == nil || len(r.JSON201.Ports) != 2 {
			t.Fatalf("created %s", r.Body)
		}
		s.waitStatus(id, "running")
		d, err := c.DescribeSessionWithResponse(ctx, id)
		status(t, "GET /session/{id}", d.StatusCode(), d.Body, err, 200)
		if d.JSON200.Id != id || d.JSON200.Status != v121.Running {
			t.Fatalf("described %s", d.Body)
		}
		l, err := c.SessionListWithResponse(ctx, &v121.SessionListParams{Filter: &map[string]string{"rev": "1.2.1"}})
		status(t, "GET /session", l.StatusCode(), l.Body, err, 200)
		if len(l.JSON200.Sessions) != 1 || l.JSON200.Sessions[0].Id != id {
			t.Fatalf("listed %s", l.Body)
		}
		j, err := c.JoinSessionWithResponse(ctx, v121.JoinSession{Session: id, Players: []string{"p1", "p2"}})
		status(t, "join", j.StatusCode(), j.Body, err, 200)
		lv, err := c.LeaveSessionWithResponse(ctx, v121.LeaveSession{Players: []string{"p2"}})
		status(t, "leave", lv.StatusCode(), lv.Body, err, 200)
		g, err := c.StreamLogsWithResponse(ctx, &v121.StreamLogsParams{Id: id})
		status(t, "GET /logs", g.StatusCode(), g.Body, err, 200)
		tg, err := c.TagExistsWithResponse(ctx, "local", "echo", tag)
		status(t, "GET /tag", tg.StatusCode(), tg.Body, err, 200)
		if !tg.JSON200.Exists {
			t.Fatalf("tag %s", tg.Body)
		}
		del, err := c.SessionStopWithResponse(ctx, id)
		status(t, "DELETE /session", del.StatusCode(), del.Body, err, 204)
		again, err := c.SessionStopWithResponse(ctx, id)
		status(t, "DELETE /session again", again.StatusCode(), again.Body, err, 409)
		s.waitStatus(id, "exited")
	})
}

// TestApplicationsOfTheCurrentRevision manages an application through the
// current revision's operations against a private registry on loopback
// with basic auth: its tags are listed from the registry with the
// application's credentials, a tag enabled there is pulled by the node and
// runs sessions, and tagKeep retires the oldest.
func TestApplicationsOfTheCurrentRevision(t *testing.T) {
	rt := dockertest.Runtime(t)
	reg := registrytest.NewRegistry(t, "studio", "s3cret-pass")
	v1, v2 := dockertest.RandomID(), dockertest.RandomID()
	refs := []string{reg.PushEcho(t, "studio/duel", v1), reg.PushEcho(t, "studio/duel", v2)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, r := range refs {
			if err := rt.RemoveImage(ctx, r); err != nil {
				t.Error(err)
			}
		}
	})
	s := newStack(t, 4)
	ctx := context.Background()
	c := newCurrentClient(t, s, testToken)

	// The registry's login is set through the admin API, as Arena has it.
	if _, err := s.api().Admin().CreateApplication(ctx, s.cfg.OrgID, map[string]any{
		"name": "duel", "repository": reg.Host + "/studio/duel", "tags": []any{},
		"ports": []any{map[string]any{"container": 7777, "protocol": "tcp"}}, "resources": map[string]any{"milliCpu": 100, "memoryMb": 64},
		"registry": map[string]any{"username": "studio", "password": "s3cret-pass"},
	}); err != nil {
		t.Fatalf("creating duel: %v", err)
	}
	available, err := c.ListApplicationTagsUpstreamWithResponse(ctx, "duel", &current.ListApplicationTagsUpstreamParams{PageSize: ptr(100)})
	status(t, "GET tags/available", available.StatusCode(), available.Body, err, 200)
	var versions []string
	for _, tg := range available.JSON200.Tags {
		versions = append(versions, tg.Version)
	}
	if slices.Sort(versions); !slices.Equal(versions, slices.Sorted(slices.Values([]string{v1, v2}))) {
		t.Fatalf("the registry's tags: %v, want %s and %s", versions, v1, v2)
	}

	edit, err := c.EditApplicationWithResponse(ctx, "duel", current.EditApplicationRequestBody{TagKeep: ptr(1), Regions: &[]string{"europe"}})
	status(t, "PUT /application/duel", edit.StatusCode(), edit.Body, err, 204)
	enable := func(tag string, want int) {
		t.Helper()
		r, err := c.EnableTagWithResponse(ctx, "duel", current.EnableApplicationTagRequestBody{Tag: tag})
		status(t, "POST /application/duel/tags "+tag, r.StatusCode(), r.Body, err, want)
	}
	enable(v1, 204)
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		r, err := c.TagExistsWithResponse(ctx, "europe", "duel", v1)
		if err != nil || r.JSON200 == nil || !r.JSON200.Exists {
			return fmt.Errorf("GET /tag: %v %s", err, r.Body)
		}
		return nil
	})
	created, err := c.SessionRunWithResponse(ctx, current.SessionRunBody{Location: "europe", Image: "duel"})
	status(t, "POST /session", created.StatusCode(), created.Body, err, 201)
	running := s.waitStatus(*created.JSON201.Id, "running")
	if running.Tag != v1 {
		t.Fatalf("the session runs %s, want the enabled %s", running.Tag, v1)
	}

	// tagKeep 1: enabling the second retires the first; its session runs on.
	enable(v2, 204)
	enable("no-such-tag", 404)
	list, err := c.ListApplicationsWithResponse(ctx)
	status(t, "GET /application", list.StatusCode(), list.Body, err, 200)
	var duel *current.ListedApplication
	for i, a := range list.JSON200.Applications {
		if a.Name == "duel" {
			duel = &list.JSON200.Applications[i]
		}
	}
	if duel == nil || duel.Registry == nil || *duel.Registry != reg.Host || duel.Repository != "studio/duel" || duel.TagKeep != 1 ||
		!slices.Equal(duel.Regions, []string{"europe"}) {
		t.Fatalf("listed %s", list.Body)
	}
	if !strings.Contains(string(list.Body), `"tags":[{"name":"`+v2+`"`) {
		t.Fatalf("tags after tagKeep retired one: %s", list.Body)
	}
	if d, _ := s.describe(*created.JSON201.Id); d.Status != "running" {
		t.Fatalf("the session of the retired tag: %+v", d)
	}
	if _, err := s.api().Sessions().Create(ctx, client.SessionRequest{Location: "europe", Image: "duel", Version: v1}); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Fatalf("a session of the retired tag: %v, want %s", err, arena.ENOTFOUND)
	}

	// An application created through the current revision has no login:
	// the registry refuses to list its tags.
	made, err := c.CreateApplicationWithResponse(ctx, current.CreateApplicationRequestBody{
		Name: "duel-anonymous", Registry: reg.Host, Repository: "studio/duel", TagKeep: 0, NetworkMode: "bridge",
		Reservation: current.Reservation{Cpu: 0.1, Ram: 64}, Limits: current.Limits{Cpu: 0.2, Ram: 128},
		NodePool: "default", Regions: []string{}, Ports: []current.PortBinding{{Requested: 7777, Protocol: "udp", Tls: false}},
	})
	status(t, "POST /application", made.StatusCode(), made.Body, err, 201)
	refused, err := c.ListApplicationTagsUpstreamWithResponse(ctx, "duel-anonymous", nil)
	status(t, "GET tags/available without a login", refused.StatusCode(), refused.Body, err, 409)
	if !strings.Contains(string(refused.Body), "credentials") || strings.Contains(string(refused.Body), "s3cret") {
		t.Fatalf("the refusal says %s", refused.Body)
	}
}
