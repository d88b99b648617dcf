package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/rpc"
)

// How often a follower reads who leads: while a lease is held, and while
// none is (a takeover is due within a campaign poll, and requests wait for
// it).
const (
	leaderPoll     = 500 * time.Millisecond
	leaderlessPoll = 100 * time.Millisecond
	// leaderReadyTimeout bounds asking the leader whether it is ready.
	leaderReadyTimeout = time.Second
)

// forwarder is what a replica that does not lead serves: it passes every
// request, agents' streams included, to the leading replica, so that a load
// balancer may send anything anywhere. It answers /healthz and /readyz
// itself.
//
// It reads who leads from the database in the background (watch): the
// leader is the replica whose lease has not expired, by the database's
// clock. While none holds it (a takeover under way) a request waits for
// the next leader, up to wait, rather than failing at once. When the lead
// changes hands, every request still forwarded to the previous leader is
// ended, agents' streams included: a frozen or cut-off leader would hold
// them open, and the agents must reconnect to the new one.
type forwarder struct {
	leases Leases
	self   string
	log    *slog.Logger
	// wait bounds how long a request waits for a leader.
	wait   time.Duration
	client *nethttp.Client
	// transport carries what is forwarded: a leader whose machine is cut
	// off does not refuse connections, it lets them hang, so connecting
	// is given up soon and the request sent to the next leader.
	transport *nethttp.Transport

	mu sync.Mutex
	// view is who leads as last read; changed is closed when it changes.
	view    leaderView
	changed chan struct{}
	// target is the leader requests are forwarded to, once one was.
	target *target
	// local serves the requests that reached this replica while it took
	// the lead, once it does; nil while it follows.
	local   nethttp.Handler
	proxies map[string]*httputil.ReverseProxy
	// refresh asks watch to read again now.
	refresh chan struct{}
	// reads, when set, serves the requests readsLocally takes while this
	// replica follows, instead of the leader: reads from the store.
	reads        nethttp.Handler
	readsLocally func(*nethttp.Request) bool
}

// leaderView is who leads, as the follower last read it.
type leaderView struct {
	// url is the leader's address; empty while none other than this
	// replica holds the lead, or while the database cannot be read (err).
	url   string
	epoch int64
	err   error
}

// errLeaderGone ends the requests forwarded to a leader whose term is over.
var errLeaderGone = errors.New("the replica no longer leads")

// target is one term's leader, with what ends the requests forwarded to it.
type target struct {
	url    string
	epoch  int64
	ctx    context.Context
	cancel context.CancelFunc
}

func newForwarder(leases Leases, self string, log *slog.Logger) *forwarder {
	return &forwarder{
		leases: leases, self: self, log: log.With("component", "forwarder"), wait: 2 * leases.Lease(),
		client: &nethttp.Client{Timeout: leaderReadyTimeout}, transport: forwardTransport(),
		view:    leaderView{err: errors.New("the leader has not been read yet")},
		changed: make(chan struct{}), proxies: map[string]*httputil.ReverseProxy{}, refresh: make(chan struct{}, 1),
	}
}

// watch reads who leads until ctx ends, then ends what is forwarded.
func (f *forwarder) watch(ctx context.Context) {
	for {
		f.look(ctx)
		f.mu.Lock()
		every := leaderPoll
		if f.view.url == "" {
			every = leaderlessPoll
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			f.mu.Lock()
			if f.target != nil {
				f.target.cancel()
			}
			f.mu.Unlock()
			return
		case <-f.refresh:
		case <-time.After(every):
		}
	}
}

// look reads who leads once, and ends what is forwarded to a leader that
// no longer is.
func (f *forwarder) look(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ls, err := f.leases.LeaderStatus(ctx)
	v := leaderView{url: ls.URL, epoch: ls.Epoch, err: err}
	if err != nil || !ls.Held || ls.URL == f.self {
		// A leader whose lease has expired leads no more, whatever its
		// process believes; and this replica, which forwards, does not
		// lead: its lease has yet to expire in the database.
		v.url = ""
	}
	if err != nil && ctx.Err() == nil {
		f.log.Warn("cannot read the leader", "err", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.target; t != nil && err == nil && (t.url != v.url || t.epoch != v.epoch) {
		// Its lease has expired, or another term began: the requests it
		// holds get no answer worth waiting for (its writes are refused).
		t.cancel()
		f.target = nil
	}
	if v.url != f.view.url || v.epoch != f.view.epoch || (v.err == nil) != (f.view.err == nil) {
		f.wake()
	}
	f.view = v
}

// wake tells the requests that wait for a leader to look again; the
// caller holds f.mu.
func (f *forwarder) wake() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// serveLocally hands the requests that wait here to h, the control plane
// of this replica, which now leads; nil hands them to no one again.
// Requests that reached the replica while it took the lead would
// otherwise wait for a leader other than itself.
func (f *forwarder) serveLocally(h nethttp.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.local = h
	f.wake()
}

// forget has the leader read again at once: forwarding to it failed.
func (f *forwarder) forget() {
	select {
	case f.refresh <- struct{}{}:
	default:
	}
}

// leader returns the leader to forward to, or this replica's control plane
// once it leads, waiting for either until until: one deadline for all of a
// request's attempts.
func (f *forwarder) leader(ctx context.Context, until time.Time) (nethttp.Handler, *target, error) {
	giveUp := time.NewTimer(time.Until(until))
	defer giveUp.Stop()
	for {
		f.mu.Lock()
		v, changed := f.view, f.changed
		if f.local != nil {
			h := f.local
			f.mu.Unlock()
			return h, nil, nil
		}
		if v.url != "" {
			if f.target == nil {
				tctx, cancel := context.WithCancel(context.Background())
				f.target = &target{url: v.url, epoch: v.epoch, ctx: tctx, cancel: cancel}
			}
			t := f.target
			f.mu.Unlock()
			return nil, t, nil
		}
		f.mu.Unlock()
		select {
		case <-changed:
		case <-giveUp.C:
			if v.err != nil {
				return nil, nil, arena.Errorf(arena.EUNAVAILABLE, "this replica cannot read who leads from the database; retry shortly")
			}
			return nil, nil, arena.Errorf(arena.EUNAVAILABLE, "no control plane leads right now; retry shortly")
		case <-ctx.Done():
			return nil, nil, arena.Errorf(arena.EUNAVAILABLE, "no control plane leads right now; retry shortly")
		}
	}
}

func (f *forwarder) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	switch r.URL.Path {
	case "/healthz":
		http.WriteJSON(w, r, nethttp.StatusOK, map[string]string{"status": "ok"})
		return
	case "/readyz":
		f.readyz(w, r)
		return
	}
	if f.reads != nil && f.readsLocally(r) {
		f.mu.Lock()
		local := f.local
		f.mu.Unlock()
		if local == nil {
			f.reads.ServeHTTP(w, r)
			return
		}
	}
	// A leader that has just died is still named until its successor
	// takes over: a request it could not even be sent to goes to the next
	// leader instead, so that the client sees the takeover as a slower
	// answer rather than an error. That needs the body kept, and a small one
	// only (what the API accepts at all) is.
	var body []byte
	read, retry := false, r.Body == nil || r.Body == nethttp.NoBody
	giveUp := time.Now().Add(f.wait)
	local, t, err := f.leader(r.Context(), giveUp)
	for {
		if err != nil {
			w.Header().Set("Retry-After", "1")
			http.WriteError(w, r, err)
			return
		}
		if local != nil {
			local.ServeHTTP(w, r)
			return
		}
		if !read && !retry && r.ContentLength >= 0 && r.ContentLength <= maxRetriedBody {
			if body, err = io.ReadAll(io.LimitReader(r.Body, maxRetriedBody+1)); err != nil {
				return // the client's body broke off: nobody to answer
			}
			read, retry = true, len(body) <= maxRetriedBody
		}
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if unsent := f.forward(w, r, t, retry && time.Now().Before(giveUp)); !unsent {
			return
		}
		f.log.Warn("the leader cannot be reached; waiting for the next one", "leader", t.url)
		local, t, err = f.next(r.Context(), t, giveUp)
	}
}

// leaderDialTimeout bounds connecting to the leader.
const leaderDialTimeout = 2 * time.Second

func forwardTransport() *nethttp.Transport {
	t := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: leaderDialTimeout, KeepAlive: 15 * time.Second}).DialContext
	return t
}

// maxRetriedBody is the largest request body a follower keeps to send to
// the next leader: the Session API's own limit.
const maxRetriedBody = 1 << 20

// unsentKey marks a forwarded request whose failure to reach the leader
// is to be reported rather than answered: see forward.
type unsentKey struct{}

// forward passes r to t's leader. With mayRetry, a request that could not
// be sent at all (the leader does not accept connections) is left
// unanswered and forward reports it unsent; anything else is answered.
func (f *forwarder) forward(w nethttp.ResponseWriter, r *nethttp.Request, t *target, mayRetry bool) (unsent bool) {
	// Ended with the leader's term, or by the client.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(t.ctx, func() { cancel(errLeaderGone) })
	defer stop()
	if mayRetry {
		ctx = context.WithValue(ctx, unsentKey{}, &unsent)
	}
	// What is forwarded may be a stream (an agent's, followed logs) that
	// lasts as long as its reader: each write has the write timeout.
	f.proxy(t.url).ServeHTTP(http.Stream(w, r), r.WithContext(ctx))
	return unsent
}

// next waits, until giveUp, for a leader other than failed's, looking
// again at once.
func (f *forwarder) next(ctx context.Context, failed *target, giveUp time.Time) (nethttp.Handler, *target, error) {
	f.forget()
	for {
		f.mu.Lock()
		v, changed, local := f.view, f.changed, f.local
		f.mu.Unlock()
		if local != nil || v.url != failed.url || v.epoch != failed.epoch {
			return f.leader(ctx, giveUp)
		}
		wait := time.Until(giveUp)
		if wait <= 0 {
			return nil, nil, arena.Errorf(arena.EUNAVAILABLE, "the leading control plane did not answer; retry shortly")
		}
		select {
		case <-changed:
		case <-time.After(min(wait, leaderlessPoll)):
			f.forget()
		case <-ctx.Done():
			return nil, nil, arena.Errorf(arena.EUNAVAILABLE, "the leading control plane did not answer; retry shortly")
		}
	}
}

// readyz answers ready only while a replica holds the lead by the
// database's clock and that replica says it is ready itself: a leader that
// froze, lost the database or still waits for its agents is not, and
// neither is a follower then.
func (f *forwarder) readyz(w nethttp.ResponseWriter, r *nethttp.Request) {
	// The view the watch keeps, at most a poll old: a read of its own could
	// finish after a newer one and put an old leader back.
	f.mu.Lock()
	v := f.view
	f.mu.Unlock()
	unavailable := func(reason string) {
		http.WriteJSON(w, r, nethttp.StatusServiceUnavailable, http.Readiness{Status: "unavailable", Role: "follower", Leader: v.url, Reason: reason})
	}
	switch {
	case v.err != nil:
		unavailable("cannot read the leader from the database: " + arena.ErrorMessage(v.err))
		return
	case v.url == "":
		unavailable("no replica holds the lead")
		return
	}
	rd, err := f.leaderReady(r.Context(), v.url)
	if err != nil {
		unavailable(fmt.Sprintf("the leader %s is not ready: %v", v.url, err))
		return
	}
	if rd.Role != "leader" {
		unavailable(fmt.Sprintf("%s, which the database names, does not lead", v.url))
		return
	}
	http.WriteJSON(w, r, nethttp.StatusOK, http.Readiness{Status: "ready", Role: "follower", Leader: v.url})
}

// leaderReady asks the leader's own /readyz, briefly.
func (f *forwarder) leaderReady(ctx context.Context, leader string) (http.Readiness, error) {
	ctx, cancel := context.WithTimeout(ctx, leaderReadyTimeout)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, "GET", leader+"/readyz", nil)
	if err != nil {
		return http.Readiness{}, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return http.Readiness{}, err
	}
	defer resp.Body.Close()
	var rd http.Readiness
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&rd); err != nil {
		return http.Readiness{}, fmt.Errorf("its answer: %w", err)
	}
	if resp.StatusCode != nethttp.StatusOK {
		return rd, errors.New(rd.Reason)
	}
	return rd, nil
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
		Transport:     f.transport,
		ErrorHandler: func(w nethttp.ResponseWriter, r *nethttp.Request, err error) {
			cause := context.Cause(r.Context())
			if unsent, ok := r.Context().Value(unsentKey{}).(*bool); ok && rpc.NotSent(err) && (cause == nil || errors.Is(cause, errLeaderGone)) {
				// Nothing of it reached the leader: forward's caller sends
				// it to the next one.
				f.forget()
				*unsent = true
				return
			}
			switch {
			case errors.Is(cause, errLeaderGone):
				f.log.Info("ended a request to a replica that no longer leads", "leader", leader, "path", r.URL.Path)
			case cause != nil:
				// The client went away: nothing failed here.
			default:
				// The leader went away mid-request, most likely: look again now.
				f.forget()
				f.log.Warn("forwarding to the leader failed", "leader", leader, "err", err)
			}
			w.Header().Set("Retry-After", "1")
			http.WriteError(w, r, arena.Errorf(arena.EUNAVAILABLE, "the leading control plane did not answer; retry shortly"))
		},
	}
	f.proxies[leader] = p
	return p
}
