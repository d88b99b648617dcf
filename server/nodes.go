package server

import (
	"cmp"
	"context"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/scheduler"
)

// Defaults of the node liveness settings.
const (
	DefaultHeartbeatTimeout = 15 * time.Second
	DefaultNodeLostAfter    = 5 * time.Minute
)

// node is the control plane's view of one node. Guarded by Server.nmu.
type node struct {
	arena.Node
	lastSeen time.Time
	// unreachableSince is the last heartbeat before the node went silent
	// past the timeout; zero while it reports.
	unreachableSince time.Time
	// heard tells that the node has reported since this control plane
	// started: until then it takes no new sessions.
	heard bool
	// savedSeen is the last heartbeat saved by an earlier control plane;
	// unsaved tells that lastSeen changed since the last save.
	savedSeen time.Time
	unsaved   bool
	// images is how far the node is with the wanted images, as its last
	// heartbeat said.
	images []arena.NodeImage
	// held is the ports of the node's range that something other than its
	// sessions holds, as its agent last said, in the scheduler too.
	held []int
	// starts is what its agent last said of its start queue.
	starts *arena.StartQueue
}

// loadNodes reads the nodes from the store at Open. They take no sessions
// until their agents report; their silence counts from now. It returns
// those the store last saw alive, whose reports placement waits for.
func (s *Server) loadNodes(ctx context.Context) (alive []string, err error) {
	nodes, err := s.store.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	seen, err := s.store.LastSeen(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	s.nmu.Lock()
	defer s.nmu.Unlock()
	for _, n := range nodes {
		if s.aliveWithin(seen[n.ID], now) {
			alive = append(alive, n.ID)
		}
		s.nodes[n.ID] = &node{Node: *n, lastSeen: now, savedSeen: seen[n.ID]}
		if n.CredentialHash != "" {
			s.credentials[n.CredentialHash] = n.ID
		}
		s.sched.UpsertNode(*n, false)
	}
	return alive, nil
}

// RegisterNode records a node's description and makes it available for
// placement. A node registered before keeps its credential and drain flag;
// the reservations of its active sessions are restored.
func (s *Server) RegisterNode(ctx context.Context, n arena.Node) error {
	s.nodeOps.Lock()
	defer s.nodeOps.Unlock()
	return s.registerNode(ctx, n)
}

// registerNode is RegisterNode for a caller that holds s.nodeOps.
func (s *Server) registerNode(ctx context.Context, n arena.Node) error {
	if err := validateNode(&n); err != nil {
		return err
	}
	s.nmu.Lock()
	if cur, ok := s.nodes[n.ID]; ok {
		if n.CredentialHash == "" {
			n.CredentialHash = cur.CredentialHash
		}
		n.Draining = cur.Draining
		n.JoinedAt = cur.JoinedAt
	}
	s.nmu.Unlock()
	if n.JoinedAt.IsZero() {
		n.JoinedAt = s.now().UTC()
	}
	if err := s.store.UpsertNode(ctx, &n); err != nil {
		return err
	}
	now := s.now()
	// Seen now, and saved now rather than at the next periodic save: a
	// control plane that takes over before then must know to wait for it.
	if err := s.store.SaveLastSeen(ctx, map[string]time.Time{n.ID: now}); err != nil {
		return err
	}
	s.nmu.Lock()
	prev := s.nodes[n.ID]
	if prev != nil && prev.CredentialHash != n.CredentialHash {
		delete(s.credentials, prev.CredentialHash)
	}
	if n.CredentialHash != "" {
		s.credentials[n.CredentialHash] = n.ID
	}
	s.nodes[n.ID] = &node{Node: n, lastSeen: now, heard: true}
	s.heardFrom(n.ID)
	s.sched.UpsertNode(n, true)
	// What the node held before it joined again is unknown (a reinstalled
	// machine holds nothing) until its heartbeats say; an agent's first
	// heartbeat says which of its ports are held.
	s.sched.SetImages(n.ID, nil)
	s.sched.SetHeldPorts(n.ID, nil)
	s.sched.SetStartPace(n.ID, scheduler.StartPace{})
	s.nmu.Unlock()
	s.restoreReservations(n.ID)
	s.log.Info("node registered", "node", n.ID, "location", n.Location, "region", n.Region, "provider", n.Provider,
		"class", n.Class, "cpu_milli", n.Capacity.MilliCPU, "memory_mb", n.Capacity.MemoryMB, "ports", [2]int{n.PortMin, n.PortMax})
	return nil
}

func validateNode(n *arena.Node) error {
	var v []arena.Violation
	add := func(field, desc string) { v = append(v, arena.Violation{Field: field, Description: desc}) }
	if err := arena.ValidateSessionID(n.ID); n.ID == "" || err != nil {
		add("id", "must be 1 to 128 letters, digits, '.', '_' or '-'")
	}
	if n.Location == "" || n.Region == "" {
		add("location", "a node needs a location and a region")
	}
	if n.Class != arena.ClassMetal && n.Class != arena.ClassCloud {
		add("class", "must be metal or cloud")
	}
	if _, err := netip.ParseAddr(n.PublicIP); err != nil {
		add("publicIp", "must be an IP address")
	}
	if n.Capacity.MilliCPU <= 0 || n.Capacity.MemoryMB <= 0 {
		add("capacity", "CPU and memory must be positive")
	}
	if n.PortMin < 1 || n.PortMax > 65535 || n.PortMin > n.PortMax {
		add("ports", "the port range must lie within 1-65535")
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	return nil
}

// restoreReservations re-reserves what the node's active sessions hold.
func (s *Server) restoreReservations(nodeID string) {
	for _, e := range s.activeOn(nodeID) {
		sess := e.cur.Load()
		if err := s.sched.Restore(sess); err != nil {
			s.log.Error("cannot restore a reservation in full", "session", sess.ID, "node", nodeID, "err", err)
		}
	}
}

// activeOn returns the entries of the node's active sessions.
func (s *Server) activeOn(nodeID string) []*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*entry
	for _, e := range s.sessions {
		if e.cur.Load().NodeID == nodeID {
			out = append(out, e)
		}
	}
	return out
}

// minCredentialLength keeps credentials that nodes choose themselves
// unguessable: NewTokenSecret makes 49 characters.
const minCredentialLength = 32

// JoinNode admits a node whose agent presents the cluster's join secret and
// returns the credential it must use from then on, or "" when it keeps the
// one it presented. A new node may present a credential of its own choosing;
// a node id registered before is kept by the agent that holds its
// credential, and anyone else is refused.
func (s *Server) JoinNode(ctx context.Context, joinSecret string, n arena.Node, credential string) (string, error) {
	if s.joinHash == "" || subtle.ConstantTimeCompare([]byte(arena.HashToken(joinSecret)), []byte(s.joinHash)) != 1 {
		return "", arena.Errorf(arena.EUNAUTHORIZED, "the join token is not valid")
	}
	// From the check of the id's owner to the record of the new one, no
	// other change of nodes may come between.
	s.nodeOps.Lock()
	defer s.nodeOps.Unlock()
	s.nmu.Lock()
	cur, known := s.nodes[n.ID]
	s.nmu.Unlock()
	fresh := ""
	switch {
	case known && cur.CredentialHash != "":
		if credential == "" || subtle.ConstantTimeCompare([]byte(arena.HashToken(credential)), []byte(cur.CredentialHash)) != 1 {
			return "", arena.Errorf(arena.EUNAUTHORIZED, "node %q is registered with another credential; remove it first to give its id to a new machine", n.ID)
		}
		n.CredentialHash = cur.CredentialHash
	case credential != "":
		// A new node that chose its own credential: should the answer be
		// lost, joining again with the same one is accepted, where a
		// credential made here would be lost with the answer and lock the
		// node out.
		if len(credential) < minCredentialLength {
			return "", arena.Errorf(arena.EINVALID, "a node credential must have at least %d characters", minCredentialLength)
		}
		n.CredentialHash = arena.HashToken(credential)
	default:
		fresh = arena.NewTokenSecret()
		n.CredentialHash = arena.HashToken(fresh)
	}
	if err := s.registerNode(ctx, n); err != nil {
		return "", err
	}
	return fresh, nil
}

// AuthenticateNode returns the id of the node whose credential this is.
func (s *Server) AuthenticateNode(ctx context.Context, credential string) (string, error) {
	if credential == "" {
		return "", arena.Errorf(arena.EUNAUTHORIZED, "a node credential is required")
	}
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if id, ok := s.credentials[arena.HashToken(credential)]; ok {
		return id, nil
	}
	return "", arena.Errorf(arena.EUNAUTHORIZED, "the node credential is not valid")
}

// Heartbeat records that a node is alive, which images it holds and, when
// it says, which host ports of its range others hold: placement hands those
// out to none of the node's new sessions. A session it says could not start
// because a host port was taken is moved to other ports (see movePorts). A
// node that comes back takes sessions again; its agent's reports then
// restore its sessions' truth.
func (s *Server) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	nodeID := hb.NodeID
	s.nmu.Lock()
	n, ok := s.nodes[nodeID]
	if !ok {
		s.nmu.Unlock()
		return arena.Errorf(arena.ENOTFOUND, "node %q is not registered", nodeID)
	}
	s.obs.AgentHeartbeat()
	n.lastSeen, n.unsaved = s.now(), true
	if !slices.EqualFunc(n.images, hb.Images, arena.NodeImage.Equal) {
		n.images = slices.Clone(hb.Images)
		var present []string
		for _, im := range hb.Images {
			if im.State == arena.ImagePresent {
				present = append(present, im.Ref)
			}
		}
		s.sched.SetImages(nodeID, present)
	}
	if q := hb.Starts; q != nil {
		pace := scheduler.StartPace{Rate: q.Rate, Concurrency: q.Concurrency, Deadline: q.Timeout}
		if n.starts == nil || pace != (scheduler.StartPace{Rate: n.starts.Rate, Concurrency: n.starts.Concurrency, Deadline: n.starts.Timeout}) {
			s.sched.SetStartPace(nodeID, pace)
		}
		c := *q
		n.starts = &c
	}
	if hb.Ports != nil {
		// Before any move below, so that the new ports avoid them.
		if held := heldInRange(hb.Ports.Held, n.PortMin, n.PortMax); !slices.Equal(n.held, held) {
			n.held = held
			s.sched.SetHeldPorts(nodeID, held)
		}
	}
	back := !n.unreachableSince.IsZero()
	if !n.heard || back {
		if back {
			s.log.Info("node is back", "node", nodeID, "silent_for", n.lastSeen.Sub(n.unreachableSince).Round(time.Millisecond))
		}
		n.heard, n.unreachableSince = true, time.Time{}
		s.heardFrom(nodeID)
		s.sched.SetHealthy(nodeID, true)
	}
	s.nmu.Unlock()
	if back {
		// A node may return without reconnecting (a paused machine, a slow
		// spell): its agent must learn what the control plane now believes
		// of its sessions, so that its reports can restore the truth.
		s.resendAssignments(nodeID)
	}
	if hb.Ports != nil {
		for _, c := range hb.Ports.Conflicts {
			s.movePorts(ctx, nodeID, c)
		}
	}
	return nil
}

// heldInRange returns the ports from lo to hi, ascending, once each and at
// most arena.MaxHeldPorts of them: what an agent says is trusted no further.
func heldInRange(ports []int, lo, hi int) []int {
	out := slices.DeleteFunc(slices.Clone(ports), func(p int) bool { return p < lo || p > hi })
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > arena.MaxHeldPorts {
		out = out[:arena.MaxHeldPorts]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// silentSince returns when the node went silent, or zero while it reports.
func (s *Server) silentSince(nodeID string) time.Time {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		return n.unreachableSince
	}
	return time.Time{}
}

// DrainNode stops (or resumes) placing new sessions on a node; the sessions
// it runs are not disturbed.
func (s *Server) DrainNode(ctx context.Context, nodeID string, drain bool) error {
	s.nodeOps.Lock()
	defer s.nodeOps.Unlock()
	s.nmu.Lock()
	n, ok := s.nodes[nodeID]
	if !ok {
		s.nmu.Unlock()
		return arena.Errorf(arena.ENOTFOUND, "node %q not found", nodeID)
	}
	desc := n.Node
	s.nmu.Unlock()
	desc.Draining = drain
	if err := s.store.UpsertNode(ctx, &desc); err != nil {
		return err
	}
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if n, ok := s.nodes[nodeID]; ok {
		n.Draining = drain
		s.sched.UpsertNode(n.Node, n.heard && n.unreachableSince.IsZero())
	}
	s.log.Info("node drain changed", "node", nodeID, "draining", drain)
	return nil
}

// Nodes returns every node with its state and usage, ordered by id.
func (s *Server) Nodes() []arena.NodeStatus {
	usage := map[string]scheduler.NodeUsage{}
	for _, u := range s.sched.Nodes() {
		usage[u.ID] = u
	}
	s.nmu.Lock()
	defer s.nmu.Unlock()
	out := make([]arena.NodeStatus, 0, len(s.nodes))
	for _, n := range s.nodes {
		st := arena.NodeStatus{Node: n.Node, LastSeen: n.lastSeen, State: "ready", Images: slices.Clone(n.images)}
		switch {
		case !n.unreachableSince.IsZero():
			st.State = "unreachable"
		case !n.heard:
			st.State = "waiting"
		case n.Draining:
			st.State = "draining"
		}
		if u, ok := usage[n.ID]; ok {
			st.Used, st.FreePorts, st.Sessions = u.Used, u.FreePorts, u.Sessions
			st.Pending, st.StartWait = u.Pending, u.StartWait
		}
		if n.starts != nil {
			c := *n.starts
			st.Starts = &c
		}
		st.CredentialHash = ""
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RemoveNode forgets a node and its credential, as for a machine retired or
// reinstalled: its id can then join anew. A node that still has active
// sessions is refused with ECONFLICT: drain it and let them end first.
func (s *Server) RemoveNode(ctx context.Context, nodeID string) error {
	s.nodeOps.Lock()
	defer s.nodeOps.Unlock()
	s.nmu.Lock()
	n, ok := s.nodes[nodeID]
	s.nmu.Unlock()
	if !ok {
		return arena.Errorf(arena.ENOTFOUND, "node %q not found", nodeID)
	}
	if active := len(s.activeOn(nodeID)); active > 0 {
		return arena.Errorf(arena.ECONFLICT, "node %q still has %d active sessions; drain it and let them end first", nodeID, active)
	}
	if err := s.sched.RemoveNode(nodeID); err != nil {
		return err
	}
	if err := s.store.DeleteNode(ctx, nodeID); err != nil {
		return err
	}
	s.nmu.Lock()
	delete(s.nodes, nodeID)
	s.heardFrom(nodeID) // nothing to wait for
	delete(s.credentials, n.CredentialHash)
	s.nmu.Unlock()
	s.log.Info("node removed", "node", nodeID)
	return nil
}

// NodeList implements the admin API's view of Nodes.
func (s *Server) NodeList(ctx context.Context) ([]arena.NodeStatus, error) {
	return s.Nodes(), nil
}

// AvailableLocations lists the locations that can host one more session of
// the organisation's image right now, with their nodes' addresses; only
// those in the image's regions, when it names any.
func (s *Server) AvailableLocations(ctx context.Context, orgID, image string) ([]arena.AvailableLocation, error) {
	app, err := s.catalog.Application(orgID, image)
	if err != nil {
		return nil, err
	}
	return s.sched.AvailableLocations(app.Resources, len(app.Ports), app.Regions), nil
}

// TagStatus says whether a tag of an organisation's image can run in a
// region (or location) now: whether a node there that takes sessions holds
// it for the organisation, and otherwise how far the nodes are with pulling
// it. A node holding a private image the registry refused the organisation
// counts as failed for it: another organisation's pull is not its own.
func (s *Server) TagStatus(ctx context.Context, orgID, region, image, version string) (arena.TagStatus, error) {
	app, err := s.catalog.Application(orgID, image)
	if err != nil {
		return arena.TagStatus{}, err
	}
	if !s.sched.Known(region) {
		return arena.TagStatus{}, arena.Errorf(arena.ENOTFOUND, "region %q not found", region)
	}
	serves := false
	st := s.tagStatus(orgID, app, version, s.Nodes(), s.runningImages(orgID), func(n arena.NodeStatus) bool {
		if (n.Region != region && n.Location != region) || (len(app.Regions) > 0 && !slices.Contains(app.Regions, n.Region)) {
			return false
		}
		serves = true
		return true
	})
	if !serves && len(app.Regions) > 0 {
		return arena.TagStatus{}, arena.Errorf(arena.ENOTFOUND, "image %q does not run in region %q", app.Name, region)
	}
	return st, nil
}

// PullStatus returns how far the nodes that could run an organisation's
// application (those of its regions, every one without) are with each of
// its tags, by tag: TagStatus over all of them rather than one region.
func (s *Server) PullStatus(orgID string, app *arena.Application) map[string]arena.TagStatus {
	nodes, running := s.Nodes(), s.runningImages(orgID)
	out := make(map[string]arena.TagStatus, len(app.Tags))
	for _, t := range app.Tags {
		out[t.Name] = s.tagStatus(orgID, app, t.Name, nodes, running, func(n arena.NodeStatus) bool {
			return len(app.Regions) == 0 || slices.Contains(app.Regions, n.Region)
		})
	}
	return out
}

// runningImages returns, by image reference, the nodes that run one of the
// organisation's sessions of it.
func (s *Server) runningImages(orgID string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.sessions {
		if sess := e.cur.Load(); sess.OrgID == orgID && sess.State == arena.SessionRunning {
			if out[sess.Image] == nil {
				out[sess.Image] = map[string]bool{}
			}
			out[sess.Image][sess.NodeID] = true
		}
	}
	return out
}

// tagStatus counts the image of an application's tag on the nodes that
// inArea selects, among those that take sessions.
func (s *Server) tagStatus(orgID string, app *arena.Application, version string, nodes []arena.NodeStatus, running map[string]map[string]bool, inArea func(arena.NodeStatus) bool) arena.TagStatus {
	st := arena.TagStatus{State: arena.TagMissing}
	ref, configured := app.ImageRef(version), app.HasTag(version)
	for _, n := range nodes {
		if !inArea(n) || n.State != "ready" {
			continue
		}
		st.Nodes++
		if !configured {
			continue
		}
		// A node running one of the organisation's sessions of the image
		// holds it, whatever its last heartbeat said: the image may have
		// been built or loaded there without a registry, or the report is
		// yet to come.
		if running[ref][n.ID] {
			st.Present++
			continue
		}
		for _, im := range n.Images {
			if im.Ref != ref {
				continue
			}
			switch {
			case im.State == arena.ImagePresent && slices.Contains(im.Refused, orgID):
				st.Failed++
				st.Error = cmp.Or(st.Error, fmt.Sprintf("the registry refused the organisation's credentials for %s", ref))
			case im.State == arena.ImagePresent:
				st.Present++
			case im.State == arena.ImagePulling:
				st.Pulling++
			case im.State == arena.ImageFailed:
				st.Failed++
				st.Error = cmp.Or(st.Error, im.Error)
			}
		}
	}
	switch {
	case st.Present > 0:
		st.Exists, st.State = true, arena.ImagePresent
	case st.Pulling > 0:
		st.State = arena.ImagePulling
	case st.Failed > 0:
		st.State = arena.ImageFailed
	}
	if st.State != arena.ImageFailed {
		st.Error = ""
	}
	return st
}

// watchNodes marks silent nodes unreachable and, after NodeLostAfter, gives
// their sessions up as lost. It runs until the server closes.
func (s *Server) watchNodes() {
	defer close(s.watcherDone)
	t := time.NewTicker(max(s.heartbeatTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	var lastSave time.Time
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		now := s.now()
		var silent, lost []*node
		s.nmu.Lock()
		// Heartbeats are saved at most a heartbeat timeout apart, in one
		// write for all nodes.
		saveNow := now.Sub(lastSave) >= s.heartbeatTimeout
		unsaved := map[string]time.Time{}
		for _, n := range s.nodes {
			if saveNow && n.unsaved {
				unsaved[n.ID], n.unsaved = n.lastSeen, false
			}
			switch {
			case n.unreachableSince.IsZero() && now.Sub(n.lastSeen) > s.heartbeatTimeout:
				n.unreachableSince = n.lastSeen
				if !n.heard && !n.savedSeen.IsZero() && n.savedSeen.Before(n.lastSeen) {
					// Not heard since this control plane started: it was last
					// heard by the one before, and billing stops there.
					n.unreachableSince = n.savedSeen
				}
				s.sched.SetHealthy(n.ID, false)
				c := *n
				silent = append(silent, &c)
			case !n.unreachableSince.IsZero() && now.Sub(n.unreachableSince) > s.nodeLostAfter:
				c := *n
				lost = append(lost, &c)
			}
		}
		s.nmu.Unlock()
		if saveNow {
			lastSave = now
		}
		if len(unsaved) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.store.SaveLastSeen(ctx, unsaved); err != nil {
				s.log.Warn("cannot save when nodes were last seen", "err", err)
			}
			cancel()
		}
		for _, n := range silent {
			s.log.Warn("node stopped reporting; its sessions are unreachable", "node", n.ID, "last_seen", n.lastSeen)
			s.endNodeStreams(n.ID)
			s.markUnreachable(n.ID, n.unreachableSince)
		}
		for _, n := range lost {
			s.giveUp(n.ID, n.unreachableSince)
		}
	}
}

// markUnreachable moves the node's sessions to unreachable, pausing their
// billing at the last heartbeat. A session being stopped stays stopping: the
// intent must survive until the node can carry it out.
func (s *Server) markUnreachable(nodeID string, since time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, e := range s.activeOn(nodeID) {
		e.mu.Lock()
		cur := e.cur.Load()
		switch {
		case !s.silentSince(nodeID).Equal(since):
			// The node came back meanwhile: what is left is still true.
			e.mu.Unlock()
			return
		case cur.State == arena.SessionStopping || cur.State == arena.SessionUnreachable || cur.State == arena.SessionStopped:
			e.mu.Unlock()
			continue
		}
		next := cur.Clone()
		if err := next.Transition(arena.SessionUnreachable, s.now()); err == nil {
			next.UnreachableSince = since
			if err := s.store.UpdateSession(ctx, next); err != nil {
				s.log.Error("cannot record an unreachable session", "session", cur.ID, "err", err)
			} else {
				e.cur.Store(next)
				s.emitEvent(next)
			}
		}
		e.mu.Unlock()
	}
}

// giveUp stops the sessions of a node silent for longer than NodeLostAfter:
// they end at its last heartbeat with reason lost, and what they held is
// freed. Should the node come back, its agent removes their containers.
func (s *Server) giveUp(nodeID string, lastSeen time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries := s.activeOn(nodeID)
	if len(entries) > 0 {
		s.log.Warn("node lost; giving up its sessions", "node", nodeID, "sessions", len(entries), "last_seen", lastSeen)
	}
	for _, e := range entries {
		e.mu.Lock()
		cur := e.cur.Load()
		if !s.silentSince(nodeID).Equal(lastSeen) {
			e.mu.Unlock()
			return // the node came back meanwhile
		}
		if cur.State != arena.SessionStopped {
			next := cur.Clone()
			r := arena.SessionReport{SessionID: cur.ID, NodeID: nodeID, State: arena.SessionStopped, Reason: arena.StopLost, ExitCode: -1, At: lastSeen,
				Message: "the node stopped reporting"}
			if err := s.finish(ctx, e, next, r, lastSeen); err != nil {
				s.log.Error("cannot give up a lost session", "session", cur.ID, "err", err)
			} else {
				// Its ports may serve another session now: should the node
				// still hear us, its agent must stop the container.
				s.assignToNode(e.cur.Load())
			}
		}
		e.mu.Unlock()
	}
}

// Regions lists the regions of the installation's nodes, sorted.
func (s *Server) Regions(ctx context.Context) ([]string, error) {
	return s.sched.Regions(), nil
}
