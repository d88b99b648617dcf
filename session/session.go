// Package session is Arena's control plane of sessions: it accepts session
// requests, places them on the fleet's nodes, records every change of state
// in the store before acting on it, hands nodes their work and takes their
// reports, keeps their TTLs, players, logs and usage.
package session

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/fleet"
)

// Config holds what a Service is built from.
type Config struct {
	Store   arena.SessionStore
	Catalog arena.Catalog
	// Fleet is the nodes the sessions are placed on; the server attaches
	// itself to it, to hear what their changes mean for its sessions.
	Fleet  *fleet.Fleet
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rates price usage per resource profile.
	Rates []arena.Rate
	// Observer receives measurements, e.g. for Prometheus; nil takes none.
	Observer Observer
	// Events receives every session's lifecycle events, once each change is
	// in the store, e.g. for webhooks; nil sends none.
	Events EventPublisher
}

// Observer receives the control plane's measurements. metrics.Registry
// implements it.
type Observer interface {
	// Allocation measures one placement, from start, ending in err.
	Allocation(start time.Time, err error)
	// AgentConnected counts an open assignment stream until disconnected.
	AgentConnected() (disconnected func())
}

type noObserver struct{}

func (noObserver) Allocation(time.Time, error) {}
func (noObserver) AgentConnected() func()      { return func() {} }

// Service is the control plane of sessions. It is safe for concurrent use.
type Service struct {
	store   arena.SessionStore
	catalog arena.Catalog
	fleet   *fleet.Fleet
	placer  *fleet.Placer
	log     *slog.Logger
	now     func() time.Time
	obs     Observer
	events  events

	streams *nodeStreams
	logs    *logRelay
	pools   *pools

	mu       sync.Mutex
	sessions table                    // the active sessions
	creating map[string]chan struct{} // caller-chosen ids being created, closed when done

	rates  []arena.Rate
	closed chan struct{}
}

// entry is the control plane's copy of one active session. Writers hold mu and
// replace the session wholesale, so readers can load it without locking.
type entry struct {
	mu  sync.Mutex
	cur atomic.Pointer[arena.Session]
	ttl *time.Timer
	// portMoves counts the times the session was given new host ports
	// because its node found one taken; guarded by mu.
	portMoves int
}

// New returns a control plane of sessions placed on c.Fleet; Open loads
// its state.
func New(c Config) *Service {
	s := &Service{
		store: c.Store, catalog: c.Catalog, fleet: c.Fleet, placer: c.Fleet.Placer(), log: c.Logger, now: c.Now, obs: c.Observer,
		sessions: table{byID: map[string]*entry{}, byName: map[[2]string]*entry{}, pooled: map[*entry]struct{}{}}, creating: map[string]chan struct{}{}, closed: make(chan struct{}),
		rates: c.Rates, streams: newNodeStreams(),
	}
	s.logs = &logRelay{streams: map[string]*logStream{}, nodes: s.streams, knows: c.Fleet.Knows}
	s.pools = newPools(s)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.events = events{pub: c.Events, now: s.now}
	if s.obs == nil {
		s.obs = noObserver{}
	}
	c.Fleet.Attach((*fleetSessions)(s))
	if c, ok := s.catalog.(interface{ OnChange(func()) }); ok {
		// Nodes hold every application's images: tell them when the set
		// changes. And the pools follow their applications' sizes.
		c.OnChange(func() {
			s.pools.nudge()
			s.mu.Lock()
			defer s.mu.Unlock()
			s.streams.sendEach(s.fullAssignment)
		})
	}
	return s
}

// Open loads the active sessions from the store, restores what they hold
// and arms their TTL timers. The fleet is opened first: what the sessions
// hold is reserved on its nodes.
func (s *Service) Open(ctx context.Context) error {
	active, err := s.store.ListSessions(ctx, arena.SessionQuery{ActiveOnly: true})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, sess := range active {
		e := &entry{}
		e.cur.Store(sess)
		s.sessions.add(e, sess)
		s.armTTL(e, sess)
	}
	s.mu.Unlock()
	for _, sess := range active {
		if err := s.placer.Restore(sess); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
			s.log.Error("cannot restore a reservation in full", "session", sess.ID, "err", err)
		}
	}
	s.log.Info("control plane open", "active_sessions", len(active), "nodes", s.fleet.Size())
	go s.pools.run()
	return nil
}

// Close stops the TTL timers. Sessions are left as they are, to be picked
// up by the next Open.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.sessions.byID {
		if e.ttl != nil {
			e.ttl.Stop()
		}
	}
	close(s.closed)
}

// Ready reports whether the control plane can serve: placement has the
// nodes' reports it waits for after the start, and its store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.fleet.Resyncing(); err != nil {
		return err
	}
	// A look-up that finds nothing: the store answers, or it does not.
	if _, err := s.store.FindSession(ctx, ""); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
		return arena.Errorf(arena.EUNAVAILABLE, "the store does not answer: %s", arena.ErrorMessage(err))
	}
	return nil
}

// CreateSession places a new session and records it as started. It returns
// before the container runs: the node's agent starts it and reports back.
func (s *Service) CreateSession(ctx context.Context, orgID string, req arena.SessionRequest) (_ *arena.Session, err error) {
	// The wall clock, not s.now: this measures how long placing takes.
	defer func(start time.Time) { s.obs.Allocation(start, err) }(time.Now())
	if err := req.Validate(); err != nil {
		return nil, err
	}
	app, err := s.catalog.Application(orgID, req.Image)
	if err != nil {
		return nil, err
	}
	tag := req.Version
	if tag == "" {
		var ok bool
		if tag, ok = app.DefaultTag(); !ok {
			return nil, arena.Errorf(arena.ENOTFOUND, "image %q has no tag to run", app.Name)
		}
	} else if !app.HasTag(tag) {
		return nil, arena.Errorf(arena.ENOTFOUND, "version %q of image %q not found", tag, app.Name)
	}
	// Until the nodes have reported, what they can take is not known: wait
	// rather than answer that there is no room.
	if err := s.placer.Ready(ctx); err != nil {
		return nil, err
	}
	if !s.placer.Known(req.Location) {
		return nil, arena.Errorf(arena.ENOTFOUND, "location %q not found", req.Location)
	}
	name := req.ID
	fingerprint := req.Fingerprint()
	if name == "" {
		name = uuid.NewString()
	}
	id := arena.SessionKey(orgID, name)
	if req.ID != "" {
		done, existing, err := s.claim(ctx, orgID, id, name, fingerprint)
		if err != nil || existing != nil {
			return existing, err
		}
		defer done()
	}

	if sess := s.pools.take(ctx, orgID, app, tag, name, &req, fingerprint); sess != nil {
		return sess, nil
	}
	return s.start(ctx, orgID, app, tag, name, &req, fingerprint, nil)
}

// start places a new session of app at tag, named name, for req, and
// records it as started; pool is the warm pool it is made for, if any.
func (s *Service) start(ctx context.Context, orgID string, app *arena.Application, tag, name string, req *arena.SessionRequest, fingerprint string, pool *arena.PoolSpec) (*arena.Session, error) {
	id := arena.SessionKey(orgID, name)
	p, err := s.placer.Place(fleet.Request{
		SessionID: id, OrgID: orgID, Location: req.Location, Resources: app.Resources, Ports: app.Ports, Image: app.ImageRef(tag),
		Regions: app.Regions,
	})
	if arena.ErrorCode(err) == arena.ENOTFOUND {
		// The contract's 404 is a region that does not exist; one outside
		// the application's regions does not, for it.
		return nil, arena.Errorf(arena.ENOTFOUND, "image %q does not run in location %q", app.Name, req.Location)
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := &arena.Session{
		ID: id, Name: name, OrgID: orgID, ExternalID: req.ExternalID, Application: app.Name, Tag: tag, Image: app.ImageRef(tag),
		Region: p.Node.Region, Location: p.Node.Location, NodeID: p.Node.ID, Host: p.Node.PublicIP,
		Network: app.Network, Ports: p.Ports, Env: sessionEnv(app, req, name, p.Node.PublicIP, p.Ports), Args: req.Args, Labels: req.Labels,
		TTL: req.TTL, Restart: req.Restart, Resources: app.Resources, StopGrace: app.StopGrace, RequestHash: fingerprint,
		ArtifactPaths: append([]string(nil), app.ArtifactPaths...), Security: app.Security.Clone(), Readiness: app.Readiness,
		State: arena.SessionStarted, ExitCode: -1, CreatedAt: now, UpdatedAt: now,
	}
	if pool != nil {
		sess.Pool, sess.Launcher = pool.Key(), pool.EffectiveMode() == arena.PoolLaunch
	}
	// Explicit even when it is the reservation, so that a session keeps the
	// cap it started with whatever its application becomes.
	sess.Limits = app.SessionLimits()
	if len(sess.Args) == 0 {
		sess.Args = append([]string(nil), app.Args...)
	}
	if sess.Labels == nil {
		sess.Labels = map[string]string{}
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		s.placer.Release(id)
		if arena.ErrorCode(err) == arena.ECONFLICT {
			return nil, idTaken(name)
		}
		return nil, err
	}
	e := &entry{}
	e.cur.Store(sess)
	e.mu.Lock()
	s.mu.Lock()
	s.sessions.add(e, sess)
	s.armTTL(e, sess)
	s.mu.Unlock()
	s.assignToNode(sess)
	s.events.emit(sess)
	e.mu.Unlock()
	s.log.InfoContext(ctx, "session started", "session", id, "name", name, "org", orgID, "image", sess.Image, "node", sess.NodeID)
	return sess.Clone(), nil
}

// claim reserves a caller-chosen id for one create at a time. A create
// retried with the same id and request (its first answer lost, say) while
// that session is active gets the session back: creating is idempotent per
// id. Any other use of a taken id is a conflict. Otherwise the caller must
// call done once the session is in s.sessions or the create failed.
func (s *Service) claim(ctx context.Context, orgID, id, name, fingerprint string) (done func(), existing *arena.Session, err error) {
	for {
		s.mu.Lock()
		if e := s.sessions.byName[[2]string{orgID, name}]; e != nil {
			s.mu.Unlock()
			cur := e.cur.Load()
			if cur.OrgID != orgID || cur.RequestHash != fingerprint ||
				cur.State == arena.SessionStopping || cur.State == arena.SessionStopped {
				return nil, nil, idTaken(name)
			}
			return nil, cur.Clone(), nil
		}
		wait, busy := s.creating[id]
		if !busy {
			ch := make(chan struct{})
			s.creating[id] = ch
			s.mu.Unlock()
			done = func() {
				s.mu.Lock()
				delete(s.creating, id)
				s.mu.Unlock()
				close(ch)
			}
			// A stopped session keeps its id: it is only in the store.
			if _, err := s.store.FindSessionByName(ctx, orgID, name); arena.ErrorCode(err) != arena.ENOTFOUND {
				done()
				if err != nil {
					return nil, nil, err
				}
				return nil, nil, idTaken(name)
			}
			return done, nil, nil
		}
		s.mu.Unlock()
		// The same id is being created right now: its outcome decides.
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func idTaken(id string) error {
	return arena.Errorf(arena.ECONFLICT, "session id %q is taken; use a new id for a new session", id)
}

// awaitCreate waits while a create of id is under way, so that a request for
// the session that follows its creation closely sees it.
func (s *Service) awaitCreate(ctx context.Context, id string) error {
	s.mu.Lock()
	wait, busy := s.creating[id]
	s.mu.Unlock()
	if !busy {
		return nil
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sessionEnv merges the application's defaults, the caller's variables and
// Arena's own, which win so that a game server can rely on them.
func sessionEnv(app *arena.Application, req *arena.SessionRequest, id, host string, ports []arena.Port) map[string]string {
	env := make(map[string]string, len(app.Env)+len(req.Env)+2+len(ports))
	for k, v := range app.Env {
		env[k] = v
	}
	for k, v := range req.Env {
		env[k] = v
	}
	env[arena.EnvSessionID] = id
	env[arena.EnvHost] = host
	if app.Network == arena.NetworkHost {
		for _, port := range ports {
			env[arena.PortEnv(port)] = strconv.Itoa(port.Host)
		}
	}
	return env
}

// FindSession returns one of an organisation's sessions by its API id,
// stopped ones included.
func (s *Service) FindSession(ctx context.Context, orgID, id string) (*arena.Session, error) {
	if e := s.active(orgID, id); e != nil {
		if sess := e.cur.Load(); sess.Pool == "" {
			return sess.Clone(), nil
		}
		return nil, notFound(id)
	}
	sess, err := s.store.FindSessionByName(ctx, orgID, id)
	if arena.ErrorCode(err) == arena.ENOTFOUND || (err == nil && sess.Pool != "") {
		return nil, notFound(id)
	}
	return sess, err
}

// active returns the entry of one of an organisation's active sessions by
// its API id, or nil.
func (s *Service) active(orgID, id string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions.byName[[2]string{orgID, id}]
}

// table holds the active sessions by id, and again by organisation and
// the id the API knows them by (arena.Session.Name). Service.mu guards it.
type table struct {
	byID   map[string]*entry
	byName map[[2]string]*entry
	// pooled are the entries of sessions waiting in warm pools, so that a
	// create looks for one to claim among them, not among every session.
	pooled map[*entry]struct{}
}

// add makes e, of sess, an active session.
func (t *table) add(e *entry, sess *arena.Session) {
	t.byID[sess.ID] = e
	t.byName[[2]string{sess.OrgID, sess.PublicID()}] = e
	if sess.Pool != "" {
		t.pooled[e] = struct{}{}
	}
}

// remove forgets e, of sess, as an active session.
func (t *table) remove(e *entry, sess *arena.Session) {
	delete(t.byID, sess.ID)
	delete(t.byName, [2]string{sess.OrgID, sess.PublicID()})
	delete(t.pooled, e)
}

func notFound(id string) error {
	return arena.Errorf(arena.ENOTFOUND, "session %q not found", id)
}

// ListSessions returns an organisation's sessions that pass f, oldest first.
func (s *Service) ListSessions(ctx context.Context, orgID string, f arena.SessionFilter) ([]*arena.Session, error) {
	var all []*arena.Session
	if f.All {
		var err error
		if all, err = s.store.ListSessions(ctx, arena.SessionQuery{OrgID: orgID}); err != nil {
			return nil, err
		}
	} else {
		s.mu.Lock()
		for _, e := range s.sessions.byID {
			if sess := e.cur.Load(); sess.OrgID == orgID {
				all = append(all, sess)
			}
		}
		s.mu.Unlock()
	}
	out := visible(all, f)
	for i, sess := range out {
		out[i] = sess.Clone()
	}
	return out, nil
}

// visible returns the sessions of all that f matches, oldest first,
// leaving out a warm pool's, which are nobody's until claimed.
func visible(all []*arena.Session, f arena.SessionFilter) []*arena.Session {
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.Before(all[j].CreatedAt)
		}
		return all[i].ID < all[j].ID
	})
	out := make([]*arena.Session, 0, len(all))
	for _, sess := range all {
		if sess.Pool == "" && f.Match(sess) {
			out = append(out, sess)
		}
	}
	return out
}

// StopSession records the intent to stop a session and tells its node. It is
// ECONFLICT for a session that is stopping or has stopped: one stop is
// answered 204, every one after it 409, as the contract has it, however long
// the container takes to go.
func (s *Service) StopSession(ctx context.Context, orgID, id string) error {
	key := arena.SessionKey(orgID, id)
	if err := s.awaitCreate(ctx, key); err != nil {
		return err
	}
	e := s.active(orgID, id)
	if e == nil {
		sess, err := s.FindSession(ctx, orgID, id)
		if err != nil {
			return err
		}
		return arena.Errorf(arena.ECONFLICT, "session %q has already stopped (%s)", id, sess.StopReason)
	}
	return s.stop(ctx, e, arena.StopDeleted)
}

func (s *Service) stop(ctx context.Context, e *entry, reason arena.StopReason) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	switch cur.State {
	case arena.SessionStopping:
		return arena.Errorf(arena.ECONFLICT, "session %q is already stopping (%s)", cur.PublicID(), cur.StopReason)
	case arena.SessionStopped:
		return arena.Errorf(arena.ECONFLICT, "session %q has already stopped (%s)", cur.PublicID(), cur.StopReason)
	}
	next := cur.Clone()
	if err := next.Transition(arena.SessionStopping, s.now()); err != nil {
		return err
	}
	next.StopReason = reason
	if err := s.store.UpdateSession(ctx, next); err != nil {
		return err
	}
	e.cur.Store(next)
	// A session stopped before it ran is no start its node has to make.
	s.placer.StartDone(next.ID)
	s.assignToNode(next)
	s.events.emit(next) // none yet: the stopped event follows the agent's report
	s.log.InfoContext(ctx, "session stopping", "session", cur.ID, "reason", reason)
	return nil
}

// armTTL schedules the session's expiry; the caller holds s.mu, which guards e.ttl.
func (s *Service) armTTL(e *entry, sess *arena.Session) {
	if sess.TTL <= 0 || sess.State == arena.SessionStopping {
		return
	}
	id := sess.ID
	from := sess.CreatedAt
	if sess.ClaimedAt.After(from) {
		from = sess.ClaimedAt // a session claimed from a warm pool lives from then
	}
	e.ttl = time.AfterFunc(time.Until(from.Add(sess.TTL)), func() {
		select {
		case <-s.closed:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.stop(ctx, e, arena.StopTTL); err != nil && arena.ErrorCode(err) != arena.ECONFLICT {
			// Try again shortly: the ttl is a promise about billing.
			s.log.Error("cannot expire session; retrying", "session", id, "err", err)
			s.mu.Lock()
			e.ttl.Reset(time.Second)
			s.mu.Unlock()
		}
	})
}

func (s *Service) entry(id string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions.byID[id]
}

// SessionCounts returns how many active sessions are in each state in each
// location, for metrics.
func (s *Service) SessionCounts() map[[2]string]int {
	out := map[[2]string]int{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.sessions.byID {
		if sess := e.cur.Load(); sess.Pool == "" { // PoolStatus counts those
			out[[2]string{string(sess.State), sess.Location}]++
		}
	}
	return out
}

// PoolStatus returns how full an organisation's warm pools are, or every
// organisation's for "".
func (s *Service) PoolStatus(orgID string) []arena.PoolStatus {
	return s.pools.status(orgID)
}
