package main

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/metrics"
	"github.com/arena-hq/arena/provider/local"
	"github.com/arena-hq/arena/scaler"
)

// newScaler returns the scaler of the config file's cloud section, nil
// when it has no region to scale.
func newScaler(cfg *config.Config, o stackOptions, store arena.Store, fl *fleet.Fleet, catalog arena.Catalog, installation string, reg *metrics.Registry, log *slog.Logger) (*scaler.Scaler, error) {
	policies, err := cfg.ScalingPolicies()
	if err != nil || len(policies) == 0 {
		return nil, err
	}
	providers := map[string]arena.Provider{}
	for _, p := range cfg.Cloud.Providers {
		lp, err := local.New(local.Config{Name: p.Name, Binary: p.Binary, Dir: pick(p.Dir, filepath.Join(o.data, "machines")),
			PortBase: p.PortBase, PortsPerMachine: p.PortsPerMachine})
		if err != nil {
			return nil, err
		}
		providers[p.Name] = lp
	}
	servers := cfg.Cloud.Servers
	if len(servers) == 0 {
		servers = []string{o.self}
	}
	return scaler.New(scaler.Config{Store: store, Fleet: fl, Catalog: catalog, Providers: providers, Policies: policies,
		Installation: installation, Servers: servers, AgentURL: cfg.Cloud.AgentURL, Interval: time.Duration(cfg.Cloud.Interval), CallTimeout: time.Duration(cfg.Cloud.CallTimeout),
		Observer: reg, Logger: log.With("component", "scaler")}), nil
}
