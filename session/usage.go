package session

import (
	"context"
	"time"

	"github.com/arena-hq/arena"
)

// Usage reports the organisation's billed time within [from, to), grouped
// by application, location and resource profile and priced at the
// configured rates. Active sessions count up to now.
func (s *Service) Usage(ctx context.Context, orgID string, from, to time.Time) ([]arena.UsageLine, error) {
	if !to.After(from) {
		return nil, arena.Invalid(arena.Violation{Field: "to", Description: "must be after from"})
	}
	usages, err := s.store.ListUsage(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	stored := make(map[string]bool, len(usages))
	for _, u := range usages {
		stored[u.SessionID] = true
	}
	s.mu.Lock()
	for _, e := range s.sessions.byID {
		sess := e.cur.Load()
		// A session stopping right now may have its row already: the row wins.
		if sess.OrgID != orgID || sess.State == arena.SessionStopped || stored[sess.ID] {
			continue
		}
		u := &arena.Usage{
			SessionID: sess.ID, OrgID: orgID, Application: sess.Application, Location: sess.Location,
			Resources: sess.Resources, Start: sess.RunningAt, End: sess.BillingEnd(now),
		}
		if sess.Pool != "" {
			u.Start, u.End = time.Time{}, time.Time{} // not claimed: nobody's yet
		}
		u.PoolStart, u.PoolEnd = sess.PoolPeriod(now)
		if !u.Start.IsZero() || !u.PoolStart.IsZero() {
			usages = append(usages, u)
		}
	}
	s.mu.Unlock()
	return arena.SummarizeUsage(usages, from, to, s.rates), nil
}
