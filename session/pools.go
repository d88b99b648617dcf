package session

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
)

// Warm pools keep sessions of an application started and ready ahead of
// the creates that claim them: a claim answers with a session that is
// running already, and the pool replenishes behind it. A pooled session is
// a session like any other, placed, booked (ports and resources, and the
// organisation's quota) and started by its node's agent, except that it
// belongs to no caller yet: the API does not list it and webhooks do not
// tell of it. A claim makes it the caller's under the caller's id; it is
// billed, and its TTL counts, from the claim. Its container started before
// the request, so the request's env and args do not apply; its labels,
// external id and TTL do.

// poolLook is how often the pools are topped up whatever happened: a
// session a pool could not place for want of room is tried again.
const poolLook = 2 * time.Second

// pools keeps the warm pools of the catalog's applications filled.
type pools struct {
	s    *Service
	kick chan struct{}
}

func newPools(s *Service) *pools {
	return &pools{s: s, kick: make(chan struct{}, 1)}
}

// nudge asks for the pools to be topped up soon.
func (p *pools) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run tops the pools up, and shrinks them, once placement is ready, then
// on every nudge and every poolLook, until the service closes.
func (p *pools) run() {
	// Without pools too: the sessions of a pool removed from the
	// configuration are stopped.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.s.closed
		cancel()
	}()
	if err := p.s.placer.Ready(ctx); err != nil {
		return
	}
	t := time.NewTicker(poolLook)
	defer t.Stop()
	for {
		p.fill(ctx)
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-t.C:
		}
	}
}

// fill starts what each pool lacks of its size, and stops what it holds
// beyond, and the sessions of pools no longer configured, which would
// hold their ports and resources for nothing.
func (p *pools) fill(ctx context.Context) {
	specs := p.s.catalog.Pools()
	p.shrink(ctx, specs)
	for _, spec := range specs {
		have, tag := 0, p.tag(spec)
		p.s.mu.Lock()
		for e := range p.s.sessions.pooled {
			if sess := e.cur.Load(); sess.OrgID == spec.OrgID && sess.Pool == spec.Key() && sess.Tag == tag && sess.State != arena.SessionStopping {
				have++
			}
		}
		p.s.mu.Unlock()
		for ; have < spec.Size && ctx.Err() == nil; have++ {
			if err := p.add(ctx, spec); err != nil {
				p.s.log.Warn("cannot fill a warm pool; trying again shortly", "org", spec.OrgID, "pool", spec.Key(), "err", err)
				break
			}
		}
	}
}

// shrink stops the pooled sessions beyond their pool's size, those not
// ready first, and those of pools not configured any more.
func (p *pools) shrink(ctx context.Context, specs []arena.PoolSpec) {
	size, tags := map[[2]string]int{}, map[[2]string]string{}
	for _, spec := range specs {
		k := [2]string{spec.OrgID, spec.Key()}
		size[k] += spec.Size
		tags[k] = p.tag(spec)
	}
	byPool := map[[2]string][]*entry{}
	p.s.mu.Lock()
	for e := range p.s.sessions.pooled {
		sess := e.cur.Load()
		if sess.Pool == "" || sess.State == arena.SessionStopping {
			continue
		}
		k := [2]string{sess.OrgID, sess.Pool}
		if tag, ok := tags[k]; ok && sess.Tag != tag {
			// Of a tag the pool runs no more (the application's default
			// changed): no create would claim it.
			k[1] += " (stale)"
		}
		byPool[k] = append(byPool[k], e)
	}
	p.s.mu.Unlock()
	for k, entries := range byPool {
		extra := len(entries) - size[k]
		if extra <= 0 {
			continue
		}
		// The ones not ready first: they are the furthest from serving.
		slices.SortFunc(entries, func(a, b *entry) int {
			ra, rb := a.cur.Load().State == arena.SessionRunning, b.cur.Load().State == arena.SessionRunning
			switch {
			case ra == rb:
				return 0
			case rb:
				return -1
			}
			return 1
		})
		for _, e := range entries[:extra] {
			if err := p.s.stop(ctx, e, arena.StopDeleted); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
				p.s.log.Warn("cannot stop a session beyond its warm pool's size", "pool", k[1], "err", err)
			}
		}
		p.s.log.Info("warm pool shrunk", "org", k[0], "pool", k[1], "stopped", extra)
	}
}

// tag returns the tag the pool of spec runs now: its own, or its
// application's default; "" when there is none.
func (p *pools) tag(spec arena.PoolSpec) string {
	if spec.Tag != "" {
		return spec.Tag
	}
	app, err := p.s.catalog.Application(spec.OrgID, spec.Application)
	if err != nil {
		return ""
	}
	tag, _ := app.DefaultTag()
	return tag
}

// add starts one session for the pool of spec.
func (p *pools) add(ctx context.Context, spec arena.PoolSpec) error {
	app, err := p.s.catalog.Application(spec.OrgID, spec.Application)
	if err != nil {
		return err
	}
	tag := p.tag(spec)
	if tag == "" {
		return arena.Errorf(arena.ENOTFOUND, "image %q has no tag to run", app.Name)
	}
	req := &arena.SessionRequest{Location: spec.Location, Image: app.Name, Version: tag}
	_, err = p.s.start(ctx, spec.OrgID, app, tag, "pool-"+uuid.NewString(), req, "", &spec)
	return err
}

// take claims a ready session of the organisation's pool of app at tag in
// req's location for a create named name, and returns it as the create's
// answer; nil when the pool has none ready.
func (p *pools) take(ctx context.Context, orgID string, app *arena.Application, tag, name string, req *arena.SessionRequest, fingerprint string) *arena.Session {
	if len(app.Pools) == 0 {
		return nil // the hot path of every create: no pool, no look
	}
	for {
		found := p.ready(orgID, app.Name, tag, req.Location)
		if found == nil {
			return nil
		}
		found.mu.Lock()
		if cur := found.cur.Load(); cur.Pool != "" && cur.State == arena.SessionRunning {
			defer found.mu.Unlock()
			return p.claim(ctx, found, cur, app, name, req, fingerprint)
		}
		// Claimed by another create, or stopped, meanwhile: it has left
		// the pool; look again.
		found.mu.Unlock()
	}
}

// ready returns a ready session of the organisation's pool of app at tag
// in location (or region), or nil: of those, the one on the node placement
// prefers, as a cold start would have gone to the best node.
func (p *pools) ready(orgID, app, tag, location string) *entry {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	var best *entry
	for e := range p.s.sessions.pooled {
		sess := e.cur.Load()
		if sess.OrgID == orgID && sess.Application == app && sess.Tag == tag &&
			sess.State == arena.SessionRunning && (sess.Location == location || sess.Region == location) &&
			(best == nil || p.s.placer.CompareNodes(sess.NodeID, best.cur.Load().NodeID) < 0) {
			best = e
		}
	}
	return best
}

// claim makes found, of cur, the create's session; the caller holds
// found.mu. nil when the store cannot take the claim: the create then
// starts cold.
func (p *pools) claim(ctx context.Context, found *entry, cur *arena.Session, app *arena.Application, name string, req *arena.SessionRequest, fingerprint string) *arena.Session {
	now := p.s.now()
	next := cur.Clone()
	next.Name, next.ExternalID, next.RequestHash = name, req.ExternalID, fingerprint
	next.Labels, next.TTL, next.Restart = req.Labels, req.TTL, req.Restart
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	if next.Launcher {
		// Its game server starts now, in the launcher: with the
		// request's env and args, and the caller's id, as a cold start.
		next.Env = sessionEnv(app, req, name, next.Host, next.Ports)
		next.Args = slices.Clone(req.Args)
		if len(next.Args) == 0 {
			next.Args = slices.Clone(app.Args)
		}
	}
	// Billed from the claim, or from the readiness after it: the pool's
	// idle time is not the caller's.
	if err := next.Claim(now); err != nil {
		return nil
	}
	if err := p.s.store.UpdateSession(ctx, next); err != nil {
		p.s.log.Warn("cannot claim a session of a warm pool; starting one", "session", cur.ID, "err", err)
		return nil
	}
	p.s.mu.Lock()
	p.s.sessions.remove(found, cur)
	p.s.sessions.add(found, next)
	found.cur.Store(next)
	if found.ttl != nil {
		found.ttl.Stop()
		found.ttl = nil
	}
	p.s.armTTL(found, next)
	p.s.mu.Unlock()
	p.s.assignToNode(next)
	if next.State == arena.SessionRunning {
		started := next.Clone()
		started.State = arena.SessionStarted
		p.s.events.emit(started)
	}
	p.s.events.emit(next)
	p.s.log.InfoContext(ctx, "session claimed from a warm pool", "session", next.ID, "name", name, "org", next.OrgID, "image", next.Image, "node", next.NodeID)
	p.nudge()
	return next.Clone()
}

// status returns how full the organisation's pools are (every
// organisation's for ""), in the catalog's order.
func (p *pools) status(orgID string) []arena.PoolStatus {
	var out []arena.PoolStatus
	at := map[[2]string]int{}
	for _, spec := range p.s.catalog.Pools() {
		if orgID == "" || spec.OrgID == orgID {
			at[[2]string{spec.OrgID, spec.Key()}] = len(out)
			out = append(out, arena.PoolStatus{PoolSpec: spec})
		}
	}
	tags := make([]string, len(out))
	for i := range out {
		tags[i] = p.tag(out[i].PoolSpec)
	}
	p.s.mu.Lock()
	for e := range p.s.sessions.pooled {
		sess := e.cur.Load()
		i, ok := at[[2]string{sess.OrgID, sess.Pool}]
		if !ok || sess.Tag != tags[i] || sess.State == arena.SessionStopping {
			continue // on its way out of the pool
		}
		st := &out[i]
		j := slices.IndexFunc(st.Nodes, func(n arena.PoolNodeStatus) bool { return n.NodeID == sess.NodeID })
		if j < 0 {
			j = len(st.Nodes)
			st.Nodes = append(st.Nodes, arena.PoolNodeStatus{NodeID: sess.NodeID})
		}
		if sess.State == arena.SessionRunning {
			st.Ready++
			st.Nodes[j].Ready++
		} else {
			st.Warming++
			st.Nodes[j].Warming++
		}
	}
	p.s.mu.Unlock()
	for i := range out {
		slices.SortFunc(out[i].Nodes, func(a, b arena.PoolNodeStatus) int { return cmp.Compare(a.NodeID, b.NodeID) })
	}
	return out
}
