package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/arena-hq/arena"
)

// Sessions calls the Session API, whose token decides the organisation
// whose sessions it sees.
type Sessions struct{ c *Client }

// SessionRequest is the body of POST /session. Fields left empty are left
// out, which the API takes as absent: an empty Version is the highest
// priority tag, an empty ID one Arena makes.
type SessionRequest struct {
	ID       string            `json:"id,omitempty"`
	Location string            `json:"location"`
	Image    string            `json:"image"`
	Version  string            `json:"version,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Args     []string          `json:"args,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// TTL is the most the session may live, in whole seconds; 0 is no
	// bound.
	TTL        int64  `json:"ttl,omitempty"`
	Restart    bool   `json:"restart,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// CreatedSession is the answer of POST /session: where players connect,
// before the container runs.
type CreatedSession struct {
	Body  `json:"-"`
	ID    string       `json:"id"`
	Host  string       `json:"host"`
	Ports []arena.Port `json:"ports"`
}

// Session is a session as GET /session lists it and GET /session/{id}
// describes it. A list's entries have PlayerCount and not what follows
// it, a description the fields after PlayerCount and not PlayerCount: one
// type, since most callers read the fields both have.
type Session struct {
	Body     `json:"-"`
	ID       string `json:"id"`
	Image    string `json:"image"`
	Tag      string `json:"tag"`
	Location string `json:"location"`
	Host     string `json:"host"`
	// Created is when the session was placed, in Unix milliseconds.
	Created int64 `json:"created"`
	// Port is the host port of each container port, keyed "7777/udp".
	Port       map[string]int    `json:"port"`
	Status     string            `json:"status"`
	Labels     map[string]string `json:"labels"`
	ExternalID string            `json:"external_id"`

	PlayerCount int `json:"playerCount"`

	Players SessionPlayers `json:"players"`
	// EnvKeys names the container's environment; its values are never
	// answered, as they may be secrets.
	EnvKeys  []string `json:"envKeys"`
	Restarts int      `json:"restarts"`
	// ExitCode is the process's last, -1 for none.
	ExitCode    int    `json:"exitCode"`
	StopReason  string `json:"stopReason"`
	StopMessage string `json:"stopMessage"`
	// RunningAt, StoppingAt and StoppedAt are Unix milliseconds, 0 for a
	// moment that has not come.
	RunningAt  int64 `json:"runningAt"`
	StoppingAt int64 `json:"stoppingAt"`
	StoppedAt  int64 `json:"stoppedAt"`
	// Warm tells a session claimed from a warm pool.
	Warm bool `json:"warm"`
}

// SessionPlayers are the players joined to a described session.
type SessionPlayers struct {
	Joined      []string `json:"joined"`
	JoinedCount int      `json:"joinedCount"`
}

// SessionList is the answer of GET /session.
type SessionList struct {
	Body     `json:"-"`
	Sessions []Session `json:"sessions"`
}

// ListOptions narrows GET /session: every filter given must match. The
// zero value lists the active sessions.
type ListOptions struct {
	// All includes stopped sessions.
	All        bool
	Location   string
	Image      string
	Tag        string
	Host       string
	ExternalID string
	// Labels must be present with these values.
	Labels map[string]string
	// PlayersFewer and PlayersMore, when not nil, bound the joined
	// players: fewer than, more than.
	PlayersFewer, PlayersMore *int
}

// query is o as GET /session's query, "" for none.
func (o ListOptions) query() string {
	q := url.Values{}
	for k, v := range map[string]string{"location": o.Location, "image": o.Image, "tag": o.Tag, "host": o.Host, "external_id": o.ExternalID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.All {
		q.Set("all", "true")
	}
	for k, v := range o.Labels {
		q.Set("filter["+k+"]", v)
	}
	if o.PlayersFewer != nil {
		q.Set("playerCount[lt]", strconv.Itoa(*o.PlayersFewer))
	}
	if o.PlayersMore != nil {
		q.Set("playerCount[gt]", strconv.Itoa(*o.PlayersMore))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// GetOptions changes what GET /session/{id} answers.
type GetOptions struct {
	// All describes a stopped session too, which is otherwise not found,
	// as the contract has it.
	All bool
}

// Players is the answer of joining and of leaving.
type Players struct {
	Body `json:"-"`
	// Count is how many players the session has after a join, how many
	// remain in the sessions they left after a leave.
	Count int `json:"count"`
	// Players are those joined after a join, those asked to leave after a
	// leave.
	Players []string `json:"players"`
}

// Locations is the answer of GET /available-location/{image}.
type Locations struct {
	Body      `json:"-"`
	Locations []Location `json:"locations"`
}

// Location is one that has room for a session of the image now, with the
// addresses of its nodes that do, for players to ping.
type Location struct {
	ID  string   `json:"id"`
	IPs []string `json:"ips"`
}

// TagStatus is whether a tag can run in a region now, the answer of GET
// /tag/{region}/{image}/{version}.
type TagStatus struct {
	Body   `json:"-"`
	Exists bool `json:"exists"`
	// Status is present, pulling, failed or missing.
	Status string   `json:"status"`
	Nodes  TagNodes `json:"nodes"`
	// Error is why the pulls failed, when Status is failed.
	Error string `json:"error,omitempty"`
}

// TagNodes counts the nodes that take sessions by how far they are with a
// tag's image.
type TagNodes struct {
	Total   int `json:"total"`
	Present int `json:"present"`
	Pulling int `json:"pulling"`
	Failed  int `json:"failed"`
}

// UsageReport is the billed time within a period, the answer of GET
// /usage.
type UsageReport struct {
	Body         `json:"-"`
	From         string      `json:"from"`
	To           string      `json:"to"`
	Lines        []UsageLine `json:"lines"`
	TotalSeconds int64       `json:"totalSeconds"`
	TotalCost    float64     `json:"totalCost"`
	// Currency is the ISO 4217 code every cost is in.
	Currency string `json:"currency"`
	// TotalWarmPoolSeconds is the time sessions waited in warm pools: not
	// in TotalSeconds, and not billed.
	TotalWarmPoolSeconds int64 `json:"totalWarmPoolSeconds"`
}

// UsageLine is the usage of one application, location and resource
// profile.
type UsageLine struct {
	Application string          `json:"application"`
	Location    string          `json:"location"`
	Profile     arena.Resources `json:"profile"`
	Sessions    int             `json:"sessions"`
	Seconds     int64           `json:"seconds"`
	Cost        float64         `json:"cost"`
	// Priced tells a cost of 0 from a profile without a rate.
	Priced bool `json:"priced"`
	// WarmPoolSessions waited in warm pools for WarmPoolSeconds, apart
	// from the billed time.
	WarmPoolSessions int   `json:"warmPoolSessions"`
	WarmPoolSeconds  int64 `json:"warmPoolSeconds"`
}

// Create places a session (POST /session).
func (s *Sessions) Create(ctx context.Context, req SessionRequest) (CreatedSession, error) {
	var out CreatedSession
	return out, s.c.call(ctx, http.MethodPost, "/session", req, &out)
}

// List lists the organisation's sessions that match o, oldest first.
func (s *Sessions) List(ctx context.Context, o ListOptions) (SessionList, error) {
	var out SessionList
	return out, s.c.call(ctx, http.MethodGet, "/session"+o.query(), nil, &out)
}

// Get describes the session id.
func (s *Sessions) Get(ctx context.Context, id string, o GetOptions) (Session, error) {
	path := "/session/" + url.PathEscape(id)
	if o.All {
		path += "?all=true"
	}
	var out Session
	return out, s.c.call(ctx, http.MethodGet, path, nil, &out)
}

// Stop asks for the session id to stop; only the first time: after it the
// answer is a conflict.
func (s *Sessions) Stop(ctx context.Context, id string) error {
	return s.c.call(ctx, http.MethodDelete, "/session/"+url.PathEscape(id), nil, nil)
}

// Join records players as joined to a session.
func (s *Sessions) Join(ctx context.Context, session string, players []string) (Players, error) {
	var out Players
	in := struct {
		Session string   `json:"session"`
		Players []string `json:"players"`
	}{session, players}
	return out, s.c.call(ctx, http.MethodPut, "/session/player/join", in, &out)
}

// Leave records players as gone from session, or when it is empty from
// whichever session each joined.
func (s *Sessions) Leave(ctx context.Context, session string, players []string) (Players, error) {
	var out Players
	in := struct {
		Session string   `json:"session,omitempty"`
		Players []string `json:"players"`
	}{session, players}
	return out, s.c.call(ctx, http.MethodDelete, "/session/player/leave", in, &out)
}

// Logs returns the session's output so far, of a stopped session what its
// node kept, to be read as it comes and closed.
func (s *Sessions) Logs(ctx context.Context, id string) (io.ReadCloser, error) {
	return s.c.stream(ctx, "/logs?"+url.Values{"id": {id}}.Encode())
}

// FollowLogs is Logs that goes on with the output as the game server writes
// it, until the session stops or ctx ends.
func (s *Sessions) FollowLogs(ctx context.Context, id string) (io.ReadCloser, error) {
	return s.c.stream(ctx, "/logs?"+url.Values{"id": {id}, "follow": {"true"}}.Encode())
}

// Artifact returns the .tar.gz of what a stopped session's game server left
// at path, one of its application's artifacts paths, to be read and
// closed.
func (s *Sessions) Artifact(ctx context.Context, session, path string) (io.ReadCloser, error) {
	return s.c.stream(ctx, "/artifacts?"+url.Values{"session": {session}, "path": {path}}.Encode())
}

// Usage reports the organisation's billed time from from to to (RFC 3339;
// empty for the 30 days before now).
func (s *Sessions) Usage(ctx context.Context, from, to string) (UsageReport, error) {
	var out UsageReport
	return out, s.c.call(ctx, http.MethodGet, "/usage"+usageQuery(from, to, ""), nil, &out)
}

// UsageCSV is Usage as CSV, one line per group, for a spreadsheet.
func (s *Sessions) UsageCSV(ctx context.Context, from, to string) ([]byte, error) {
	ctx, cancel := s.c.deadline(ctx)
	defer cancel()
	return s.c.read(ctx, http.MethodGet, "/usage"+usageQuery(from, to, "csv"), nil)
}

func usageQuery(from, to, format string) string {
	q := url.Values{}
	for k, v := range map[string]string{"from": from, "to": to, "format": format} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// AvailableLocations lists the locations that can host one more session of
// the image now.
func (s *Sessions) AvailableLocations(ctx context.Context, image string) (Locations, error) {
	var out Locations
	return out, s.c.call(ctx, http.MethodGet, "/available-location/"+url.PathEscape(image), nil, &out)
}

// Tag tells whether a tag of image can run in region (or a location) now.
func (s *Sessions) Tag(ctx context.Context, region, image, version string) (TagStatus, error) {
	var out TagStatus
	path := "/tag/" + url.PathEscape(region) + "/" + url.PathEscape(image) + "/" + url.PathEscape(version)
	return out, s.c.call(ctx, http.MethodGet, path, nil, &out)
}
