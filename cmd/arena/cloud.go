package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/config"
	"github.com/arena-hq/arena/fleet"
	"github.com/arena-hq/arena/metrics"
	"github.com/arena-hq/arena/provider"
	"github.com/arena-hq/arena/scaler"
)

// newScaler returns the scaler and the scaling settings, with those of
// the config file's cloud section in the store.
func newScaler(ctx context.Context, cfg *config.Config, o stackOptions, store arena.Store, sealer scaler.Sealer, fl *fleet.Fleet, catalog arena.Catalog,
	events scaler.EventPublisher, installation string, reg *metrics.Registry, log *slog.Logger) (*scaler.Scaler, *scaler.Settings, error) {
	policies, err := cfg.ScalingPolicies()
	if err != nil {
		return nil, nil, err
	}
	providers, err := cfg.CloudProviders()
	if err != nil {
		return nil, nil, err
	}
	binary, _ := os.Executable()
	defaults := provider.Defaults{LocalDir: filepath.Join(o.data, "machines"), LocalBinary: binary}
	settings := scaler.NewSettings(store, sealer, func(p *arena.CloudProvider) (arena.Provider, error) { return provider.New(p, defaults) })
	if err := settings.SyncConfig(ctx, policies, providers); err != nil {
		return nil, nil, err
	}
	servers := cfg.Cloud.Servers
	if len(servers) == 0 {
		servers = []string{o.self}
	}
	sc := scaler.New(scaler.Config{Store: store, Fleet: fl, Catalog: catalog, Settings: settings, Events: events, EventsOrg: pick(cfg.Cloud.EventsOrg, cfg.OrgID),
		Installation: installation, Servers: servers, AgentURL: cfg.Cloud.AgentURL, Interval: time.Duration(cfg.Cloud.Interval), CallTimeout: time.Duration(cfg.Cloud.CallTimeout),
		Observer: reg, Logger: log.With("component", "scaler")})
	return sc, settings, nil
}
