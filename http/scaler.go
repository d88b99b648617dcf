package http

import (
	"context"
	"fmt"
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

// ScalingSettings changes the scaling policies and the cloud providers
// (scaler.Settings implements it).
type ScalingSettings interface {
	PutPolicy(ctx context.Context, p arena.ScalingPolicy) (arena.ScalingPolicy, error)
	DeletePolicy(ctx context.Context, region string) error
	// Providers returns the providers with their credentials' values
	// blanked; PutProvider answers so too.
	Providers(ctx context.Context) ([]*arena.CloudProvider, error)
	PutProvider(ctx context.Context, p *arena.CloudProvider) (*arena.CloudProvider, error)
	DeleteProvider(ctx context.Context, name string) error
}

// WithScaler serves GET /admin/v1/scaler from sc, and the changes of the
// scaling policies and providers through settings; without it the status
// answers that no region is scaled and the changes are not served.
func WithScaler(sc Scaler, settings ScalingSettings) Option {
	return func(s *api) { s.scaler, s.scaling = sc, settings }
}

func (s *api) scalerRoutes() {
	op := arena.ScopeOperator
	nf, inv, conf := arena.ENOTFOUND, arena.EINVALID, arena.ECONFLICT
	s.mux.HandleFunc("PUT /admin/v1/scaler/policies/{region}", s.authed(op, s.putPolicy, inv, conf))
	s.mux.HandleFunc("DELETE /admin/v1/scaler/policies/{region}", s.authed(op, s.deletePolicy, nf, conf))
	s.mux.HandleFunc("GET /admin/v1/scaler/providers", s.authed(op, s.listProviders))
	s.mux.HandleFunc("PUT /admin/v1/scaler/providers/{name}", s.authed(op, s.putProvider, inv, conf))
	s.mux.HandleFunc("DELETE /admin/v1/scaler/providers/{name}", s.authed(op, s.deleteProvider, nf, conf))
}

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
		Source                   string      `json:"source"`
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
			out.Policies = append(out.Policies, newPolicyView(p))
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

func newPolicyView(p arena.ScalingPolicy) policyView {
	v := policyView{Region: p.Region, Source: p.Source, Offers: []offerView{}, MinNodes: p.MinNodes, MaxNodes: p.MaxNodes, MaxCostPerHour: p.MaxCostPerHour,
		ScaleUpCooldownSeconds: p.ScaleUpCooldown.Seconds(), ScaleDownCooldownSeconds: p.ScaleDownCooldown.Seconds(),
		IdleTimeoutSeconds: p.IdleTimeout.Seconds(), JoinTimeoutSeconds: p.JoinTimeout.Seconds(),
		Buffer: bufferView{Sessions: p.Buffer.Sessions, Org: p.Buffer.OrgID, Application: p.Buffer.Application, Resources: p.Buffer.Resources}}
	for _, o := range p.Offers {
		v.Offers = append(v.Offers, offerView{Provider: o.Provider, Region: o.Region, Location: o.Location, InstanceType: o.InstanceType,
			Image: o.Image, CostPerHour: o.CostPerHour, Capacity: o.Capacity})
	}
	return v
}

// policyInput is the body of PUT /admin/v1/scaler/policies/{region}: a
// whole policy, its region in the path.
type policyInput struct {
	Offers                   []offerView `json:"offers"`
	Buffer                   bufferView  `json:"buffer"`
	MinNodes                 int         `json:"minNodes"`
	MaxNodes                 int         `json:"maxNodes"`
	MaxCostPerHour           float64     `json:"maxCostPerHour"`
	ScaleUpCooldownSeconds   *float64    `json:"scaleUpCooldownSeconds"`
	ScaleDownCooldownSeconds *float64    `json:"scaleDownCooldownSeconds"`
	IdleTimeoutSeconds       *float64    `json:"idleTimeoutSeconds"`
	JoinTimeoutSeconds       *float64    `json:"joinTimeoutSeconds"`
}

// maxPolicySeconds bounds a duration of a policy's body.
const maxPolicySeconds = 7 * 24 * 3600

func (s *api) putPolicy(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	var in policyInput
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	var violations []arena.Violation
	seconds := func(field string, v *float64, def time.Duration) time.Duration {
		if v == nil {
			return def
		}
		if *v < 0 || *v > maxPolicySeconds {
			violations = append(violations, arena.Violation{Field: field, Description: fmt.Sprintf("must be between 0 and %d seconds", maxPolicySeconds)})
			return 0
		}
		return time.Duration(*v * float64(time.Second))
	}
	p := arena.ScalingPolicy{Region: r.PathValue("region"), MinNodes: in.MinNodes, MaxNodes: in.MaxNodes, MaxCostPerHour: in.MaxCostPerHour,
		Buffer:            arena.ScalingBuffer{Sessions: in.Buffer.Sessions, OrgID: in.Buffer.Org, Application: in.Buffer.Application, Resources: in.Buffer.Resources},
		ScaleUpCooldown:   seconds("scaleUpCooldownSeconds", in.ScaleUpCooldownSeconds, arena.DefaultScaleCooldown),
		ScaleDownCooldown: seconds("scaleDownCooldownSeconds", in.ScaleDownCooldownSeconds, arena.DefaultScaleCooldown),
		IdleTimeout:       seconds("idleTimeoutSeconds", in.IdleTimeoutSeconds, arena.DefaultIdleTimeout),
		JoinTimeout:       seconds("joinTimeoutSeconds", in.JoinTimeoutSeconds, arena.DefaultJoinTimeout),
	}
	if len(violations) > 0 {
		return arena.Invalid(violations...)
	}
	for _, o := range in.Offers {
		p.Offers = append(p.Offers, arena.MachineOffer{Provider: o.Provider, Region: o.Region, Location: o.Location, InstanceType: o.InstanceType,
			Image: o.Image, CostPerHour: o.CostPerHour, Capacity: o.Capacity})
	}
	saved, err := s.scaling.PutPolicy(r.Context(), p)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newPolicyView(saved))
	return nil
}

func (s *api) deletePolicy(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	if err := s.scaling.DeletePolicy(r.Context(), r.PathValue("region")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// providerView is a provider as the admin API shows it: its credentials
// by name only.
type providerView struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Settings    map[string]string `json:"settings"`
	Credentials []string          `json:"credentials"`
	Source      string            `json:"source"`
	CreatedAt   string            `json:"createdAt"`
	UpdatedAt   string            `json:"updatedAt"`
}

func newProviderView(p *arena.CloudProvider) providerView {
	settings := p.Settings
	if settings == nil {
		settings = map[string]string{}
	}
	return providerView{Name: p.Name, Type: p.Type, Settings: settings, Credentials: p.CredentialNames(), Source: p.Source,
		CreatedAt: timeText(p.CreatedAt), UpdatedAt: timeText(p.UpdatedAt)}
}

func (s *api) listProviders(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	list, err := s.scaling.Providers(r.Context())
	if err != nil {
		return err
	}
	out := make([]providerView, 0, len(list))
	for _, p := range list {
		out = append(out, newProviderView(p))
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"providers": out})
	return nil
}

func (s *api) putProvider(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	var in struct {
		Type        string            `json:"type"`
		Settings    map[string]string `json:"settings"`
		Credentials map[string]string `json:"credentials"`
	}
	if err := decodeStrict(w, r, &in); err != nil {
		return err
	}
	saved, err := s.scaling.PutProvider(r.Context(), &arena.CloudProvider{Name: r.PathValue("name"), Type: in.Type, Settings: in.Settings, Credentials: in.Credentials})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newProviderView(saved))
	return nil
}

func (s *api) deleteProvider(w http.ResponseWriter, r *http.Request, _ *arena.Token) error {
	if err := s.scaling.DeleteProvider(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
