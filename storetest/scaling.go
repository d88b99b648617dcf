package storetest

import (
	"context"
	"testing"

	"github.com/arena-hq/arena"
)

// The tests of the scaling settings: policies and cloud providers, kept
// whole and replaced whole.

func normPolicy(p *arena.ScalingPolicy) arena.ScalingPolicy {
	c := *p
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c
}

func normProvider(p *arena.CloudProvider) arena.CloudProvider {
	c := *p
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c
}

// testScalingPolicies checks that every field of a policy comes back as
// written, that a put replaces, and that a delete of none is ENOTFOUND.
func testScalingPolicies(t *testing.T, s arena.Store) {
	ctx := context.Background()
	full := filled[arena.ScalingPolicy](t)
	full.Region = "b-full"
	zero := &arena.ScalingPolicy{Region: "a-zero", Offers: []arena.MachineOffer{}, UpdatedAt: at(1)}
	for _, p := range []*arena.ScalingPolicy{&full, zero} {
		if err := s.PutScalingPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListScalingPolicies(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListScalingPolicies: %d, %v; want 2", len(list), err)
	}
	equal(t, "the policy of zero values, listed first", normPolicy(list[0]), normPolicy(zero))
	equal(t, "the policy of every field", normPolicy(list[1]), normPolicy(&full))

	changed := full
	changed.Offers = changed.Offers[:1]
	changed.MaxNodes, changed.Source, changed.UpdatedAt = 99, arena.SourceAPI, at(7)
	if err := s.PutScalingPolicy(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	list, err = s.ListScalingPolicies(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("after a replace: %d policies, %v; want 2", len(list), err)
	}
	equal(t, "the replaced policy", normPolicy(list[1]), normPolicy(&changed))

	if err := s.DeleteScalingPolicy(ctx, zero.Region); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteScalingPolicy(ctx, zero.Region); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("deleting it again: %v, want ENOTFOUND", err)
	}
	if list, err = s.ListScalingPolicies(ctx); err != nil || len(list) != 1 || list[0].Region != full.Region {
		t.Errorf("after the delete: %v, %v; want only %s", list, err, full.Region)
	}
}

// testCloudProviders checks that a provider comes back as written, its
// credentials only sealed, and that a put replaces.
func testCloudProviders(t *testing.T, s arena.Store) {
	ctx := context.Background()
	full := filled[arena.CloudProvider](t)
	full.Name = "b-full"
	full.Credentials = map[string]string{"token": "secret"}
	zero := &arena.CloudProvider{Name: "a-zero", Type: arena.ProviderLocal, CreatedAt: at(1), UpdatedAt: at(1)}
	for _, p := range []*arena.CloudProvider{&full, zero} {
		if err := s.PutCloudProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListCloudProviders(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListCloudProviders: %d, %v; want 2", len(list), err)
	}
	if list[1].Credentials != nil {
		t.Errorf("the store kept the credentials in the clear: %v", list[1].Credentials)
	}
	want := full
	want.Credentials = nil
	equal(t, "the provider of every field but its plain credentials", normProvider(list[1]), normProvider(&want))
	if len(list[0].Settings) != 0 || len(list[0].SealedCredentials) != 0 || list[0].Name != zero.Name || list[0].Type != zero.Type {
		t.Errorf("the provider of zero values came back as %+v", list[0])
	}

	changed := want
	changed.Type, changed.Settings, changed.SealedCredentials = arena.ProviderAWS, map[string]string{"region": "eu-central-1"}, []byte{9}
	if err := s.PutCloudProvider(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	if list, err = s.ListCloudProviders(ctx); err != nil || len(list) != 2 {
		t.Fatalf("after a replace: %d providers, %v", len(list), err)
	}
	equal(t, "the replaced provider", normProvider(list[1]), normProvider(&changed))

	if err := s.DeleteCloudProvider(ctx, full.Name); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCloudProvider(ctx, full.Name); arena.ErrorCode(err) != arena.ENOTFOUND {
		t.Errorf("deleting it again: %v, want ENOTFOUND", err)
	}
}
