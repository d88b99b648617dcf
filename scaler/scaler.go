package scaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/internal/failpoint"
	"github.com/arena-hq/arena/webhook"
)

// Fleet is what the scaler asks of the nodes (fleet.Fleet implements it).
type Fleet interface {
	// Nodes returns every node with its health and use.
	Nodes() []arena.NodeStatus
	// DrainNode stops or resumes placement on a node.
	DrainNode(ctx context.Context, nodeID string, drain bool) error
	// RemoveNode forgets a node: ECONFLICT while it has active sessions.
	RemoveNode(ctx context.Context, nodeID string) error
	// Waiting counts the region's creates refused for want of room within
	// the last within and not placed since, and what they reserve.
	Waiting(region string, within time.Duration) (int, arena.Resources)
}

// Config holds what a Scaler is built from.
type Config struct {
	Store   arena.MachineStore
	Fleet   Fleet
	Catalog arena.Catalog
	// Settings gives the policies and the providers' drivers at every
	// look (Settings implements it). Without it, Providers and Policies
	// are fixed.
	Settings  Source
	Providers map[string]arena.Provider
	Policies  []arena.ScalingPolicy
	// Events receives node.added when a machine's node joins and
	// node.retired when the machine of a node that had joined is deleted,
	// for the endpoints of EventsOrg; nil sends none.
	Events    EventPublisher
	EventsOrg string
	// Installation labels the machines, so that reconciling touches only
	// this installation's.
	Installation string
	// Servers are the control plane's URLs new agents join; AgentURL is
	// where their boot script fetches the arena binary (empty: the image
	// has it).
	Servers  []string
	AgentURL string
	// Interval is how often the scaler looks (2s when zero); CallTimeout
	// bounds each provider call (1 min); Backoff is how long a failing
	// provider is first passed over (1 min), doubling up to 16 times it.
	Interval, CallTimeout, Backoff time.Duration
	// JoinTokenLife is how long a machine's join token admits it; the
	// policy's join timeout, or 15 min, when zero.
	JoinTokenLife time.Duration
	Logger        *slog.Logger
	// Observer receives measurements (metrics.Registry); nil takes none.
	Observer Observer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// EventPublisher receives the scaler's node events (webhook.Dispatcher
// implements it).
type EventPublisher interface {
	Publish(webhook.Event)
}

// Source gives the scaling policies and the providers' drivers; an error
// with results is a provider left out, and the rest is used.
type Source interface {
	Current(ctx context.Context) ([]arena.ScalingPolicy, map[string]arena.Provider, error)
}

// staticSource is the fixed settings of a Config without a Source.
type staticSource struct {
	policies  []arena.ScalingPolicy
	providers map[string]arena.Provider
}

func (s staticSource) Current(context.Context) ([]arena.ScalingPolicy, map[string]arena.Provider, error) {
	return s.policies, s.providers, nil
}

// Observer receives the scaler's measurements.
type Observer interface {
	// MachineOrdered counts an order from provider; err is its refusal.
	MachineOrdered(provider string, err error)
	// MachineJoined measures a machine's order to its node joining.
	MachineJoined(provider string, seconds float64)
}

type noObserver struct{}

func (noObserver) MachineOrdered(string, error)  {}
func (noObserver) MachineJoined(string, float64) {}

// provisioningGrace is how long past its call's timeout an order recorded
// and not seen at its provider waits before it is failed: the provider's
// list may lag its creates a little.
const provisioningGrace = 10 * time.Second

// maxDecisions is how many recent decisions the scaler keeps to show.
const maxDecisions = 100

// Scaler carries out the plans of the scaling policies. The leader runs
// it; every intent is in the store before the provider call it names, so
// that a new leader carries on, and reconciling against the providers'
// labelled machines deletes what the store does not know.
type Scaler struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	// mu guards what the visibility methods read; a round runs alone.
	mu        sync.Mutex
	round     sync.Mutex
	idleSince map[string]time.Time
	backoff   map[string]providerBackoff
	lastUp    map[string]time.Time
	lastDown  map[string]time.Time
	decisions []arena.ScalingDecision

	// policies and providers are the settings of the round running.
	policies  []arena.ScalingPolicy
	providers map[string]arena.Provider
}

type providerBackoff struct {
	until    time.Time
	failures int
}

// New returns a scaler of cfg.
func New(cfg Config) *Scaler {
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = time.Minute
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Minute
	}
	s := &Scaler{cfg: cfg, log: cfg.Logger, now: cfg.Now, idleSince: map[string]time.Time{}, backoff: map[string]providerBackoff{},
		lastUp: map[string]time.Time{}, lastDown: map[string]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.Observer == nil {
		s.cfg.Observer = noObserver{}
	}
	if s.cfg.Settings == nil {
		s.cfg.Settings = staticSource{policies: cfg.Policies, providers: cfg.Providers}
	}
	return s
}

// Run reconciles with the providers, then plans and acts every interval
// until ctx ends; it reconciles again every so often, to catch machines
// made behind its back or left by a failed delete.
func (s *Scaler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for n := 0; ; n++ {
		if n%30 == 0 {
			s.Reconcile(ctx)
		}
		s.Step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Decisions returns the recent decisions, oldest first.
func (s *Scaler) Decisions() []arena.ScalingDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arena.ScalingDecision(nil), s.decisions...)
}

// Status returns the policies, the machines and the recent decisions.
func (s *Scaler) Status(ctx context.Context) (arena.ScalingStatus, error) {
	machines, err := s.cfg.Store.ListMachines(ctx)
	if err != nil {
		return arena.ScalingStatus{}, err
	}
	policies, _, err := s.cfg.Settings.Current(ctx)
	if policies == nil && err != nil {
		return arena.ScalingStatus{}, err
	}
	return arena.ScalingStatus{Policies: policies, Machines: machines, Decisions: s.Decisions()}, nil
}

func (s *Scaler) decided(d arena.ScalingDecision, err error) {
	d.At = s.now()
	if err != nil {
		d.Err = arena.ErrorMessage(err)
		s.log.Warn("the scaler's step failed", "region", d.Region, "kind", d.Kind, "node", d.NodeID, "provider", d.Provider, "reason", d.Reason, "err", err)
	} else {
		s.log.Info("the scaler acted", "region", d.Region, "kind", d.Kind, "node", d.NodeID, "provider", d.Provider, "reason", d.Reason)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decisions = append(s.decisions, d)
	if len(s.decisions) > maxDecisions {
		s.decisions = s.decisions[len(s.decisions)-maxDecisions:]
	}
}

// Step is one look: it records the machines whose nodes joined, then
// plans each region and carries the plan out.
func (s *Scaler) Step(ctx context.Context) {
	s.round.Lock()
	defer s.round.Unlock()
	machines, err := s.cfg.Store.ListMachines(ctx)
	if err != nil {
		s.log.Warn("the scaler cannot read its machines", "err", err)
		return
	}
	if !s.load(ctx) {
		return
	}
	nodes := s.cfg.Fleet.Nodes()
	now := s.now()
	byID := map[string]arena.NodeStatus{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	s.mu.Lock()
	for _, m := range machines {
		n, ok := byID[m.NodeID]
		switch {
		case !ok || !m.State.Live():
			delete(s.idleSince, m.NodeID)
		case n.Sessions+n.Pending > 0:
			delete(s.idleSince, m.NodeID)
		case s.idleSince[m.NodeID].IsZero():
			s.idleSince[m.NodeID] = now
		}
	}
	s.mu.Unlock()
	for _, m := range machines {
		if n, ok := byID[m.NodeID]; ok && n.State == "ready" && (m.State == arena.MachineJoining || m.State == arena.MachineProvisioning) {
			next := *m
			next.State, next.Reason, next.UpdatedAt = arena.MachineReady, "its node joined", now
			if next.JoinedAt.IsZero() {
				next.JoinedAt = now
			}
			if err := s.cfg.Store.UpdateMachine(ctx, &next); err != nil {
				s.log.Warn("cannot record that a machine joined", "node", m.NodeID, "err", err)
				continue
			}
			*m = next
			s.mu.Lock()
			delete(s.backoff, m.Provider) // it works again
			s.mu.Unlock()
			s.log.Info("a cloud machine joined", "node", m.NodeID, "provider", m.Provider, "after", now.Sub(m.CreatedAt))
			s.cfg.Observer.MachineJoined(m.Provider, now.Sub(m.CreatedAt).Seconds())
			s.publish(webhook.EventNodeAdded, m)
		}
	}
	scaled := map[string]bool{}
	for _, p := range s.policies {
		scaled[p.Region] = true
		s.plan(ctx, p, nodes, machines, now)
	}
	// A region no longer scaled keeps no cloud node: each is drained
	// once idle and retired once empty, as under a policy of no minimum,
	// no buffer and nothing to order.
	var unscaled []string
	for _, m := range machines {
		if m.State.Live() && !scaled[m.Region] && !slices.Contains(unscaled, m.Region) {
			unscaled = append(unscaled, m.Region)
		}
	}
	slices.Sort(unscaled)
	for _, region := range unscaled {
		s.plan(ctx, arena.ScalingPolicy{Region: region, JoinTimeout: arena.DefaultJoinTimeout}, nodes, machines, now)
	}
}

// load reads the settings for a round; false when there are none to use.
func (s *Scaler) load(ctx context.Context) bool {
	policies, providers, err := s.cfg.Settings.Current(ctx)
	if err != nil {
		s.log.Warn("the scaler cannot read all of its settings", "err", err)
		if policies == nil {
			return false
		}
	}
	s.policies, s.providers = policies, providers
	return true
}

func (s *Scaler) plan(ctx context.Context, p arena.ScalingPolicy, nodes []arena.NodeStatus, machines []*arena.CloudMachine, now time.Time) {
	// A refused create is retried by its caller; what was refused over the
	// last few looks waits for room.
	snap := Snapshot{Now: now, Policy: p, Unit: s.unit(p)}
	snap.Waiting, snap.WaitingRoom = s.cfg.Fleet.Waiting(p.Region, max(10*time.Second, 3*s.cfg.Interval))
	for _, n := range nodes {
		if n.Region == p.Region {
			snap.Nodes = append(snap.Nodes, n)
		}
	}
	for _, m := range machines {
		if m.Region == p.Region {
			snap.Machines = append(snap.Machines, m)
		}
	}
	s.mu.Lock()
	snap.IdleSince, snap.BackedOff = map[string]time.Time{}, map[string]time.Time{}
	for k, v := range s.idleSince {
		snap.IdleSince[k] = v
	}
	for k, v := range s.backoff {
		snap.BackedOff[k] = v.until
	}
	snap.LastUp, snap.LastDown = s.lastUp[p.Region], s.lastDown[p.Region]
	s.mu.Unlock()
	byNode := map[string]*arena.CloudMachine{}
	for _, m := range snap.Machines {
		byNode[m.NodeID] = m
	}
	for _, a := range Plan(snap) {
		d := arena.ScalingDecision{Region: p.Region, Kind: string(a.Kind), NodeID: a.NodeID, Provider: a.Offer.Provider, Reason: a.Reason}
		var err error
		switch a.Kind {
		case Provision:
			d.NodeID, err = s.provision(ctx, p, a)
		case Drain:
			d.Provider = byNode[a.NodeID].Provider
			err = s.drain(ctx, byNode[a.NodeID], true, a.Reason)
		case Resume:
			d.Provider = byNode[a.NodeID].Provider
			err = s.drain(ctx, byNode[a.NodeID], false, a.Reason)
		case Retire:
			d.Provider = byNode[a.NodeID].Provider
			err = s.retire(ctx, p, byNode[a.NodeID], a.Reason)
		case Abandon:
			d.Provider = byNode[a.NodeID].Provider
			err = s.abandon(ctx, byNode[a.NodeID], a.Reason)
		}
		s.decided(d, err)
	}
}

// unit returns a session of the policy's buffer application.
func (s *Scaler) unit(p arena.ScalingPolicy) Unit {
	if p.Buffer.Sessions == 0 || s.cfg.Catalog == nil {
		return Unit{}
	}
	app, err := s.cfg.Catalog.Application(p.Buffer.OrgID, p.Buffer.Application)
	if err != nil {
		s.log.Warn("the scaling buffer names an unknown application; counting a session as a core", "region", p.Region, "application", p.Buffer.Application)
		return Unit{Resources: arena.Resources{MilliCPU: 1000, MemoryMB: 1024}, Ports: 1}
	}
	return Unit{Resources: app.Resources, Ports: len(app.Ports)}
}

// provision records a machine of a's offer, then orders it; the returned
// node id names it.
func (s *Scaler) provision(ctx context.Context, p arena.ScalingPolicy, a Action) (string, error) {
	o := a.Offer
	prov, ok := s.providers[o.Provider]
	if !ok {
		return "", arena.Errorf(arena.EINVALID, "no provider %q is configured", o.Provider)
	}
	now := s.now()
	nodeID := o.Provider + "-" + randomID()
	token := arena.NewTokenSecret()
	life := s.cfg.JoinTokenLife
	if life == 0 {
		life = max(p.JoinTimeout, 15*time.Minute)
	}
	m := &arena.CloudMachine{NodeID: nodeID, Region: p.Region, Provider: o.Provider, InstanceType: o.InstanceType,
		State: arena.MachineProvisioning, Reason: a.Reason, CostPerHour: o.CostPerHour, Capacity: o.Capacity,
		JoinTokenHash: arena.HashToken(token), JoinExpires: now.Add(life), CreatedAt: now, UpdatedAt: now}
	if err := s.cfg.Store.CreateMachine(ctx, m); err != nil {
		return nodeID, err
	}
	failpoint.Crash("scaler-recorded")
	s.mu.Lock()
	s.lastUp[p.Region] = now
	s.mu.Unlock()
	boot := arena.MachineBoot{Servers: s.cfg.Servers, JoinToken: token, NodeID: nodeID, Region: p.Region, Location: o.Location,
		Provider: o.Provider, Capacity: o.Capacity, AgentURL: s.cfg.AgentURL}
	spec := arena.MachineSpec{Name: "arena-" + nodeID, NodeID: nodeID, Region: o.Region, InstanceType: o.InstanceType, Image: o.Image,
		UserData: UserData(boot), Boot: boot, Labels: s.labels(nodeID)}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	got, err := prov.Create(cctx, spec)
	cancel()
	failpoint.Crash("scaler-ordered")
	s.cfg.Observer.MachineOrdered(o.Provider, err)
	next := *m
	next.UpdatedAt = s.now()
	if err != nil {
		next.State, next.Reason = arena.MachineFailed, "the provider refused it: "+arena.ErrorMessage(err)
		s.backOff(o.Provider)
	} else {
		next.State, next.ProviderID = arena.MachineJoining, got.ID
	}
	if uerr := s.cfg.Store.UpdateMachine(ctx, &next); uerr != nil && err == nil {
		err = uerr // reconciling adopts the machine by its labels
	}
	return nodeID, err
}

// drain records that m drains (or takes sessions again), then tells the
// fleet.
func (s *Scaler) drain(ctx context.Context, m *arena.CloudMachine, drain bool, why string) error {
	next := *m
	next.State, next.Reason, next.UpdatedAt = arena.MachineDraining, why, s.now()
	if !drain {
		next.State = arena.MachineReady
	}
	if err := s.cfg.Store.UpdateMachine(ctx, &next); err != nil {
		return err
	}
	return s.cfg.Fleet.DrainNode(ctx, m.NodeID, drain)
}

// retire records that m is deleted, removes its node, then deletes the
// machine; a node that took a session meanwhile goes back to draining.
func (s *Scaler) retire(ctx context.Context, p arena.ScalingPolicy, m *arena.CloudMachine, why string) error {
	next := *m
	next.State, next.Reason, next.UpdatedAt = arena.MachineDeleting, why, s.now()
	if err := s.cfg.Store.UpdateMachine(ctx, &next); err != nil {
		return err
	}
	if err := s.cfg.Fleet.RemoveNode(ctx, m.NodeID); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
		next.State, next.Reason = arena.MachineDraining, "its node still has sessions"
		_ = s.cfg.Store.UpdateMachine(ctx, &next)
		return err
	}
	s.mu.Lock()
	s.lastDown[p.Region] = s.now()
	s.mu.Unlock()
	return s.delete(ctx, &next, arena.MachineDeleted, why)
}

// abandon gives up a machine that did not join: its provider is passed
// over for a while, and the machine deleted.
func (s *Scaler) abandon(ctx context.Context, m *arena.CloudMachine, why string) error {
	next := *m
	next.State, next.Reason, next.UpdatedAt = arena.MachineDeleting, why, s.now()
	if err := s.cfg.Store.UpdateMachine(ctx, &next); err != nil {
		return err
	}
	s.backOff(m.Provider)
	if err := s.cfg.Fleet.RemoveNode(ctx, m.NodeID); err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
		s.log.Warn("cannot remove the node of an abandoned machine", "node", m.NodeID, "err", err)
	}
	return s.delete(ctx, &next, arena.MachineFailed, why)
}

// delete deletes m, recorded as deleting, at its provider and records it
// in state then; a machine the provider does not know is deleted.
func (s *Scaler) delete(ctx context.Context, m *arena.CloudMachine, state arena.MachineState, why string) error {
	if m.ProviderID != "" {
		prov, ok := s.providers[m.Provider]
		if !ok {
			return arena.Errorf(arena.EINVALID, "no provider %q is configured", m.Provider)
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		err := prov.Delete(cctx, m.ProviderID)
		cancel()
		if err != nil && arena.ErrorCode(err) != arena.ENOTFOUND {
			return err // still deleting: the next reconcile tries again
		}
	}
	m.State, m.Reason, m.UpdatedAt = state, why, s.now()
	return s.deleted(ctx, m)
}

// deleted records m, whose machine is gone, and tells of a node retired.
func (s *Scaler) deleted(ctx context.Context, m *arena.CloudMachine) error {
	if err := s.cfg.Store.UpdateMachine(ctx, m); err != nil {
		return err
	}
	if m.State == arena.MachineDeleted && !m.JoinedAt.IsZero() {
		s.publish(webhook.EventNodeRetired, m)
	}
	return nil
}

// publish tells the configured organisation of m's event.
func (s *Scaler) publish(typ string, m *arena.CloudMachine) {
	if s.cfg.Events != nil && s.cfg.EventsOrg != "" {
		s.cfg.Events.Publish(webhook.NodeEvent(typ, m, s.cfg.EventsOrg, s.now()))
	}
}

// backOff passes a failing provider over, for longer each time in a row.
func (s *Scaler) backOff(provider string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.backoff[provider]
	b.failures++
	b.until = s.now().Add(s.cfg.Backoff << min(b.failures-1, 4))
	s.backoff[provider] = b
}

func (s *Scaler) labels(nodeID string) map[string]string {
	return map[string]string{arena.MachineLabelInstallation: s.cfg.Installation, arena.MachineLabelNode: nodeID}
}

// Reconcile compares each provider's machines of this installation with
// the store: a machine the store does not know, or has as deleted or
// failed, is deleted; a machine whose order was recorded and not its
// answer (the leader stopped in between) is adopted; a recorded order the
// provider never got is failed, and a delete that did not finish is done.
func (s *Scaler) Reconcile(ctx context.Context) {
	s.round.Lock()
	defer s.round.Unlock()
	machines, err := s.cfg.Store.ListMachines(ctx)
	if err != nil {
		s.log.Warn("the scaler cannot read its machines", "err", err)
		return
	}
	if !s.load(ctx) {
		return
	}
	records := map[string]*arena.CloudMachine{}
	for _, m := range machines {
		records[m.NodeID] = m
	}
	for name, prov := range s.providers {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		listed, err := prov.List(cctx, map[string]string{arena.MachineLabelInstallation: s.cfg.Installation})
		cancel()
		if err != nil {
			s.log.Warn("cannot list a provider's machines", "provider", name, "err", err)
			continue
		}
		seen := map[string]bool{}
		for _, pm := range listed {
			seen[pm.NodeID()] = true
			rec := records[pm.NodeID()]
			switch {
			case rec == nil || rec.Provider != name || rec.State == arena.MachineDeleted || rec.State == arena.MachineFailed,
				// A second machine of one node: an SDK that retried a
				// create whose answer was lost made two.
				rec.ProviderID != "" && rec.ProviderID != pm.ID:
				cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
				err := prov.Delete(cctx, pm.ID)
				cancel()
				s.decided(arena.ScalingDecision{Kind: "delete", NodeID: pm.NodeID(), Provider: name, Reason: "a machine of this installation that Arena does not keep"}, err)
			case rec.State == arena.MachineProvisioning && rec.ProviderID == "":
				next := *rec
				next.ProviderID, next.State, next.UpdatedAt = pm.ID, arena.MachineJoining, s.now()
				err := s.cfg.Store.UpdateMachine(ctx, &next)
				if err == nil {
					// A second machine of the node, listed next, is then
					// one too many.
					records[rec.NodeID] = &next
				}
				s.decided(arena.ScalingDecision{Region: rec.Region, Kind: "adopt", NodeID: rec.NodeID, Provider: name, Reason: "ordered before the leader stopped"}, err)
			case rec.State == arena.MachineDeleting:
				next := *rec
				next.ProviderID = pm.ID
				s.decided(arena.ScalingDecision{Region: rec.Region, Kind: "delete", NodeID: rec.NodeID, Provider: name, Reason: rec.Reason},
					s.delete(ctx, &next, arena.MachineDeleted, rec.Reason))
			}
		}
		for _, rec := range machines {
			if rec.Provider != name || seen[rec.NodeID] {
				continue
			}
			switch {
			case rec.State == arena.MachineProvisioning && s.now().Sub(rec.UpdatedAt) > s.cfg.CallTimeout+provisioningGrace:
				next := *rec
				next.State, next.Reason, next.UpdatedAt = arena.MachineFailed, "the order never reached the provider", s.now()
				s.decided(arena.ScalingDecision{Region: rec.Region, Kind: "fail", NodeID: rec.NodeID, Provider: name, Reason: next.Reason}, s.cfg.Store.UpdateMachine(ctx, &next))
			case rec.State == arena.MachineDeleting:
				next := *rec
				next.State, next.UpdatedAt = arena.MachineDeleted, s.now()
				s.decided(arena.ScalingDecision{Region: rec.Region, Kind: "delete", NodeID: rec.NodeID, Provider: name, Reason: rec.Reason}, s.deleted(ctx, &next))
			}
		}
	}
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
