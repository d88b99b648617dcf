package http

import (
	"context"
	"net/http"
	"time"

	"github.com/arena-hq/arena"
)

// Fleet is what the API asks of the nodes: where sessions can run and
// which images are there, and the admin API's operations on nodes.
type Fleet interface {
	// AvailableLocations lists the locations that can host one more session
	// of the organisation's image right now: ENOTFOUND for an unknown image.
	AvailableLocations(ctx context.Context, orgID, image string) ([]arena.AvailableLocation, error)
	// TagStatus says whether a tag of the organisation's image can run in a
	// region now: ENOTFOUND for an unknown image or region.
	TagStatus(ctx context.Context, orgID, region, image, version string) (arena.TagStatus, error)
	// Regions lists the regions sessions can be asked for, sorted.
	Regions(ctx context.Context) ([]string, error)
	// NodeList returns every node, ordered by id.
	NodeList(ctx context.Context) ([]arena.NodeStatus, error)
	// DrainNode stops or resumes placement on a node: ENOTFOUND for an unknown one.
	DrainNode(ctx context.Context, nodeID string, drain bool) error
	// RemoveNode forgets a node: ENOTFOUND, or ECONFLICT while it has active sessions.
	RemoveNode(ctx context.Context, nodeID string) error
	// PullStatus returns, by tag, how far the nodes that could run the
	// application are with pulling its image.
	PullStatus(orgID string, app *arena.Application) map[string]arena.TagStatus
}

type (
	nodeView struct {
		ID       string          `json:"id"`
		Region   string          `json:"region"`
		Location string          `json:"location"`
		Provider string          `json:"provider"`
		Class    string          `json:"class"`
		PublicIP string          `json:"publicIp"`
		State    string          `json:"state"`
		Draining bool            `json:"draining"`
		LastSeen string          `json:"lastSeen"`
		JoinedAt string          `json:"joinedAt,omitempty"`
		Capacity arena.Resources `json:"capacity"`
		Used     arena.Resources `json:"used"`
		Ports    nodePorts       `json:"ports"`
		Sessions int             `json:"sessions"`
		Starts   *nodeStarts     `json:"starts,omitempty"`
	}
	// nodeStarts is how the node keeps up with starting containers.
	nodeStarts struct {
		Pending        int     `json:"pending"`
		ExpectedWaitMs int64   `json:"expectedWaitMs"`
		Queued         int     `json:"queued"`
		InFlight       int     `json:"inFlight"`
		Concurrency    int     `json:"concurrency"`
		TimeoutMs      int64   `json:"timeoutMs"`
		RatePerSecond  float64 `json:"ratePerSecond"`
		LatencyP50Ms   int64   `json:"latencyP50Ms"`
		LatencyP99Ms   int64   `json:"latencyP99Ms"`
		QueueWaitP50Ms int64   `json:"queueWaitP50Ms"`
		QueueWaitP99Ms int64   `json:"queueWaitP99Ms"`
	}
	nodePorts struct {
		Min  int `json:"min"`
		Max  int `json:"max"`
		Free int `json:"free"`
	}
	nodeListOk struct {
		Nodes []nodeView `json:"nodes"`
	}
)

func newNodeView(n arena.NodeStatus) nodeView {
	v := nodeView{
		ID: n.ID, Region: n.Region, Location: n.Location, Provider: n.Provider, Class: string(n.Class), PublicIP: n.PublicIP,
		State: n.State, Draining: n.Draining, LastSeen: n.LastSeen.UTC().Format(time.RFC3339Nano),
		Capacity: n.Capacity, Used: n.Used, Ports: nodePorts{Min: n.PortMin, Max: n.PortMax, Free: n.FreePorts}, Sessions: n.Sessions,
	}
	if !n.JoinedAt.IsZero() {
		v.JoinedAt = n.JoinedAt.UTC().Format(time.RFC3339Nano)
	}
	if q := n.Starts; q != nil {
		v.Starts = &nodeStarts{
			Pending: n.Pending, ExpectedWaitMs: n.StartWait.Milliseconds(), Queued: q.Queued, InFlight: q.InFlight,
			Concurrency: q.Concurrency, TimeoutMs: q.Timeout.Milliseconds(), RatePerSecond: q.Rate,
			LatencyP50Ms: q.LatencyP50.Milliseconds(), LatencyP99Ms: q.LatencyP99.Milliseconds(),
			QueueWaitP50Ms: q.WaitP50.Milliseconds(), QueueWaitP99Ms: q.WaitP99.Milliseconds(),
		}
	}
	return v
}

func (s *api) listNodes(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	nodes, err := s.nodes.NodeList(r.Context())
	if err != nil {
		return err
	}
	out := nodeListOk{Nodes: make([]nodeView, 0, len(nodes))}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, newNodeView(n))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *api) drainNode(drain bool) func(http.ResponseWriter, *http.Request, *arena.Token) error {
	return func(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
		id := r.PathValue("id")
		if err := s.nodes.DrainNode(r.Context(), id, drain); err != nil {
			return err
		}
		nodes, err := s.nodes.NodeList(r.Context())
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.ID == id {
				s.writeJSON(w, r, http.StatusOK, newNodeView(n))
				return nil
			}
		}
		return arena.Errorf(arena.ENOTFOUND, "node %q not found", id)
	}
}

func (s *api) removeNode(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	if err := s.nodes.RemoveNode(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type (
	availableLocation struct {
		ID  string   `json:"id"`
		IPs []string `json:"ips"`
	}
	availableLocationsOk struct {
		Locations []availableLocation `json:"locations"`
	}
)

func (s *api) availableLocations(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	locs, err := s.nodes.AvailableLocations(r.Context(), tok.OrgID, r.PathValue("image"))
	if err != nil {
		return err
	}
	out := availableLocationsOk{Locations: make([]availableLocation, 0, len(locs))}
	for _, l := range locs {
		ips := l.IPs
		if ips == nil {
			ips = []string{}
		}
		out.Locations = append(out.Locations, availableLocation{ID: l.Location, IPs: ips})
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
