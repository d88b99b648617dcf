package main

import (
	"context"
	"errors"
	"time"

	"github.com/arena-hq/arena/cluster"
	"github.com/arena-hq/arena/postgres"
)

// pgElector is the PostgreSQL store as the replicas' elector: the store
// answers with terms and statuses of its own types, which the cluster
// package does not know, so that neither package imports the other.
type pgElector struct{ pg *postgres.Store }

var _ cluster.Elector = pgElector{}

func (e pgElector) Campaign(ctx context.Context, self string) (cluster.Term, error) {
	t, err := e.pg.Campaign(ctx, self)
	if err != nil {
		return nil, err
	}
	return pgTerm{t}, nil
}

func (e pgElector) TryLead(ctx context.Context, self string) (cluster.Term, error) {
	t, err := e.pg.TryLead(ctx, self)
	switch {
	case errors.Is(err, postgres.ErrNotLeader):
		return nil, cluster.ErrNotLeader
	case err != nil:
		return nil, err
	}
	return pgTerm{t}, nil
}

func (e pgElector) LeaderStatus(ctx context.Context) (cluster.LeaderStatus, error) {
	ls, err := e.pg.LeaderStatus(ctx)
	return cluster.LeaderStatus{URL: ls.URL, Epoch: ls.Epoch, Held: ls.Held}, err
}

func (e pgElector) Lease() time.Duration { return e.pg.Lease() }

// pgTerm is a replica's term on the PostgreSQL store: the control plane built
// for it writes through the store's view fenced with it (postgres.Store.Under).
type pgTerm struct{ *postgres.Term }

var _ cluster.Term = pgTerm{}

func (t pgTerm) Epoch() int64 { return t.Term.Epoch }
