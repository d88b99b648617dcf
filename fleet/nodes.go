package fleet

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

// node is the fleet's view of one node. Guarded by Fleet.nmu.
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
func (f *Fleet) loadNodes(ctx context.Context) (alive []string, err error) {
	nodes, err := f.store.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	seen, err := f.store.LastSeen(ctx)
	if err != nil {
		return nil, err
	}
	now := f.now()
	f.nmu.Lock()
	defer f.nmu.Unlock()
	for _, n := range nodes {
		if f.aliveWithin(seen[n.ID], now) {
			alive = append(alive, n.ID)
		}
		f.nodes[n.ID] = &node{Node: *n, lastSeen: now, savedSeen: seen[n.ID]}
		if n.CredentialHash != "" {
			f.credentials[n.CredentialHash] = n.ID
		}
		f.sched.UpsertNode(*n, false)
	}
	return alive, nil
}

// RegisterNode records a node's description and makes it available for
// placement. A node registered before keeps its credential and drain flag;
// the reservations of its active sessions are restored.
func (f *Fleet) RegisterNode(ctx context.Context, n arena.Node) error {
	f.nodeOps.Lock()
	defer f.nodeOps.Unlock()
	return f.registerNode(ctx, n)
}

// registerNode is RegisterNode for a caller that holds f.nodeOps.
func (f *Fleet) registerNode(ctx context.Context, n arena.Node) error {
	if err := validateNode(&n); err != nil {
		return err
	}
	f.nmu.Lock()
	if cur, ok := f.nodes[n.ID]; ok {
		if n.CredentialHash == "" {
			n.CredentialHash = cur.CredentialHash
		}
		n.Draining = cur.Draining
		n.JoinedAt = cur.JoinedAt
	}
	f.nmu.Unlock()
	if n.JoinedAt.IsZero() {
		n.JoinedAt = f.now().UTC()
	}
	if err := f.store.UpsertNode(ctx, &n); err != nil {
		return err
	}
	now := f.now()
	// Seen now, and saved now rather than at the next periodic save: a
	// control plane that takes over before then must know to wait for it.
	if err := f.store.SaveLastSeen(ctx, map[string]time.Time{n.ID: now}); err != nil {
		return err
	}
	f.nmu.Lock()
	prev := f.nodes[n.ID]
	if prev != nil && prev.CredentialHash != n.CredentialHash {
		delete(f.credentials, prev.CredentialHash)
	}
	if n.CredentialHash != "" {
		f.credentials[n.CredentialHash] = n.ID
	}
	f.nodes[n.ID] = &node{Node: n, lastSeen: now, heard: true}
	f.resync.heard(n.ID)
	f.sched.UpsertNode(n, true)
	// What the node held before it joined again is unknown (a reinstalled
	// machine holds nothing) until its heartbeats say; an agent's first
	// heartbeat says which of its ports are held.
	f.sched.SetImages(n.ID, nil)
	f.sched.SetHeldPorts(n.ID, nil)
	f.sched.SetStartPace(n.ID, scheduler.StartPace{})
	f.nmu.Unlock()
	f.sessions.NodeRegistered(n.ID)
	f.log.Info("node registered", "node", n.ID, "location", n.Location, "region", n.Region, "provider", n.Provider,
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

// minCredentialLength keeps credentials that nodes choose themselves
// unguessable: NewTokenSecret makes 49 characters.
const minCredentialLength = 32

// JoinNode admits a node whose agent presents the cluster's join secret, or
// the single-use token of the machine Arena made for that node, and
// returns the credential it must use from then on, or "" when it keeps the
// one it presented. A new node may present a credential of its own choosing;
// a node id registered before is kept by the agent that holds its
// credential, and anyone else is refused. A machine's agent joining again
// (restarted, or refused its credential by a new leader) presents its
// spent token with the credential it chose: the credential admits it.
func (f *Fleet) JoinNode(ctx context.Context, joinSecret string, n arena.Node, credential string) (string, error) {
	cluster := f.joinHash != "" && subtle.ConstantTimeCompare([]byte(arena.HashToken(joinSecret)), []byte(f.joinHash)) == 1
	if !cluster && f.machines == nil {
		return "", arena.Errorf(arena.EUNAUTHORIZED, "the join token is not valid")
	}
	// From the check of the id's owner to the record of the new one, no
	// other change of nodes may come between.
	f.nodeOps.Lock()
	defer f.nodeOps.Unlock()
	f.nmu.Lock()
	cur, known := f.nodes[n.ID]
	f.nmu.Unlock()
	if !cluster {
		owner := known && cur.CredentialHash != "" && credential != "" &&
			subtle.ConstantTimeCompare([]byte(arena.HashToken(credential)), []byte(cur.CredentialHash)) == 1
		if !owner {
			// Spent before the node is recorded: should the record fail,
			// the machine cannot join again, and the scaler replaces it
			// when it has not joined in time, rather than a token admit
			// twice.
			err := f.machines.UseJoinToken(ctx, arena.HashToken(joinSecret), n.ID, f.now())
			if arena.ErrorCode(err) == arena.EUNAUTHORIZED {
				return "", arena.Errorf(arena.EUNAUTHORIZED, "the join token is not valid")
			}
			if err != nil {
				return "", err
			}
		}
	}
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
	if err := f.registerNode(ctx, n); err != nil {
		return "", err
	}
	return fresh, nil
}

// AuthenticateNode returns the id of the node whose credential this is.
func (f *Fleet) AuthenticateNode(ctx context.Context, credential string) (string, error) {
	if credential == "" {
		return "", arena.Errorf(arena.EUNAUTHORIZED, "a node credential is required")
	}
	f.nmu.Lock()
	defer f.nmu.Unlock()
	if id, ok := f.credentials[arena.HashToken(credential)]; ok {
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
func (f *Fleet) Heartbeat(ctx context.Context, hb arena.Heartbeat) error {
	nodeID := hb.NodeID
	f.nmu.Lock()
	n, ok := f.nodes[nodeID]
	if !ok {
		f.nmu.Unlock()
		return arena.Errorf(arena.ENOTFOUND, "node %q is not registered", nodeID)
	}
	f.obs.AgentHeartbeat()
	n.lastSeen, n.unsaved = f.now(), true
	if !slices.EqualFunc(n.images, hb.Images, arena.NodeImage.Equal) {
		n.images = slices.Clone(hb.Images)
		var present []string
		for _, im := range hb.Images {
			if im.State == arena.ImagePresent {
				present = append(present, im.Ref)
			}
		}
		f.sched.SetImages(nodeID, present)
	}
	if q := hb.Starts; q != nil {
		pace := scheduler.StartPace{Rate: q.Rate, Concurrency: q.Concurrency, Deadline: q.Timeout}
		if n.starts == nil || pace != (scheduler.StartPace{Rate: n.starts.Rate, Concurrency: n.starts.Concurrency, Deadline: n.starts.Timeout}) {
			f.sched.SetStartPace(nodeID, pace)
		}
		c := *q
		n.starts = &c
	}
	if hb.Ports != nil {
		// Before any move below, so that the new ports avoid them.
		if held := heldInRange(hb.Ports.Held, n.PortMin, n.PortMax); !slices.Equal(n.held, held) {
			n.held = held
			f.sched.SetHeldPorts(nodeID, held)
		}
	}
	back := !n.unreachableSince.IsZero()
	if !n.heard || back {
		if back {
			f.log.Info("node is back", "node", nodeID, "silent_for", n.lastSeen.Sub(n.unreachableSince).Round(time.Millisecond))
		}
		n.heard, n.unreachableSince = true, time.Time{}
		f.resync.heard(nodeID)
		f.sched.SetHealthy(nodeID, true)
	}
	f.nmu.Unlock()
	if back {
		// A node may return without reconnecting (a paused machine, a slow
		// spell): its agent must learn what the control plane now believes
		// of its sessions, so that its reports can restore the truth.
		f.sessions.NodeBack(nodeID)
	}
	if hb.Ports != nil {
		for _, c := range hb.Ports.Conflicts {
			f.sessions.PortConflict(ctx, nodeID, c)
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

// SilentSince returns when the node went silent, or zero while it reports.
func (f *Fleet) SilentSince(nodeID string) time.Time {
	f.nmu.Lock()
	defer f.nmu.Unlock()
	if n, ok := f.nodes[nodeID]; ok {
		return n.unreachableSince
	}
	return time.Time{}
}

// DrainNode stops (or resumes) placing new sessions on a node; the sessions
// it runs are not disturbed.
func (f *Fleet) DrainNode(ctx context.Context, nodeID string, drain bool) error {
	f.nodeOps.Lock()
	defer f.nodeOps.Unlock()
	f.nmu.Lock()
	n, ok := f.nodes[nodeID]
	if !ok {
		f.nmu.Unlock()
		return arena.Errorf(arena.ENOTFOUND, "node %q not found", nodeID)
	}
	desc := n.Node
	f.nmu.Unlock()
	desc.Draining = drain
	if err := f.store.UpsertNode(ctx, &desc); err != nil {
		return err
	}
	f.nmu.Lock()
	defer f.nmu.Unlock()
	if n, ok := f.nodes[nodeID]; ok {
		n.Draining = drain
		f.sched.UpsertNode(n.Node, n.heard && n.unreachableSince.IsZero())
	}
	f.log.Info("node drain changed", "node", nodeID, "draining", drain)
	return nil
}

// Nodes returns every node with its state and usage, ordered by id.
func (f *Fleet) Nodes() []arena.NodeStatus {
	usage := map[string]scheduler.NodeUsage{}
	for _, u := range f.sched.Nodes() {
		usage[u.ID] = u
	}
	f.nmu.Lock()
	defer f.nmu.Unlock()
	out := make([]arena.NodeStatus, 0, len(f.nodes))
	for _, n := range f.nodes {
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
func (f *Fleet) RemoveNode(ctx context.Context, nodeID string) error {
	f.nodeOps.Lock()
	defer f.nodeOps.Unlock()
	f.nmu.Lock()
	n, ok := f.nodes[nodeID]
	f.nmu.Unlock()
	if !ok {
		return arena.Errorf(arena.ENOTFOUND, "node %q not found", nodeID)
	}
	if active := f.sessions.ActiveOn(nodeID); active > 0 {
		return arena.Errorf(arena.ECONFLICT, "node %q still has %d active sessions; drain it and let them end first", nodeID, active)
	}
	if err := f.sched.RemoveNode(nodeID); err != nil {
		return err
	}
	if err := f.store.DeleteNode(ctx, nodeID); err != nil {
		return err
	}
	f.nmu.Lock()
	delete(f.nodes, nodeID)
	f.resync.heard(nodeID) // nothing to wait for
	delete(f.credentials, n.CredentialHash)
	f.nmu.Unlock()
	f.log.Info("node removed", "node", nodeID)
	return nil
}

// NodeList implements the admin API's view of Nodes.
func (f *Fleet) NodeList(ctx context.Context) ([]arena.NodeStatus, error) {
	return f.Nodes(), nil
}

// AvailableLocations lists the locations that can host one more session of
// the organisation's image right now, with their nodes' addresses; only
// those in the image's regions, when it names any.
func (f *Fleet) AvailableLocations(ctx context.Context, orgID, image string) ([]arena.AvailableLocation, error) {
	app, err := f.catalog.Application(orgID, image)
	if err != nil {
		return nil, err
	}
	return f.sched.AvailableLocations(app.Resources, len(app.Ports), app.Regions), nil
}

// TagStatus says whether a tag of an organisation's image can run in a
// region (or location) now: whether a node there that takes sessions holds
// it for the organisation, and otherwise how far the nodes are with pulling
// it. A node holding a private image the registry refused the organisation
// counts as failed for it: another organisation's pull is not its own.
func (f *Fleet) TagStatus(ctx context.Context, orgID, region, image, version string) (arena.TagStatus, error) {
	app, err := f.catalog.Application(orgID, image)
	if err != nil {
		return arena.TagStatus{}, err
	}
	if !f.sched.Known(region) {
		return arena.TagStatus{}, arena.Errorf(arena.ENOTFOUND, "region %q not found", region)
	}
	serves := false
	st := f.tagStatus(orgID, app, version, f.Nodes(), f.sessions.Running(orgID), func(n arena.NodeStatus) bool {
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
func (f *Fleet) PullStatus(orgID string, app *arena.Application) map[string]arena.TagStatus {
	nodes, running := f.Nodes(), f.sessions.Running(orgID)
	out := make(map[string]arena.TagStatus, len(app.Tags))
	for _, t := range app.Tags {
		out[t.Name] = f.tagStatus(orgID, app, t.Name, nodes, running, func(n arena.NodeStatus) bool {
			return len(app.Regions) == 0 || slices.Contains(app.Regions, n.Region)
		})
	}
	return out
}

// tagStatus counts the image of an application's tag on the nodes that
// inArea selects, among those that take sessions.
func (f *Fleet) tagStatus(orgID string, app *arena.Application, version string, nodes []arena.NodeStatus, running map[string]map[string]bool, inArea func(arena.NodeStatus) bool) arena.TagStatus {
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
func (f *Fleet) watchNodes() {
	defer close(f.watcherDone)
	t := time.NewTicker(max(f.heartbeatTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	var lastSave time.Time
	for {
		select {
		case <-f.closed:
			return
		case <-t.C:
		}
		now := f.now()
		var silent, lost []*node
		f.nmu.Lock()
		// Heartbeats are saved at most a heartbeat timeout apart, in one
		// write for all nodes.
		saveNow := now.Sub(lastSave) >= f.heartbeatTimeout
		unsaved := map[string]time.Time{}
		for _, n := range f.nodes {
			if saveNow && n.unsaved {
				unsaved[n.ID], n.unsaved = n.lastSeen, false
			}
			switch {
			case n.unreachableSince.IsZero() && now.Sub(n.lastSeen) > f.heartbeatTimeout:
				n.unreachableSince = n.lastSeen
				if !n.heard && !n.savedSeen.IsZero() && n.savedSeen.Before(n.lastSeen) {
					// Not heard since this control plane started: it was last
					// heard by the one before, and billing stops there.
					n.unreachableSince = n.savedSeen
				}
				f.sched.SetHealthy(n.ID, false)
				c := *n
				silent = append(silent, &c)
			case !n.unreachableSince.IsZero() && now.Sub(n.unreachableSince) > f.nodeLostAfter:
				c := *n
				lost = append(lost, &c)
			}
		}
		f.nmu.Unlock()
		if saveNow {
			lastSave = now
		}
		if len(unsaved) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := f.store.SaveLastSeen(ctx, unsaved); err != nil {
				f.log.Warn("cannot save when nodes were last seen", "err", err)
			}
			cancel()
		}
		for _, n := range silent {
			f.log.Warn("node stopped reporting; its sessions are unreachable", "node", n.ID, "last_seen", n.lastSeen)
			f.sessions.NodeSilent(n.ID, n.unreachableSince)
		}
		for _, n := range lost {
			f.sessions.NodeLost(n.ID, n.unreachableSince)
		}
	}
}

// Regions lists the regions of the installation's nodes, sorted.
func (f *Fleet) Regions(ctx context.Context) ([]string, error) {
	return f.sched.Regions(), nil
}
