package session_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/arena-hq/arena"
)

// TestQuotaRefusesCreate fills an organisation's quota through the control
// plane: one more create is EQUOTA naming the bound, and once a session has
// stopped and its node reported it, a create fits again.
func TestQuotaRefusesCreate(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 100)
	if _, err := h.tenants.SetQuota(ctx, org, arena.Quota{MaxSessions: 2}); err != nil {
		t.Fatal(err)
	}
	first := h.create(arena.SessionRequest{})
	h.create(arena.SessionRequest{})
	_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "europe", Image: "game"})
	if arena.ErrorCode(err) != arena.EQUOTA || !strings.Contains(arena.ErrorMessage(err), "maxSessions of 2") {
		t.Fatalf("a third session: %v, want EQUOTA naming maxSessions", err)
	}
	if got, want := h.tenants.QuotaUsage(org), (arena.QuotaUsage{Sessions: 2, MilliCPU: 200}); got != want {
		t.Fatalf("QuotaUsage = %+v, want %+v", got, want)
	}
	// A refused create left nothing behind.
	if list, _ := h.srv.ListSessions(ctx, org, arena.SessionFilter{}); len(list) != 2 {
		t.Fatalf("%d sessions after the refusal", len(list))
	}
	if err := h.srv.StopSession(ctx, org, first.PublicID()); err != nil {
		t.Fatal(err)
	}
	h.waitState(first.PublicID(), arena.SessionStopped)
	waitFor(t, func() bool { return h.tenants.QuotaUsage(org).Sessions == 1 })
	h.create(arena.SessionRequest{})
}

// TestQuotaAcrossRestart reopens the control plane on the same store: the
// quota is in force again at once, and the sessions restored count against it.
func TestQuotaAcrossRestart(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 100)
	if _, err := h.tenants.SetQuota(ctx, org, arena.Quota{MaxMilliCPU: 200}); err != nil {
		t.Fatal(err)
	}
	s := h.create(arena.SessionRequest{})
	h.waitState(s.PublicID(), arena.SessionRunning)
	h.create(arena.SessionRequest{})
	h.restartServer()
	if got, want := h.tenants.QuotaUsage(org), (arena.QuotaUsage{Sessions: 2, MilliCPU: 200}); got != want {
		t.Fatalf("QuotaUsage after the restart = %+v, want %+v", got, want)
	}
	_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "europe", Image: "game"})
	if arena.ErrorCode(err) != arena.EQUOTA || !strings.Contains(arena.ErrorMessage(err), "maxMilliCpu of 200") {
		t.Fatalf("a third session after the restart: %v, want EQUOTA naming maxMilliCpu", err)
	}
}

// TestConcurrentCreatesQuota races 200 creates of one organisation, with
// room for all of them, against a quota of ten: exactly ten are created.
func TestConcurrentCreatesQuota(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 300)
	if _, err := h.tenants.SetQuota(ctx, org, arena.Quota{MaxSessions: 10}); err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[string]int{}
	)
	start := make(chan struct{})
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := h.srv.CreateSession(ctx, org, arena.SessionRequest{Location: "ams", Image: "game"})
			mu.Lock()
			defer mu.Unlock()
			codes[arena.ErrorCode(err)]++
		}()
	}
	close(start)
	wg.Wait()
	if codes[""] != 10 || codes[arena.EQUOTA] != 190 {
		t.Fatalf("outcomes %v, want 10 created and 190 refused for the quota", codes)
	}
	if list, _ := h.srv.ListSessions(ctx, org, arena.SessionFilter{}); len(list) != 10 {
		t.Fatalf("%d sessions listed", len(list))
	}
}
