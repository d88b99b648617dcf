package http

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arena-hq/arena"
)

func (s *api) createSession(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	req, err := decodeSessionRun(w, r)
	if err != nil {
		return err
	}
	sess, err := s.sessions.CreateSession(r.Context(), tok.OrgID, req)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, newSessionRunOk(sess))
	return nil
}

func (s *api) listSessions(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	f, err := parseSessionFilter(r.URL.RawQuery)
	if err != nil {
		return err
	}
	list, err := s.sessions.ListSessions(r.Context(), tok.OrgID, f)
	if err != nil {
		return err
	}
	out := sessionListOk{Sessions: make([]sessionListEntry, 0, len(list))}
	for _, sess := range list {
		out.Sessions = append(out.Sessions, sessionListEntry{
			sessionView: newSessionView(sess),
			PlayerCount: len(sess.Players),
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *api) describeSession(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	f, err := parseSessionFilter(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if err := arena.ValidateSessionID(r.PathValue("id")); err != nil {
		return err
	}
	sess, err := s.sessions.FindSession(r.Context(), tok.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.State == arena.SessionStopped && !f.All {
		// The platform's rule: a stopped session is gone, unless asked for.
		return arena.Errorf(arena.ENOTFOUND, "session %q has stopped; describe it with all=true", sess.PublicID())
	}
	joined := slices.Clone(sess.Players)
	if joined == nil {
		joined = []string{}
	}
	// The environment's names alone: its values may be secrets the game
	// server needs, and nothing reading sessions should learn them.
	envKeys := slices.Sorted(maps.Keys(sess.Env))
	if envKeys == nil {
		envKeys = []string{}
	}
	s.writeJSON(w, r, http.StatusOK, describedSession{
		sessionView: newSessionView(sess),
		Players:     describedSessionPlayers{Joined: joined, JoinedCount: len(joined)},
		EnvKeys:     envKeys,
		Restarts:    sess.Restarts,
		ExitCode:    sess.ExitCode,
		StopReason:  string(sess.StopReason),
		StopMessage: sess.StopMessage,
		RunningAt:   unixMilli(sess.RunningAt),
		StoppingAt:  unixMilli(sess.StoppingAt),
		StoppedAt:   unixMilli(sess.StoppedAt),
		Warm:        !sess.ClaimedAt.IsZero(),
	})
	return nil
}

// unixMilli is t in Unix milliseconds, as the contract gives times; 0 for
// a moment that has not come.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (s *api) stopSession(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	if err := arena.ValidateSessionID(r.PathValue("id")); err != nil {
		return err
	}
	if err := s.sessions.StopSession(r.Context(), tok.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Response bodies. Every field the contract lists is always present and never
// null, so that clients need no presence checks.
type (
	sessionRunOk struct {
		ID    string       `json:"id"`
		Host  string       `json:"host"`
		Ports []arena.Port `json:"ports"`
	}

	// sessionView holds what the list entry and the described session share.
	sessionView struct {
		ID       string            `json:"id"`
		Image    string            `json:"image"`
		Tag      string            `json:"tag"`
		Location string            `json:"location"`
		Host     string            `json:"host"`
		Created  int64             `json:"created"`
		Port     map[string]int    `json:"port"`
		Status   string            `json:"status"`
		Labels   map[string]string `json:"labels"`
		// ExternalID is "" for a session created without one.
		ExternalID string `json:"external_id"`
	}

	sessionListEntry struct {
		sessionView
		PlayerCount int `json:"playerCount"`
	}

	sessionListOk struct {
		Sessions []sessionListEntry `json:"sessions"`
	}

	describedSession struct {
		sessionView
		Players describedSessionPlayers `json:"players"`
		// Arena's additions: what the session's life has been so far.
		EnvKeys    []string `json:"envKeys"`
		Restarts   int      `json:"restarts"`
		ExitCode   int      `json:"exitCode"`
		StopReason string   `json:"stopReason"`
		// StopMessage says why, when the node stopped it by itself.
		StopMessage string `json:"stopMessage"`
		RunningAt   int64  `json:"runningAt"`
		StoppingAt  int64  `json:"stoppingAt"`
		StoppedAt   int64  `json:"stoppedAt"`
		// Warm tells a session claimed from a warm pool.
		Warm bool `json:"warm"`
	}

	describedSessionPlayers struct {
		Joined      []string `json:"joined"`
		JoinedCount int      `json:"joinedCount"`
	}
)

func newSessionRunOk(sess *arena.Session) sessionRunOk {
	ports := slices.Clone(sess.Ports)
	if ports == nil {
		ports = []arena.Port{}
	}
	return sessionRunOk{ID: sess.PublicID(), Host: sess.Host, Ports: ports}
}

func newSessionView(sess *arena.Session) sessionView {
	v := sessionView{
		ID:       sess.PublicID(),
		Image:    sess.Application,
		Tag:      sess.Tag,
		Location: sess.Location,
		Host:     sess.Host,
		Port:     make(map[string]int, len(sess.Ports)),
		Status:   sess.Status(),
		Labels:   make(map[string]string, len(sess.Labels)),

		ExternalID: sess.ExternalID,
	}
	if v.Location == "" {
		v.Location = sess.Region
	}
	if !sess.CreatedAt.IsZero() {
		v.Created = sess.CreatedAt.UnixMilli()
	}
	// The contract's port record is Docker's: "7777/udp" → host port.
	for _, p := range sess.Ports {
		v.Port[fmt.Sprintf("%d/%s", p.Container, p.Protocol)] = p.Host
	}
	maps.Copy(v.Labels, sess.Labels)
	return v
}

// parseSessionFilter reads the query of GET /session. Parameters the
// operation does not define are ignored, as most HTTP APIs do; defined ones
// are checked strictly so that a typo in a value never widens a listing.
func parseSessionFilter(rawQuery string) (arena.SessionFilter, error) {
	var f arena.SessionFilter
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return f, arena.Invalid(arena.Violation{Field: "query", Description: "is not a valid URL query"})
	}
	var v violations
	for _, key := range slices.Sorted(maps.Keys(q)) {
		name, sub, deep := splitDeepKey(key)
		switch name {
		case "filter", "playerCount":
			if !deep {
				v.add(key, fmt.Sprintf("must be given as %s[key]=value", name))
				continue
			}
		case "all", "location", "image", "tag", "host", "external_id":
			if deep {
				continue // not a parameter of this operation
			}
		default:
			continue // not a parameter of this operation
		}
		if len(q[key]) > 1 {
			v.add(key, "must be given once")
			continue
		}
		val := q[key][0]
		switch {
		case deep && (sub == "" || strings.ContainsAny(sub, "[]")):
			v.add(key, fmt.Sprintf("must be given as %s[key]=value", name))
			continue
		case name == "playerCount" && sub != "lt" && sub != "gt":
			v.add(key, "is not a known bound: use playerCount[lt] or playerCount[gt]")
			continue
		}
		if val == "" {
			continue
		}
		switch name {
		case "all":
			b, err := strconv.ParseBool(val)
			if err != nil {
				v.add(key, "must be true or false")
			}
			f.All = b
		case "location":
			f.Location = val
		case "image":
			f.Image = val
		case "tag":
			f.Tag = val
		case "host":
			f.Host = val
		case "external_id":
			f.ExternalID = val
		case "filter":
			if f.Labels == nil {
				f.Labels = make(map[string]string)
			}
			f.Labels[sub] = val
		case "playerCount":
			n, err := strconv.Atoi(val)
			switch {
			case err != nil:
				v.add(key, "must be an integer")
			case sub == "lt":
				f.PlayerCountLT = &n
			default:
				f.PlayerCountGT = &n
			}
		}
	}
	if len(v) > 0 {
		return arena.SessionFilter{}, arena.Invalid(v...)
	}
	return f, nil
}

// splitDeepKey splits a deepObject key "name[sub]".
func splitDeepKey(key string) (name, sub string, deep bool) {
	i := strings.IndexByte(key, '[')
	if i < 0 || !strings.HasSuffix(key, "]") {
		return key, "", false
	}
	return key[:i], key[i+1 : len(key)-1], true
}

// IsSessionRead reports whether r reads sessions: GET /session or GET
// /session/{id}, which any replica sharing the leader's store can answer.
func IsSessionRead(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/session")
	return ok && (rest == "" || (strings.HasPrefix(rest, "/") && len(rest) > 1 && !strings.Contains(rest[1:], "/")))
}
