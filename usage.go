package arena

import (
	"math"
	"sort"
	"time"
)

// Rate is the price of one hour of a session with a resource profile.
type Rate struct {
	Resources Resources
	PerHour   float64
}

// UsageLine is the usage of one application in one location with one
// resource profile over a period.
type UsageLine struct {
	Application string
	Location    string
	Resources   Resources
	Sessions    int
	Seconds     int64
	// Cost is Seconds at the profile's rate; zero when the profile has none.
	Cost float64
	// Priced tells whether a rate applied.
	Priced bool
	// PoolSessions and PoolSeconds are the sessions that waited in warm
	// pools within the period, and for how long: time that is booked but
	// nobody's, reported apart from the sessions' own and not billed.
	PoolSessions int
	PoolSeconds  int64
}

// within returns the seconds of [start, end) within [from, to), a started
// second counted whole; false when none are, or start is zero.
func within(start, end, from, to time.Time) (int64, bool) {
	if start.IsZero() {
		return 0, false
	}
	if start.Before(from) {
		start = from
	}
	if end.After(to) {
		end = to
	}
	if !end.After(start) {
		return 0, false
	}
	return int64(math.Ceil(end.Sub(start).Seconds())), true
}

// SummarizeUsage adds up usages within [from, to), grouped by application,
// location and resource profile, in that order. A usage that spans a bound
// counts the seconds within the period, a started second counted whole, so
// that consecutive periods add up to at least the whole.
func SummarizeUsage(usages []*Usage, from, to time.Time, rates []Rate) []UsageLine {
	type key struct {
		app, loc string
		res      Resources
	}
	lines := map[key]*UsageLine{}
	line := func(u *Usage) *UsageLine {
		k := key{u.Application, u.Location, u.Resources}
		l, ok := lines[k]
		if !ok {
			l = &UsageLine{Application: u.Application, Location: u.Location, Resources: u.Resources}
			lines[k] = l
		}
		return l
	}
	for _, u := range usages {
		if s, ok := within(u.Start, u.End, from, to); ok {
			l := line(u)
			l.Sessions++
			l.Seconds += s
		}
		if s, ok := within(u.PoolStart, u.PoolEnd, from, to); ok {
			l := line(u)
			l.PoolSessions++
			l.PoolSeconds += s
		}
	}
	out := make([]UsageLine, 0, len(lines))
	for _, l := range lines {
		for _, r := range rates {
			if r.Resources == l.Resources {
				l.Cost, l.Priced = float64(l.Seconds)/3600*r.PerHour, true
			}
		}
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Application != b.Application:
			return a.Application < b.Application
		case a.Location != b.Location:
			return a.Location < b.Location
		case a.Resources.MilliCPU != b.Resources.MilliCPU:
			return a.Resources.MilliCPU < b.Resources.MilliCPU
		}
		return a.Resources.MemoryMB < b.Resources.MemoryMB
	})
	return out
}
