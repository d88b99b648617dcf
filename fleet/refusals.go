package fleet

import (
	"sync"
	"time"

	"github.com/arena-hq/arena"
)

// The creates placement refuses for want of room are remembered for a
// while, by session id (a create retried under its id counts once), so
// that the scaler adds room for the sessions that wait for it: a 420 is
// transient because capacity comes.

// refusalMemory is how long a refused create counts as waiting.
const refusalMemory = time.Minute

type refusals struct {
	mu sync.Mutex
	// by session id: where the create asked for, and when it was last
	// refused.
	m map[string]refusal
}

type refusal struct {
	location string
	res      arena.Resources
	at       time.Time
}

// note records the outcome of placing req at now.
func (r *refusals) note(req Request, err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if arena.ErrorCode(err) != arena.EUNAVAILABLE {
		delete(r.m, req.SessionID) // placed, or refused for another reason
		return
	}
	if r.m == nil {
		r.m = map[string]refusal{}
	}
	r.m[req.SessionID] = refusal{location: req.Location, res: req.Resources, at: now}
	for id, x := range r.m {
		if now.Sub(x.at) > refusalMemory {
			delete(r.m, id)
		}
	}
}

// Waiting counts the creates of a region (asked for by any of its
// locations or by its name) placement refused for want of room within the
// last within, and that have not been placed since, and returns what they
// reserve.
func (f *Fleet) Waiting(region string, within time.Duration) (int, arena.Resources) {
	in := map[string]bool{region: true}
	f.nmu.Lock()
	for _, n := range f.nodes {
		if n.Region == region {
			in[n.Location] = true
		}
	}
	f.nmu.Unlock()
	now := f.now()
	f.refused.mu.Lock()
	defer f.refused.mu.Unlock()
	count, room := 0, arena.Resources{}
	for _, x := range f.refused.m {
		if in[x.location] && now.Sub(x.at) <= within {
			count++
			room = room.Add(x.res)
		}
	}
	return count, room
}
