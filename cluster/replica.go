// Package cluster runs one replica of a control plane among several sharing
// a store: one leads at a time, by a lease the store keeps, and the others
// pass every request to it, so that a load balancer may send anything to
// any replica and a replica that fails is taken over from.
//
// A replica campaigns for the lead, builds a control plane for the term it
// wins, serves with it while the term lasts, and when the term ends (its
// lease ran out, another replica took over, or it resigned) closes it,
// forwards again and campaigns again. Who leads and for how long is the
// store's to say, through Elector: the package keeps no state of its own
// that another replica would have to agree with.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"sync"
	"sync/atomic"
	"time"
)

// LeaderStatus is who leads, as the store that keeps the lease says.
type LeaderStatus struct {
	// URL is the address of the replica that leads or led last; empty when
	// none has led yet.
	URL   string
	Epoch int64
	// Held tells that a replica leads now: its lease has not expired by the
	// store's clock. A replica whose lease has expired leads no more,
	// whatever its process believes.
	Held bool
}

// Leases tells who leads: what a replica that does not lead needs to know
// where to forward requests.
type Leases interface {
	// LeaderStatus reads who leads, without waiting for any lock: a takeover
	// under way must not hold up the requests waiting for its outcome.
	LeaderStatus(ctx context.Context) (LeaderStatus, error)
	// Lease is how long a leader's lease lasts from a renewal, which bounds
	// how long a takeover takes and so how long a request waits for one.
	Lease() time.Duration
}

// Term is one replica's time as leader. It ends when Resign is called,
// when its lease cannot be renewed in time, or when another replica has
// taken it over; Lost tells, Err says why.
type Term interface {
	// Epoch numbers the term: every new leader's is greater, so that
	// followers tell a new term of the same replica from the old one.
	Epoch() int64
	// Lost is closed when the term has ended.
	Lost() <-chan struct{}
	// Err says why the term ended, once Lost is closed; nil before, or
	// when it was resigned.
	Err() error
	// Resign ends the term and gives the lease up, so that another replica
	// takes over at once rather than once the lease expires.
	Resign()
}

// Elector hands out the lead, one term at a time.
type Elector interface {
	Leases
	// Campaign waits until self leads and returns its term; self is the
	// address other replicas forward requests to. It fails only once ctx
	// ends.
	Campaign(ctx context.Context, self string) (Term, error)
	// TryLead takes the lead if no replica holds it, once: it returns the
	// term, ErrNotLeader, or why the store could not be asked.
	TryLead(ctx context.Context, self string) (Term, error)
}

// ErrNotLeader is Elector.TryLead's answer while another replica leads.
var ErrNotLeader = errors.New("another replica leads")

// ControlPlane is what a replica serves with while it leads: it is built
// for one term and closed when that term ends, so that nothing it holds in
// memory outlives the lead it was built from.
type ControlPlane interface {
	nethttp.Handler
	// Close stops it. The replica closes it before it resigns the term, so
	// that it is stopped before another replica may lead.
	Close()
}

// Config configures a replica.
type Config struct {
	// Elector hands out the lead and tells who holds it.
	Elector Elector
	// Self is the address other replicas forward requests to while this
	// one leads.
	Self string
	// Build makes the control plane of a term this replica won. Its writes
	// are to be fenced with the term: should it still be closing when this
	// replica leads again, it must not write under the next term. An error
	// gives the term up.
	Build func(Term) (ControlPlane, error)
	// Serve is told of the control plane the replica serves with, once it
	// does, and of nil once its term has ended, before that control plane
	// closes. later is true of a term won by campaigning, after Start's
	// first try found the lead taken: Start's caller did not see that one
	// begin. Nil tells nothing.
	Serve func(cp ControlPlane, later bool)
	// Reads, when set, serves the requests ReadsLocally takes while the
	// replica follows, rather than forwarding them: the reads a store
	// shared with the leader answers as well as the leader, so that
	// polling clients spread over the replicas.
	Reads        nethttp.Handler
	ReadsLocally func(*nethttp.Request) bool
	// Logger receives the changes of the lead; nil discards them.
	Logger *slog.Logger
}

// Replica is one running replica: it serves every request with the control
// plane of its term while it leads, and forwards it to the replica that
// leads otherwise.
type Replica struct {
	cfg     Config
	log     *slog.Logger
	forward *forwarder
	// handler serves what reaches the replica: the control plane's while
	// it leads, the forwarder's while it follows.
	handler atomic.Pointer[nethttp.Handler]
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// rebuildPause is how long a replica that could not build a control plane
// for a term it won leaves the lead to the others before it campaigns
// again: one that is healthy should have it.
const rebuildPause = 5 * time.Second

// Start starts a replica: it tries for the lead once, within ctx, then
// follows and campaigns in the background until Close. A replica that can
// lead at once does so before Start returns, so that what the control
// plane of a first start makes is known to Start's caller.
func Start(ctx context.Context, cfg Config) (*Replica, error) {
	r := &Replica{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.forward = newForwarder(cfg.Elector, cfg.Self, r.log)
	if cfg.Reads != nil && cfg.ReadsLocally != nil {
		r.forward.reads, r.forward.readsLocally = cfg.Reads, cfg.ReadsLocally
	}
	r.set(r.forward)
	term, err := cfg.Elector.TryLead(ctx, cfg.Self)
	if err != nil && !errors.Is(err, ErrNotLeader) {
		return nil, fmt.Errorf("asking the database for the lead: %w", err)
	}
	var cp ControlPlane
	if err == nil {
		if cp, err = cfg.Build(term); err != nil {
			term.Resign()
			return nil, err
		}
		r.lead(cp, false)
	} else {
		term = nil
	}
	replicaCtx, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.wg.Go(func() { r.forward.watch(replicaCtx) })
	r.wg.Go(func() { r.replicate(replicaCtx, term, cp) })
	return r, nil
}

// ServeHTTP serves r with the control plane while the replica leads, and
// forwards it to the leader otherwise.
func (r *Replica) ServeHTTP(w nethttp.ResponseWriter, req *nethttp.Request) {
	(*r.handler.Load()).ServeHTTP(w, req)
}

// Close ends the campaign, closes the control plane and resigns the lead,
// so that another replica takes over at once; requests still forwarded are
// ended.
func (r *Replica) Close() {
	r.stop()
	r.wg.Wait()
}

func (r *Replica) set(h nethttp.Handler) { r.handler.Store(&h) }

// lead serves with cp, the requests that wait for a leader in the
// forwarder included.
func (r *Replica) lead(cp ControlPlane, later bool) {
	r.set(cp)
	r.forward.serveLocally(cp)
	if r.cfg.Serve != nil {
		r.cfg.Serve(cp, later)
	}
}

// replicate leads while term lasts, then campaigns again, forwarding
// requests to the leader in between, until ctx ends; cp is term's control
// plane.
func (r *Replica) replicate(ctx context.Context, term Term, cp ControlPlane) {
	for {
		if term == nil {
			var err error
			if term, err = r.cfg.Elector.Campaign(ctx, r.cfg.Self); err != nil {
				return // ctx ended
			}
			if cp, err = r.cfg.Build(term); err != nil {
				r.log.Error("cannot take the lead", "err", err)
				term.Resign()
				term = nil
				// Let a healthy replica have the lead it just gave up,
				// rather than taking it back at once.
				select {
				case <-ctx.Done():
					return
				case <-time.After(rebuildPause):
				}
				continue
			}
			r.log.Info("leading", "epoch", term.Epoch())
			r.lead(cp, true)
		}
		select {
		case <-term.Lost():
			r.log.Warn("lost the lead; following", "epoch", term.Epoch(), "reason", term.Err())
		case <-ctx.Done():
		}
		r.forward.serveLocally(nil)
		r.set(r.forward)
		if r.cfg.Serve != nil {
			r.cfg.Serve(nil, false)
		}
		cp.Close()
		cp = nil
		term.Resign()
		term = nil
		if ctx.Err() != nil {
			return
		}
	}
}
