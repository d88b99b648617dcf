package main

import (
	"context"
	"errors"
	"time"

	"github.com/arena-hq/arena/cluster"
	"github.com/arena-hq/arena/postgres"
)

// elector is the PostgreSQL store as the replicas' elector: the store
// answers with terms and statuses of its own types, which the cluster
// package does not know, so that neither package imports the other.
type elector struct{ pg *postgres.Store }

func (e elector) Campaign(ctx context.Context, self string) (cluster.Term, error) {
	t, err := e.pg.Campaign(ctx, self)
	if err != nil {
		return nil, err
	}
	return term{t}, nil
}

func (e elector) TryLead(ctx context.Context, self string) (cluster.Term, error) {
	t, err := e.pg.TryLead(ctx, self)
	switch {
	case errors.Is(err, postgres.ErrNotLeader):
		return nil, cluster.ErrNotLeader
	case err != nil:
		return nil, err
	}
	return term{t}, nil
}

func (e elector) LeaderStatus(ctx context.Context) (cluster.LeaderStatus, error) {
	ls, err := e.pg.LeaderStatus(ctx)
	return cluster.LeaderStatus{URL: ls.URL, Epoch: ls.Epoch, Held: ls.Held}, err
}

func (e elector) Lease() time.Duration { return e.pg.Lease() }

// term is a replica's term on the PostgreSQL store: the control plane built
// for it writes through the store's view fenced with it (postgres.Store.Under).
type term struct{ *postgres.Term }

func (t term) Epoch() int64 { return t.Term.Epoch }
