package tenant_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/scheduler"
)

// quotaNode gives sched a node with room for a thousand one-core sessions,
// so that only a quota can refuse what a test places on it.
func quotaNode(sched *scheduler.Scheduler) {
	sched.UpsertNode(arena.Node{
		ID: "big", Region: "europe", Location: "ams", Provider: "p", Class: arena.ClassMetal, PublicIP: "192.0.2.1",
		Capacity: arena.Resources{MilliCPU: 1_000_000, MemoryMB: 1_000_000}, PortMin: 40000, PortMax: 49999,
	}, true)
}

// placeCode places one one-core session of orgID directly in sched and
// returns the error's code, releasing what it placed.
func placeCode(sched *scheduler.Scheduler, orgID string) string {
	id := fmt.Sprintf("probe-%s", orgID)
	_, err := sched.Place(scheduler.Request{SessionID: id, OrgID: orgID, Location: "ams", Resources: arena.Resources{MilliCPU: 1000, MemoryMB: 1}})
	sched.Release(id)
	return arena.ErrorCode(err)
}

func TestSetQuota(t *testing.T) {
	ctx := context.Background()
	sched := scheduler.New(scheduler.Pack)
	quotaNode(sched)
	srv := newTenants(t, sched, nil)
	tests := []struct {
		name  string
		org   string
		quota arena.Quota
		code  string
		// fields are the violations an EINVALID names.
		fields []string
	}{
		{name: "both bounds", org: org, quota: arena.Quota{MaxSessions: 5, MaxMilliCPU: 500}},
		{name: "negative sessions", org: org, quota: arena.Quota{MaxSessions: -1}, code: arena.EINVALID, fields: []string{"maxSessions"}},
		{name: "negative cpu", org: org, quota: arena.Quota{MaxMilliCPU: -1}, code: arena.EINVALID, fields: []string{"maxMilliCpu"}},
		{
			name: "past the upper bounds", org: org, quota: arena.Quota{MaxSessions: arena.MaxQuotaSessions + 1, MaxMilliCPU: arena.MaxQuotaMilliCPU + 1},
			code: arena.EINVALID, fields: []string{"maxSessions", "maxMilliCpu"},
		},
		{name: "at the upper bounds", org: "org-b", quota: arena.Quota{MaxSessions: arena.MaxQuotaSessions, MaxMilliCPU: arena.MaxQuotaMilliCPU}},
		{name: "unknown organisation", org: "nope", quota: arena.Quota{MaxSessions: 1}, code: arena.ENOTFOUND},
	}
	// The quota in force, which a refused change must leave as it was.
	want := map[string]arena.Quota{org: {}, "org-b": {}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := srv.SetQuota(ctx, tt.org, tt.quota)
			if code := arena.ErrorCode(err); code != tt.code {
				t.Fatalf("SetQuota: %v, want code %q", err, tt.code)
			}
			for _, f := range tt.fields {
				if !violationOf(err, f) {
					t.Errorf("no violation of %s in %v", f, arena.ErrorViolations(err))
				}
			}
			if err == nil {
				want[tt.org] = tt.quota
				if o.Quota != tt.quota || o.ID != tt.org {
					t.Errorf("SetQuota returned %+v", o)
				}
			}
			for id, q := range want {
				got, err := srv.FindOrganization(ctx, id)
				if err != nil || got.Quota != q || got.QuotaSource != "" {
					t.Errorf("%s: %+v, %v; want quota %+v", id, got, err, q)
				}
			}
		})
	}
	// The scheduler follows: org holds half a core of quota.
	if code := placeCode(sched, org); code != arena.EQUOTA {
		t.Errorf("a core for %s with maxMilliCpu 500: %q, want EQUOTA", org, code)
	}
	if code := placeCode(sched, "org-b"); code != "" {
		t.Errorf("a core for org-b: %q", code)
	}
}

// TestSyncQuotas applies the config file's quotas twice, as two starts
// would, with the admin API between them.
func TestSyncQuotas(t *testing.T) {
	ctx := context.Background()
	sched := scheduler.New(scheduler.Pack)
	quotaNode(sched)
	srv := newTenants(t, sched, nil)
	if _, err := srv.SetQuota(ctx, "org-b", arena.Quota{MaxSessions: 50}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		quota  arena.Quota
		source string
		// set is the code of a change through the admin API.
		set string
	}
	steps := []struct {
		name   string
		quotas map[string]arena.Quota
		want   map[string]want
	}{
		{
			name:   "the file sets two and makes one organisation",
			quotas: map[string]arena.Quota{org: {MaxMilliCPU: 500}, "org-new": {MaxSessions: 3}},
			want: map[string]want{
				org:       {arena.Quota{MaxMilliCPU: 500}, arena.SourceConfig, arena.ECONFLICT},
				"org-new": {arena.Quota{MaxSessions: 3}, arena.SourceConfig, arena.ECONFLICT},
				"org-b":   {arena.Quota{MaxSessions: 50}, "", ""},
			},
		},
		{
			name:   "the file takes over one the API set, and lets go of one it dropped",
			quotas: map[string]arena.Quota{"org-new": {MaxSessions: 4}, "org-b": {MaxMilliCPU: 500}},
			want: map[string]want{
				org:       {arena.Quota{}, "", ""},
				"org-new": {arena.Quota{MaxSessions: 4}, arena.SourceConfig, arena.ECONFLICT},
				"org-b":   {arena.Quota{MaxMilliCPU: 500}, arena.SourceConfig, arena.ECONFLICT},
			},
		},
		{
			name: "an empty file owns none",
			want: map[string]want{
				org:       {arena.Quota{}, "", ""},
				"org-new": {arena.Quota{}, "", ""},
				"org-b":   {arena.Quota{}, "", ""},
			},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := srv.SyncQuotas(ctx, st.quotas); err != nil {
				t.Fatalf("SyncQuotas: %v", err)
			}
			for id, w := range st.want {
				o, err := srv.FindOrganization(ctx, id)
				if err != nil || o.Quota != w.quota || o.QuotaSource != w.source {
					t.Errorf("%s: %+v, %v; want quota %+v from %q", id, o, err, w.quota, w.source)
				}
				// The scheduler follows: a core fits unless a bound of
				// half a core or less says otherwise.
				wantPlace := ""
				if w.quota.MaxMilliCPU > 0 && w.quota.MaxMilliCPU < 1000 {
					wantPlace = arena.EQUOTA
				}
				if code := placeCode(sched, id); code != wantPlace {
					t.Errorf("a core for %s: %q, want %q", id, code, wantPlace)
				}
			}
			// The admin API may change only the quotas the file does not
			// own; trying leaves them as they are. (Setting them the same
			// again keeps the next step's starting point.)
			for id, w := range st.want {
				_, err := srv.SetQuota(ctx, id, w.quota)
				if code := arena.ErrorCode(err); code != w.set {
					t.Errorf("SetQuota %s: %v, want code %q", id, err, w.set)
				}
			}
		})
	}
	t.Run("a bad quota changes nothing", func(t *testing.T) {
		err := srv.SyncQuotas(ctx, map[string]arena.Quota{org: {MaxSessions: 9}, "org-b": {MaxSessions: -1}})
		if arena.ErrorCode(err) != arena.EINVALID || !strings.Contains(arena.ErrorMessage(err), "maxSessions") {
			t.Fatalf("SyncQuotas: %v, want EINVALID naming maxSessions", err)
		}
		if o, _ := srv.FindOrganization(ctx, org); o.Quota != (arena.Quota{}) {
			t.Errorf("%s got quota %+v from a refused file", org, o.Quota)
		}
	})
}
