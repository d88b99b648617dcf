package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

const machineColumns = `node_id, region, provider, provider_id, instance_type, state, reason, cost_per_hour,
	milli_cpu, memory_mb, join_token_hash, join_expires, joined_at, created_at, updated_at`

func machineArgs(m *arena.CloudMachine) []any {
	return []any{m.NodeID, m.Region, m.Provider, m.ProviderID, m.InstanceType, string(m.State), m.Reason, m.CostPerHour,
		m.Capacity.MilliCPU, m.Capacity.MemoryMB, m.JoinTokenHash, storedoc.Nanos(m.JoinExpires), storedoc.Nanos(m.JoinedAt),
		storedoc.Nanos(m.CreatedAt), storedoc.Nanos(m.UpdatedAt)}
}

// CreateMachine inserts m; ECONFLICT if its node id exists.
func (st *Store) CreateMachine(ctx context.Context, m *arena.CloudMachine) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO machines (`+machineColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, machineArgs(m)...)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "a machine for node %s exists", m.NodeID)
	}
	return arena.Internal(err, "recording a machine")
}

// UpdateMachine replaces the machine of m's node id; ENOTFOUND without one.
func (st *Store) UpdateMachine(ctx context.Context, m *arena.CloudMachine) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	args := machineArgs(m)
	n, err := execCount(ctx, st.w, `UPDATE machines SET region = ?, provider = ?, provider_id = ?, instance_type = ?, state = ?,
		reason = ?, cost_per_hour = ?, milli_cpu = ?, memory_mb = ?, join_token_hash = ?, join_expires = ?, joined_at = ?,
		created_at = ?, updated_at = ? WHERE node_id = ?`, append(args[1:], args[0])...)
	switch {
	case err != nil && isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "another machine has this join token")
	case err != nil:
		return arena.Internal(err, "updating a machine")
	case n == 0:
		return arena.Errorf(arena.ENOTFOUND, "no machine for node %s", m.NodeID)
	}
	return nil
}

// ListMachines returns every machine, by node id.
func (st *Store) ListMachines(ctx context.Context) ([]*arena.CloudMachine, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT `+machineColumns+` FROM machines ORDER BY node_id`)
	if err != nil {
		return nil, arena.Internal(err, "listing machines")
	}
	defer rows.Close()
	var out []*arena.CloudMachine
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			return nil, arena.Internal(err, "listing machines")
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing machines")
	}
	return out, nil
}

func scanMachine(rows *sql.Rows) (*arena.CloudMachine, error) {
	var (
		m                                 arena.CloudMachine
		state                             string
		expires, joined, created, updated int64
	)
	if err := rows.Scan(&m.NodeID, &m.Region, &m.Provider, &m.ProviderID, &m.InstanceType, &state, &m.Reason, &m.CostPerHour,
		&m.Capacity.MilliCPU, &m.Capacity.MemoryMB, &m.JoinTokenHash, &expires, &joined, &created, &updated); err != nil {
		return nil, err
	}
	m.State = arena.MachineState(state)
	m.JoinExpires, m.JoinedAt = storedoc.FromNanos(expires), storedoc.FromNanos(joined)
	m.CreatedAt, m.UpdatedAt = storedoc.FromNanos(created), storedoc.FromNanos(updated)
	return &m, nil
}

// UseJoinToken spends the join token whose hash is given, for nodeID, at
// now, in one statement: a second use, another node's or a late one finds
// no row to change.
func (st *Store) UseJoinToken(ctx context.Context, hash, nodeID string, now time.Time) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := execCount(ctx, st.w, `UPDATE machines SET joined_at = ?, updated_at = ?
		WHERE join_token_hash = ? AND join_token_hash <> '' AND node_id = ? AND joined_at = 0 AND join_expires > ?`,
		storedoc.Nanos(now), storedoc.Nanos(now), hash, nodeID, storedoc.Nanos(now))
	switch {
	case err != nil:
		return arena.Internal(err, "spending a join token")
	case n == 0:
		return arena.Errorf(arena.EUNAUTHORIZED, "the join token is not valid for node %s: unknown, spent, expired or another node's", nodeID)
	}
	return nil
}
