package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/storedoc"
)

// PutScalingPolicy inserts or replaces the policy of p's region.
func (st *Store) PutScalingPolicy(ctx context.Context, p *arena.ScalingPolicy) error {
	doc, err := json.Marshal(storedoc.FromPolicy(p))
	if err != nil {
		return arena.Internal(err, "encoding a scaling policy")
	}
	_, err = st.exec(ctx, `INSERT INTO scaling_policies (region, doc, source, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (region) DO UPDATE SET doc = excluded.doc, source = excluded.source, updated_at = excluded.updated_at`,
		p.Region, doc, p.Source, p.UpdatedAt.UTC())
	if err != nil {
		return writeError(err, "saving a scaling policy")
	}
	return nil
}

// ListScalingPolicies returns every policy, by region.
func (st *Store) ListScalingPolicies(ctx context.Context) ([]*arena.ScalingPolicy, error) {
	rows, err := st.pool.Query(ctx, `SELECT region, doc, source, updated_at FROM scaling_policies ORDER BY region`)
	var out []*arena.ScalingPolicy
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.ScalingPolicy, error) {
			var (
				p       arena.ScalingPolicy
				doc     []byte
				updated time.Time
				d       storedoc.Policy
			)
			if err := row.Scan(&p.Region, &doc, &p.Source, &updated); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(doc, &d); err != nil {
				return nil, err
			}
			d.ToPolicy(&p)
			p.UpdatedAt = updated.UTC()
			return &p, nil
		})
	}
	if err != nil {
		return nil, arena.Internal(err, "listing scaling policies")
	}
	return out, nil
}

// DeleteScalingPolicy removes a region's policy; ENOTFOUND without one.
func (st *Store) DeleteScalingPolicy(ctx context.Context, region string) error {
	return st.deleteOne(ctx, `DELETE FROM scaling_policies WHERE region = $1`, region, "no scaling policy for region %s", "deleting a scaling policy")
}

// PutCloudProvider inserts or replaces the provider of p's name, with its
// credentials as sealed.
func (st *Store) PutCloudProvider(ctx context.Context, p *arena.CloudProvider) error {
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return arena.Internal(err, "encoding a provider's settings")
	}
	sealed := p.SealedCredentials
	if sealed == nil {
		sealed = []byte{} // the column is NOT NULL
	}
	_, err = st.exec(ctx, `INSERT INTO cloud_providers (name, type, settings, sealed_credentials, source, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (name) DO UPDATE SET type = excluded.type, settings = excluded.settings, sealed_credentials = excluded.sealed_credentials,
		source = excluded.source, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		p.Name, p.Type, settings, sealed, p.Source, p.CreatedAt.UTC(), p.UpdatedAt.UTC())
	if err != nil {
		return writeError(err, "saving a cloud provider")
	}
	return nil
}

// ListCloudProviders returns every provider, by name.
func (st *Store) ListCloudProviders(ctx context.Context) ([]*arena.CloudProvider, error) {
	rows, err := st.pool.Query(ctx, `SELECT name, type, settings, sealed_credentials, source, created_at, updated_at
		FROM cloud_providers ORDER BY name`)
	var out []*arena.CloudProvider
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*arena.CloudProvider, error) {
			var (
				p                arena.CloudProvider
				settings         []byte
				created, updated time.Time
			)
			if err := row.Scan(&p.Name, &p.Type, &settings, &p.SealedCredentials, &p.Source, &created, &updated); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(settings, &p.Settings); err != nil {
				return nil, err
			}
			p.CreatedAt, p.UpdatedAt = created.UTC(), updated.UTC()
			return &p, nil
		})
	}
	if err != nil {
		return nil, arena.Internal(err, "listing cloud providers")
	}
	return out, nil
}

// DeleteCloudProvider removes a provider; ENOTFOUND without one.
func (st *Store) DeleteCloudProvider(ctx context.Context, name string) error {
	return st.deleteOne(ctx, `DELETE FROM cloud_providers WHERE name = $1`, name, "no cloud provider named %s", "deleting a cloud provider")
}

// deleteOne runs a delete of the row keyed key: ENOTFOUND (missing, with
// the key) when there was none.
func (st *Store) deleteOne(ctx context.Context, query, key, missing, doing string) error {
	tag, err := st.exec(ctx, query, key)
	switch {
	case err != nil:
		return writeError(err, doing)
	case tag.RowsAffected() == 0:
		return arena.Errorf(arena.ENOTFOUND, missing, key)
	}
	return nil
}
