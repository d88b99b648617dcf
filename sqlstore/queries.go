package sqlstore

import (
	"strings"

	"github.com/arena-hq/arena"
)

// SessionColumns are the columns a stored session is read from, in the
// order the stores scan them.
const SessionColumns = `id, org_id, node_id, state, created_at, doc`

// Placeholder returns the driver's placeholder of the nth argument of a
// query, counting from 1: "?" for SQLite, "$n" for PostgreSQL.
type Placeholder func(n int) string

// SessionQuery returns the query of ListSessions for f, in the placeholders
// of p, and its arguments. Each filter matches an index of both schemas
// with its order, so that no list sorts.
func SessionQuery(f arena.SessionQuery, p Placeholder) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.OrgID != "" {
		args = append(args, f.OrgID)
		where = append(where, "org_id = "+p(len(args)))
	}
	if f.NodeID != "" {
		args = append(args, f.NodeID)
		where = append(where, "node_id = "+p(len(args)))
	}
	if f.ActiveOnly {
		// The term of the partial indexes' WHERE clause, as a literal so
		// that the planners see that they apply.
		where = append(where, "state <> 'stopped'")
	}
	q := `SELECT ` + SessionColumns + ` FROM sessions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	return q + ` ORDER BY created_at, id`, args
}

// StoredName is what a store keeps in a session's name column: its name
// when its key is not the one SessionKey derives from its organisation and
// name (a session stored before ids were per organisation, keyed by its API
// id), else nothing, since its key finds it.
func StoredName(s *arena.Session) string {
	if s.ID == arena.SessionKey(s.OrgID, s.PublicID()) {
		return ""
	}
	return s.PublicID()
}

// SessionByNameQuery returns the query of FindSessionByName, in the
// placeholders of p, and its arguments: a session by the key derived from
// its organisation and name, or by the name kept for one whose key is not
// (StoredName). The query tests in its text that the name is not empty,
// so that the planners may use the partial index of those names.
func SessionByNameQuery(orgID, name string, p Placeholder) (string, []any) {
	q := `SELECT ` + SessionColumns + ` FROM sessions WHERE id = ` + p(1) + ` AND org_id = ` + p(2) +
		` UNION ALL SELECT ` + SessionColumns + ` FROM sessions WHERE org_id = ` + p(2) + ` AND name = ` + p(3) + ` AND name <> '' LIMIT 1`
	return q, []any{arena.SessionKey(orgID, name), orgID, name}
}
