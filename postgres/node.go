package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// UpsertNode inserts n or replaces the stored node of the same id, keeping
// when it was last seen. ECONFLICT if another node has the same credential hash.
func (st *Store) UpsertNode(ctx context.Context, n *arena.Node) error {
	doc := storedoc.FromNode(n)
	// A clash of credential hashes is a unique violation of nodes_credential,
	// which ON CONFLICT (id) leaves to raise.
	_, err := st.exec(ctx, `INSERT INTO nodes (id, credential_hash, doc, updated_at) VALUES ($1, $2, $3, now())
		ON CONFLICT (id) DO UPDATE SET credential_hash = excluded.credential_hash, doc = excluded.doc, updated_at = excluded.updated_at`,
		n.ID, n.CredentialHash, doc)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "another node has this credential")
	}
	return writeError(err, "saving a node")
}

// SaveLastSeen records when nodes were last heard from, in one statement.
// Unknown nodes are skipped.
func (st *Store) SaveLastSeen(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	ids := make([]string, 0, len(seen))
	ats := make([]pgtype.Timestamptz, 0, len(seen))
	for id, at := range seen {
		ids = append(ids, id)
		ats = append(ats, optional(at))
	}
	// One UPDATE from two arrays rather than one per node: the batch is
	// written every few seconds, and a round trip per node would add up.
	_, err := st.exec(ctx, `UPDATE nodes SET last_seen = seen.at
		FROM unnest($1::text[], $2::timestamptz[]) AS seen (id, at)
		WHERE nodes.id = seen.id`, ids, ats)
	if err != nil {
		return writeError(err, "saving when nodes were seen")
	}
	return nil
}

// LastSeen returns when each node was last heard from, as last saved; nodes
// never saved are absent.
func (st *Store) LastSeen(ctx context.Context) (map[string]time.Time, error) {
	rows, err := st.pool.Query(ctx, `SELECT id, last_seen FROM nodes WHERE last_seen IS NOT NULL`)
	if err != nil {
		return nil, arena.Internal(err, "reading when nodes were seen")
	}
	out := map[string]time.Time{}
	var (
		id   string
		seen time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &seen}, func() error {
		out[id] = seen.UTC()
		return nil
	})
	if err != nil {
		return nil, arena.Internal(err, "reading when nodes were seen")
	}
	return out, nil
}

// ListNodes returns every node, ordered by id.
func (st *Store) ListNodes(ctx context.Context) ([]*arena.Node, error) {
	rows, err := st.pool.Query(ctx, `SELECT id, credential_hash, doc FROM nodes ORDER BY id`)
	if err != nil {
		return nil, arena.Internal(err, "listing nodes")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.Node, error) {
		var (
			n arena.Node
			d storedoc.Node
		)
		if err := row.Scan(&n.ID, &n.CredentialHash, &d); err != nil {
			return nil, err
		}
		d.ToNode(&n)
		return &n, nil
	})
	if err != nil {
		return nil, arena.Internal(err, "listing nodes")
	}
	return out, nil
}

// DeleteNode removes a node; removing an unknown one is not an error.
func (st *Store) DeleteNode(ctx context.Context, id string) error {
	_, err := st.exec(ctx, `DELETE FROM nodes WHERE id = $1`, id)
	if err != nil && !isUnstorable(err) { // an id no row can hold is unknown
		return arena.Internal(err, "deleting a node")
	}
	return nil
}
