package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arena-hq/arena"
)

const machineColumns = `node_id, region, provider, provider_id, instance_type, state, reason, cost_per_hour,
	milli_cpu, memory_mb, join_token_hash, join_expires, joined_at, created_at, updated_at`

func machineArgs(m *arena.CloudMachine) []any {
	return []any{m.NodeID, m.Region, m.Provider, m.ProviderID, m.InstanceType, string(m.State), m.Reason, m.CostPerHour,
		m.Capacity.MilliCPU, m.Capacity.MemoryMB, m.JoinTokenHash, optional(m.JoinExpires), optional(m.JoinedAt),
		m.CreatedAt.UTC(), m.UpdatedAt.UTC()}
}

// CreateMachine inserts m; ECONFLICT if its node id exists.
func (st *Store) CreateMachine(ctx context.Context, m *arena.CloudMachine) error {
	_, err := st.exec(ctx, `INSERT INTO machines (`+machineColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, machineArgs(m)...)
	switch {
	case err == nil:
		return nil
	case isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "a machine for node %s exists", m.NodeID)
	}
	return writeError(err, "recording a machine")
}

// UpdateMachine replaces the machine of m's node id; ENOTFOUND without one.
func (st *Store) UpdateMachine(ctx context.Context, m *arena.CloudMachine) error {
	tag, err := st.exec(ctx, `UPDATE machines SET region = $2, provider = $3, provider_id = $4, instance_type = $5, state = $6,
		reason = $7, cost_per_hour = $8, milli_cpu = $9, memory_mb = $10, join_token_hash = $11, join_expires = $12,
		joined_at = $13, created_at = $14, updated_at = $15 WHERE node_id = $1`, machineArgs(m)...)
	switch {
	case err != nil && isDuplicate(err):
		return arena.Errorf(arena.ECONFLICT, "another machine has this join token")
	case err != nil:
		return writeError(err, "updating a machine")
	case tag.RowsAffected() == 0:
		return arena.Errorf(arena.ENOTFOUND, "no machine for node %s", m.NodeID)
	}
	return nil
}

// ListMachines returns every machine, by node id.
func (st *Store) ListMachines(ctx context.Context) ([]*arena.CloudMachine, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+machineColumns+` FROM machines ORDER BY node_id`)
	var out []*arena.CloudMachine
	if err == nil {
		out, err = pgx.CollectRows(rows, scanMachine)
	}
	if err != nil {
		return nil, arena.Internal(err, "listing machines")
	}
	return out, nil
}

func scanMachine(row pgx.CollectableRow) (*arena.CloudMachine, error) {
	var (
		m                arena.CloudMachine
		state            string
		expires, joined  pgtype.Timestamptz
		created, updated time.Time
	)
	if err := row.Scan(&m.NodeID, &m.Region, &m.Provider, &m.ProviderID, &m.InstanceType, &state, &m.Reason, &m.CostPerHour,
		&m.Capacity.MilliCPU, &m.Capacity.MemoryMB, &m.JoinTokenHash, &expires, &joined, &created, &updated); err != nil {
		return nil, err
	}
	m.State = arena.MachineState(state)
	m.JoinExpires, m.JoinedAt = fromOptional(expires), fromOptional(joined)
	m.CreatedAt, m.UpdatedAt = created.UTC(), updated.UTC()
	return &m, nil
}

// UseJoinToken spends the join token whose hash is given, for nodeID, at
// now, in one statement: a second use, another node's or a late one finds
// no row to change.
func (st *Store) UseJoinToken(ctx context.Context, hash, nodeID string, now time.Time) error {
	tag, err := st.exec(ctx, `UPDATE machines SET joined_at = $3, updated_at = $3
		WHERE join_token_hash = $1 AND join_token_hash <> '' AND node_id = $2 AND joined_at IS NULL AND join_expires > $3`,
		hash, nodeID, now.UTC())
	switch {
	case err != nil:
		return writeError(err, "spending a join token")
	case tag.RowsAffected() == 0:
		return arena.Errorf(arena.EUNAUTHORIZED, "the join token is not valid for node %s: unknown, spent, expired or another node's", nodeID)
	}
	return nil
}
