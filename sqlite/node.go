package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// UpsertNode inserts n or replaces the stored node of the same id.
// ECONFLICT if another node has the same credential hash.
func (st *Store) UpsertNode(ctx context.Context, n *arena.Node) error {
	doc, err := json.Marshal(storedoc.FromNode(n))
	if err != nil {
		return arena.Internal(err, "encoding a node")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO nodes (id, credential_hash, doc, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET credential_hash = excluded.credential_hash, doc = excluded.doc, updated_at = excluded.updated_at`,
		n.ID, n.CredentialHash, string(doc), time.Now().UnixNano())
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "another node has this credential")
	}
	return arena.Internal(err, "saving a node")
}

// SaveLastSeen records when nodes were last heard from, in one transaction.
// Unknown nodes are skipped.
func (st *Store) SaveLastSeen(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := st.w.BeginTx(ctx, nil)
	if err != nil {
		return arena.Internal(err, "saving when nodes were seen")
	}
	defer tx.Rollback()
	for id, at := range seen {
		if _, err := tx.ExecContext(ctx, `UPDATE nodes SET last_seen = ? WHERE id = ?`, storedoc.Nanos(at), id); err != nil {
			return arena.Internal(err, "saving when nodes were seen")
		}
	}
	if err := tx.Commit(); err != nil {
		return arena.Internal(err, "saving when nodes were seen")
	}
	return nil
}

// LastSeen returns when each node was last heard from, as last saved; nodes
// never saved are absent.
func (st *Store) LastSeen(ctx context.Context) (map[string]time.Time, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT id, last_seen FROM nodes WHERE last_seen != 0`)
	if err != nil {
		return nil, arena.Internal(err, "reading when nodes were seen")
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var (
			id   string
			seen int64
		)
		if err := rows.Scan(&id, &seen); err != nil {
			return nil, arena.Internal(err, "reading when nodes were seen")
		}
		out[id] = storedoc.FromNanos(seen)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "reading when nodes were seen")
	}
	return out, nil
}

// ListNodes returns every node, ordered by id.
func (st *Store) ListNodes(ctx context.Context) ([]*arena.Node, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT id, credential_hash, doc FROM nodes ORDER BY id`)
	if err != nil {
		return nil, arena.Internal(err, "listing nodes")
	}
	defer rows.Close()
	var out []*arena.Node
	for rows.Next() {
		var (
			n   arena.Node
			doc string
			d   storedoc.Node
		)
		if err := rows.Scan(&n.ID, &n.CredentialHash, &doc); err != nil {
			return nil, arena.Internal(err, "reading a node")
		}
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return nil, arena.Internal(err, "decoding node "+n.ID)
		}
		d.ToNode(&n)
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing nodes")
	}
	return out, nil
}

// DeleteNode removes a node; removing an unknown one is not an error.
func (st *Store) DeleteNode(ctx context.Context, id string) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := st.w.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, id); err != nil {
		return arena.Internal(err, "deleting a node")
	}
	return nil
}
