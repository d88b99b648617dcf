package http

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/arena-hq/arena"
)

// Defaults of the per-token rate limit: generous for a matchmaker, a bound
// for a runaway client.
const (
	DefaultRateLimit = 100
	DefaultRateBurst = 200
)

// rateLimits keeps a token bucket per token. Limits hold per control plane:
// behind several replicas a token may make that many requests to each.
type rateLimits struct {
	perSecond float64
	burst     int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastUsed time.Time
}

// idleBucket is how long an unused bucket is kept: by then it has refilled,
// so forgetting it changes nothing.
const idleBucket = 10 * time.Minute

func newRateLimits(perSecond float64, burst int) *rateLimits {
	return &rateLimits{perSecond: perSecond, burst: burst, buckets: map[string]*bucket{}, swept: time.Now()}
}

// allow takes one request from the token's bucket, or answers EUNAVAILABLE
// (420, the contract's "enhance your calm") saying when to retry.
func (l *rateLimits) allow(tok *arena.Token) error {
	perSecond, burst := l.perSecond, l.burst
	if tok.RateLimit > 0 {
		perSecond = tok.RateLimit
	}
	if tok.RateBurst > 0 {
		burst = tok.RateBurst
	}
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.swept) > idleBucket {
		for id, b := range l.buckets {
			if now.Sub(b.lastUsed) > idleBucket {
				delete(l.buckets, id)
			}
		}
		l.swept = now
	}
	b := l.buckets[tok.ID]
	if b == nil || b.lim.Limit() != rate.Limit(perSecond) || b.lim.Burst() != burst {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
		l.buckets[tok.ID] = b
	}
	b.lastUsed = now
	r := b.lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if !r.OK() || delay > 0 {
		// Not waiting: the caller decides. The reservation is given back so
		// that being refused costs nothing.
		r.CancelAt(now)
		l.mu.Unlock()
		if !r.OK() {
			delay = time.Second
		}
		return &arena.Error{
			Code: arena.EUNAVAILABLE, RetryAfter: delay,
			Message: "rate limit exceeded: at most " + formatRate(perSecond) + " requests per second",
		}
	}
	l.mu.Unlock()
	return nil
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }
