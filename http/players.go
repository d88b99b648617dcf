package http

import (
	"net/http"
	"slices"
	"strings"

	"github.com/arena-hq/arena"
)

type playersOk struct {
	Count   int      `json:"count"`
	Players []string `json:"players"`
}

// decodePlayers reads {session, players} strictly; session is required when
// requireSession is set, and optional (an Arena addition) otherwise.
func decodePlayers(w http.ResponseWriter, r *http.Request, schema string, requireSession bool) (string, []string, error) {
	body, err := readBody(w, r)
	if err != nil {
		return "", nil, err
	}
	fields, err := jsonObject(body)
	if err != nil {
		return "", nil, err
	}
	var (
		v       violations
		session string
		players []string
	)
	for k, raw := range fields {
		switch k {
		case "session":
			session = v.string(k, raw)
		case "players":
			players = v.stringList(k, raw)
		default:
			v.add(k, "is not a field of "+schema)
		}
	}
	if requireSession && session == "" && !v.has("session") {
		v.add("session", "is required")
	}
	if session != "" && !v.has("session") {
		if err := arena.ValidateSessionID(session); err != nil {
			v.add("session", arena.ErrorViolations(err)[0].Description)
		}
	}
	if !slices.ContainsFunc(v, func(x arena.Violation) bool { return strings.HasPrefix(x.Field, "players") }) {
		v = append(v, arena.ErrorViolations(arena.ValidatePlayers("players", players))...)
	}
	if len(v) > 0 {
		slices.SortFunc(v, func(a, b arena.Violation) int {
			if a.Field < b.Field {
				return -1
			}
			if a.Field > b.Field {
				return 1
			}
			return 0
		})
		return "", nil, arena.Invalid(v...)
	}
	return session, players, nil
}

func (s *api) joinPlayers(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	session, players, err := decodePlayers(w, r, "JoinSession", true)
	if err != nil {
		return err
	}
	sess, err := s.sessions.JoinPlayers(r.Context(), tok.OrgID, session, players)
	if err != nil {
		return err
	}
	joined := slices.Clone(sess.Players)
	if joined == nil {
		joined = []string{}
	}
	s.writeJSON(w, r, http.StatusOK, playersOk{Count: len(joined), Players: joined})
	return nil
}

func (s *api) leavePlayers(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	session, players, err := decodePlayers(w, r, "LeaveSession", false)
	if err != nil {
		return err
	}
	changed, err := s.sessions.LeavePlayers(r.Context(), tok.OrgID, session, players)
	if err != nil {
		return err
	}
	// As the contract has it: the players asked to leave, and how many
	// players remain in the sessions they left.
	out := playersOk{Players: []string{}}
	for _, sess := range changed {
		out.Count += len(sess.Players)
	}
	for _, p := range players {
		if !slices.Contains(out.Players, p) {
			out.Players = append(out.Players, p)
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
