package main

import (
	"context"
	"log/slog"
	nethttp "net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/postgres"
)

// leaderCacheTTL is how long a follower trusts the leader's address it
// read from the database: short, because a takeover changes it.
const leaderCacheTTL = 500 * time.Millisecond

// forwarder is what a replica that does not lead serves: it passes every
// request, agents' streams included, to the leading replica, so that a load
// balancer may send anything anywhere. It answers /healthz and /readyz
// itself.
type forwarder struct {
	pg   *postgres.Store
	self string
	log  *slog.Logger

	mu      sync.Mutex
	leader  string
	checked time.Time
	proxies map[string]*httputil.ReverseProxy
}

func newForwarder(pg *postgres.Store, self string, log *slog.Logger) *forwarder {
	return &forwarder{pg: pg, self: self, log: log.With("component", "forwarder"), proxies: map[string]*httputil.ReverseProxy{}}
}

// leaderURL returns the leading replica's address, or "" when none other
// than this one is known. The database is read outside the lock, so that
// a slow read holds up no request that could use the cached address.
func (f *forwarder) leaderURL(ctx context.Context) string {
	f.mu.Lock()
	if time.Since(f.checked) < leaderCacheTTL {
		u := f.leader
		f.mu.Unlock()
		return u
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	u, _, err := f.pg.Leader(ctx)
	if err != nil {
		f.log.Warn("cannot read the leader", "err", err)
		u = ""
	}
	if u == f.self {
		// This replica led and no longer does: the next leader has not
		// written its address yet.
		u = ""
	}
	f.mu.Lock()
	f.leader, f.checked = u, time.Now()
	f.mu.Unlock()
	return u
}

func (f *forwarder) forget() {
	f.mu.Lock()
	f.checked = time.Time{}
	f.mu.Unlock()
}

func (f *forwarder) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	leader := f.leaderURL(r.Context())
	switch r.URL.Path {
	case "/healthz":
		http.WriteJSON(w, r, nethttp.StatusOK, map[string]string{"status": "ok"})
		return
	case "/readyz":
		if leader == "" {
			http.WriteJSON(w, r, nethttp.StatusServiceUnavailable, http.Readiness{Status: "unavailable", Role: "follower", Reason: "no replica leads yet"})
			return
		}
		http.WriteJSON(w, r, nethttp.StatusOK, http.Readiness{Status: "ready", Role: "follower", Leader: leader})
		return
	}
	if leader == "" {
		w.Header().Set("Retry-After", "1")
		http.WriteError(w, r, arena.Errorf(arena.EUNAVAILABLE, "no control plane leads right now; retry shortly"))
		return
	}
	// What is forwarded may be a stream (an agent's, followed logs) that
	// lasts as long as its reader: each write has the write timeout.
	f.proxy(leader).ServeHTTP(http.Stream(w, r), r)
}

// proxy returns the reverse proxy to leader, made once per address.
func (f *forwarder) proxy(leader string) *httputil.ReverseProxy {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.proxies[leader]; ok {
		return p
	}
	target, err := url.Parse(leader)
	if err != nil {
		target = &url.URL{}
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		// Agents' assignment streams and followed logs must flow as they come.
		FlushInterval: -1,
		ErrorHandler: func(w nethttp.ResponseWriter, r *nethttp.Request, err error) {
			// The leader went away mid-request, most likely: look again next time.
			f.forget()
			f.log.Warn("forwarding to the leader failed", "leader", leader, "err", err)
			w.Header().Set("Retry-After", "1")
			http.WriteError(w, r, arena.Errorf(arena.EUNAVAILABLE, "the leading control plane did not answer; retry shortly"))
		},
	}
	f.proxies[leader] = p
	return p
}
