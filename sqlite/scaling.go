package sqlite

import (
	"context"
	"encoding/json"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// PutScalingPolicy inserts or replaces the policy of p's region.
func (st *Store) PutScalingPolicy(ctx context.Context, p *arena.ScalingPolicy) error {
	doc, err := json.Marshal(storedoc.FromPolicy(p))
	if err != nil {
		return arena.Internal(err, "encoding a scaling policy")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO scaling_policies (region, doc, source, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (region) DO UPDATE SET doc = excluded.doc, source = excluded.source, updated_at = excluded.updated_at`,
		p.Region, string(doc), p.Source, storedoc.Nanos(p.UpdatedAt))
	if err != nil {
		return arena.Internal(err, "saving a scaling policy")
	}
	return nil
}

// ListScalingPolicies returns every policy, by region.
func (st *Store) ListScalingPolicies(ctx context.Context) ([]*arena.ScalingPolicy, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT region, doc, source, updated_at FROM scaling_policies ORDER BY region`)
	if err != nil {
		return nil, arena.Internal(err, "listing scaling policies")
	}
	defer rows.Close()
	var out []*arena.ScalingPolicy
	for rows.Next() {
		var (
			p       arena.ScalingPolicy
			doc     string
			updated int64
			d       storedoc.Policy
		)
		if err := rows.Scan(&p.Region, &doc, &p.Source, &updated); err != nil {
			return nil, arena.Internal(err, "listing scaling policies")
		}
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return nil, arena.Internal(err, "decoding the scaling policy of "+p.Region)
		}
		d.ToPolicy(&p)
		p.UpdatedAt = storedoc.FromNanos(updated)
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing scaling policies")
	}
	return out, nil
}

// DeleteScalingPolicy removes a region's policy; ENOTFOUND without one.
func (st *Store) DeleteScalingPolicy(ctx context.Context, region string) error {
	return st.deleteOne(ctx, `DELETE FROM scaling_policies WHERE region = ?`, region, "no scaling policy for region %s", "deleting a scaling policy")
}

// PutCloudProvider inserts or replaces the provider of p's name, with its
// credentials as sealed.
func (st *Store) PutCloudProvider(ctx context.Context, p *arena.CloudProvider) error {
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return arena.Internal(err, "encoding a provider's settings")
	}
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = st.w.ExecContext(ctx, `INSERT INTO cloud_providers (name, type, settings, sealed_credentials, source, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET type = excluded.type, settings = excluded.settings, sealed_credentials = excluded.sealed_credentials,
		source = excluded.source, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		p.Name, p.Type, string(settings), nonNil(p.SealedCredentials), p.Source, storedoc.Nanos(p.CreatedAt), storedoc.Nanos(p.UpdatedAt))
	if err != nil {
		return arena.Internal(err, "saving a cloud provider")
	}
	return nil
}

// ListCloudProviders returns every provider, by name.
func (st *Store) ListCloudProviders(ctx context.Context) ([]*arena.CloudProvider, error) {
	rows, err := st.r.QueryContext(ctx, `SELECT name, type, settings, sealed_credentials, source, created_at, updated_at
		FROM cloud_providers ORDER BY name`)
	if err != nil {
		return nil, arena.Internal(err, "listing cloud providers")
	}
	defer rows.Close()
	var out []*arena.CloudProvider
	for rows.Next() {
		var (
			p                arena.CloudProvider
			settings         string
			created, updated int64
		)
		if err := rows.Scan(&p.Name, &p.Type, &settings, &p.SealedCredentials, &p.Source, &created, &updated); err != nil {
			return nil, arena.Internal(err, "listing cloud providers")
		}
		if err := json.Unmarshal([]byte(settings), &p.Settings); err != nil {
			return nil, arena.Internal(err, "decoding the settings of provider "+p.Name)
		}
		p.CreatedAt, p.UpdatedAt = storedoc.FromNanos(created), storedoc.FromNanos(updated)
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, arena.Internal(err, "listing cloud providers")
	}
	return out, nil
}

// DeleteCloudProvider removes a provider; ENOTFOUND without one.
func (st *Store) DeleteCloudProvider(ctx context.Context, name string) error {
	return st.deleteOne(ctx, `DELETE FROM cloud_providers WHERE name = ?`, name, "no cloud provider named %s", "deleting a cloud provider")
}

// deleteOne runs a delete of the row keyed key: ENOTFOUND (missing, with
// the key) when there was none.
func (st *Store) deleteOne(ctx context.Context, query, key, missing, doing string) error {
	unlock, err := st.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := execCount(ctx, st.w, query, key)
	switch {
	case err != nil:
		return arena.Internal(err, doing)
	case n == 0:
		return arena.Errorf(arena.ENOTFOUND, missing, key)
	}
	return nil
}

// nonNil returns b, or an empty blob for nil: the column is NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
