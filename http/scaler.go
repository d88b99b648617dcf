package http

import (
	"context"
	"net/http"
	"time"

	"github.com/arena-hq/arena"
)

// Scaler is what the admin API shows of the cloud capacity Arena adds and
// retires (scaler.Scaler implements it).
type Scaler interface {
	// Status returns the policies, the machines and the recent decisions.
	Status(ctx context.Context) (arena.ScalingStatus, error)
}

// WithScaler serves GET /admin/v1/scaler from sc; without it the route
// answers that no region is scaled.
func WithScaler(sc Scaler) Option { return func(s *api) { s.scaler = sc } }

type (
	scalerOk struct {
		Policies  []policyView   `json:"policies"`
		Machines  []machineView  `json:"machines"`
		Decisions []decisionView `json:"decisions"`
		// CostPerHour is what the live machines cost together.
		CostPerHour float64 `json:"costPerHour"`
	}
	policyView struct {
		Region                   string      `json:"region"`
		Offers                   []offerView `json:"offers"`
		Buffer                   bufferView  `json:"buffer"`
		MinNodes                 int         `json:"minNodes"`
		MaxNodes                 int         `json:"maxNodes"`
		MaxCostPerHour           float64     `json:"maxCostPerHour"`
		ScaleUpCooldownSeconds   float64     `json:"scaleUpCooldownSeconds"`
		ScaleDownCooldownSeconds float64     `json:"scaleDownCooldownSeconds"`
		IdleTimeoutSeconds       float64     `json:"idleTimeoutSeconds"`
		JoinTimeoutSeconds       float64     `json:"joinTimeoutSeconds"`
	}
	offerView struct {
		Provider     string          `json:"provider"`
		Region       string          `json:"region"`
		Location     string          `json:"location"`
		InstanceType string          `json:"instanceType"`
		Image        string          `json:"image"`
		CostPerHour  float64         `json:"costPerHour"`
		Capacity     arena.Resources `json:"capacity"`
	}
	bufferView struct {
		Sessions    int             `json:"sessions"`
		Org         string          `json:"org"`
		Application string          `json:"application"`
		Resources   arena.Resources `json:"resources"`
	}
	machineView struct {
		Node         string          `json:"node"`
		Region       string          `json:"region"`
		Provider     string          `json:"provider"`
		ProviderID   string          `json:"providerId"`
		InstanceType string          `json:"instanceType"`
		State        string          `json:"state"`
		Reason       string          `json:"reason"`
		CostPerHour  float64         `json:"costPerHour"`
		Capacity     arena.Resources `json:"capacity"`
		CreatedAt    string          `json:"createdAt"`
		JoinedAt     string          `json:"joinedAt"`
		UpdatedAt    string          `json:"updatedAt"`
	}
	decisionView struct {
		At       string `json:"at"`
		Region   string `json:"region"`
		Kind     string `json:"kind"`
		Node     string `json:"node"`
		Provider string `json:"provider"`
		Reason   string `json:"reason"`
		Error    string `json:"error"`
	}
)

func (s *api) scalerStatus(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	out := scalerOk{Policies: []policyView{}, Machines: []machineView{}, Decisions: []decisionView{}}
	if s.scaler != nil {
		st, err := s.scaler.Status(r.Context())
		if err != nil {
			return err
		}
		for _, p := range st.Policies {
			v := policyView{Region: p.Region, Offers: []offerView{}, MinNodes: p.MinNodes, MaxNodes: p.MaxNodes, MaxCostPerHour: p.MaxCostPerHour,
				ScaleUpCooldownSeconds: p.ScaleUpCooldown.Seconds(), ScaleDownCooldownSeconds: p.ScaleDownCooldown.Seconds(),
				IdleTimeoutSeconds: p.IdleTimeout.Seconds(), JoinTimeoutSeconds: p.JoinTimeout.Seconds(),
				Buffer: bufferView{Sessions: p.Buffer.Sessions, Org: p.Buffer.OrgID, Application: p.Buffer.Application, Resources: p.Buffer.Resources}}
			for _, o := range p.Offers {
				v.Offers = append(v.Offers, offerView{Provider: o.Provider, Region: o.Region, Location: o.Location, InstanceType: o.InstanceType,
					Image: o.Image, CostPerHour: o.CostPerHour, Capacity: o.Capacity})
			}
			out.Policies = append(out.Policies, v)
		}
		for _, m := range st.Machines {
			out.Machines = append(out.Machines, machineView{Node: m.NodeID, Region: m.Region, Provider: m.Provider, ProviderID: m.ProviderID,
				InstanceType: m.InstanceType, State: string(m.State), Reason: m.Reason, CostPerHour: m.CostPerHour, Capacity: m.Capacity,
				CreatedAt: timeText(m.CreatedAt), JoinedAt: timeText(m.JoinedAt), UpdatedAt: timeText(m.UpdatedAt)})
			if m.State.Live() {
				out.CostPerHour += m.CostPerHour
			}
		}
		for _, d := range st.Decisions {
			out.Decisions = append(out.Decisions, decisionView{At: d.At.UTC().Format(time.RFC3339Nano), Region: d.Region, Kind: d.Kind,
				Node: d.NodeID, Provider: d.Provider, Reason: d.Reason, Error: d.Err})
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
