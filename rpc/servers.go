package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/rpc/agentv1/agentv1connect"
)

const (
	// MaxServers bounds the addresses an agent may be given.
	MaxServers = 32
	// maxTargets bounds the replicas a client rotates over once host names
	// are resolved: a name with a hundred records is not a hundred replicas
	// worth trying before backing off.
	maxTargets = 64
	// dialTimeout bounds connecting to one replica, so that one that
	// vanished without refusing (a machine gone, a dropped route) leaves
	// the rest of a call's time to the next.
	dialTimeout = 3 * time.Second
	// lookupTimeout bounds resolving one host name.
	lookupTimeout = 2 * time.Second
	// defaultResolveEvery is how often, at most, host names are resolved
	// again; only a failure looks again, so a working replica costs no
	// lookups.
	defaultResolveEvery = 5 * time.Second
)

// errMoved ends an assignment stream whose replica the client left: every
// call, the stream included, goes to one replica at a time.
var errMoved = errors.New("the client moved to another replica")

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// ParseServers reads the control plane's addresses as an agent is given
// them: each value holds one or more base URLs, separated by commas.
// Duplicates count once. Every URL is http or https with a host, and carries
// no user name, password, query or fragment, which would end up in logs or
// be dropped without a word.
func ParseServers(values ...string) ([]string, error) {
	var out []string
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			srv, err := parseServer(s)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, srv.url) {
				out = append(out, srv.url)
			}
		}
	}
	switch {
	case len(out) == 0:
		return nil, arena.Errorf(arena.EINVALID, "no control plane address given")
	case len(out) > MaxServers:
		return nil, arena.Errorf(arena.EINVALID, "%d control plane addresses given, at most %d are taken", len(out), MaxServers)
	}
	return out, nil
}

// server is one base URL the client was given.
type server struct {
	url string
	// hostport is the address the URL names, as the HTTP transport dials
	// it: the host and the port, the scheme's when the URL has none.
	hostport string
	host     string
	port     string
	// name is whether host is a name to resolve rather than an address.
	name bool
}

func parseServer(raw string) (server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return server{}, arena.Errorf(arena.EINVALID, "control plane address %q is not a URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return server{}, arena.Errorf(arena.EINVALID, "control plane address %q is not an http:// or https:// URL", raw)
	case u.Hostname() == "":
		return server{}, arena.Errorf(arena.EINVALID, "control plane address %q has no host", raw)
	case u.User != nil:
		return server{}, arena.Errorf(arena.EINVALID, "control plane address %q holds a user name: the agent authenticates with its token and credential", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return server{}, arena.Errorf(arena.EINVALID, "control plane address %q has a query or fragment", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	_, err = netip.ParseAddr(u.Hostname())
	return server{url: u.String(), hostport: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), port: port, name: err != nil}, nil
}

// target is one replica the client may call: a server's URL, dialled at one
// of its name's addresses.
type target struct {
	server *server
	// addr is the address dialled for the server; "" dials whatever its
	// host resolves to at the time.
	addr string
	rpc  agentv1connect.AgentServiceClient
	// tr is the target's own transport, so that connections to one
	// address never carry calls meant for another under the same name;
	// nil when the caller's RoundTripper is shared.
	tr *http.Transport
}

func (t *target) key() string { return t.server.url + " " + t.addr }

// String names the replica as logs and the agent's startup line do: the
// URL, and the address dialled when the URL names a host.
func (t *target) String() string {
	if t.addr == "" {
		return t.server.url
	}
	return t.server.url + " (" + t.addr + ")"
}

// pool is the replicas a client rotates over. It sticks to one until a call
// finds it down, so that every call of an agent goes to one replica at a time.
type pool struct {
	servers      []server
	resolver     Resolver
	resolveEvery time.Duration
	base         *http.Client
	// pin is whether the client dials addresses of its own: only with an
	// *http.Transport, whose dialer it can wrap.
	pin     bool
	connect []connect.ClientOption
	log     *slog.Logger

	// resolving makes lookups one at a time.
	resolving sync.Mutex

	mu       sync.Mutex
	targets  []*target
	cur      int
	resolved time.Time // of the last lookup, zero before the first
	// term ends when the client leaves targets[cur].
	term    context.Context
	endTerm context.CancelCauseFunc
	// good is the last target a call succeeded on.
	good *target
}

func newPool(servers []server, base *http.Client, resolver Resolver, every time.Duration, log *slog.Logger, opts ...connect.ClientOption) *pool {
	_, pin := base.Transport.(*http.Transport)
	p := &pool{servers: servers, resolver: resolver, resolveEvery: every, base: base, pin: pin, connect: opts, log: log}
	for i := range p.servers {
		p.targets = append(p.targets, p.newTarget(&p.servers[i], ""))
	}
	p.term, p.endTerm = context.WithCancelCause(context.Background())
	return p
}

func (p *pool) newTarget(s *server, addr string) *target {
	t := &target{server: s, addr: addr}
	rt := p.base.Transport
	if tr, ok := rt.(*http.Transport); ok {
		t.tr = tr.Clone()
		if addr != "" {
			pinDial(t.tr, s.hostport, addr)
		}
		rt = t.tr
	}
	hc := &http.Client{Transport: calmTransport{rt}, CheckRedirect: p.base.CheckRedirect, Jar: p.base.Jar, Timeout: p.base.Timeout}
	t.rpc = agentv1connect.NewAgentServiceClient(hc, s.url, p.connect...)
	return t
}

// statusEnhanceYourCalm is how Arena's HTTP layer answers EUNAVAILABLE, the
// Gameye Session API's status for "retry after a short delay".
const statusEnhanceYourCalm = 420

// calmTransport turns an answer of 420 into the failure to get through that
// it is. The agent protocol's own errors travel as Connect errors; a 420
// comes from Arena's HTTP layer in front of it, in the Session API's error
// body: a replica that reaches no leader, or one whose forwarding to the
// leader failed. Connect, knowing no 420, would take it for an unknown
// error, and the client would stay on a replica that cannot serve it.
type calmTransport struct{ http.RoundTripper }

func (t calmTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.RoundTripper.RoundTrip(r)
	if err != nil || res.StatusCode != statusEnhanceYourCalm {
		return res, err
	}
	defer res.Body.Close()
	var body struct {
		Message string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 4<<10)).Decode(&body)
	msg := body.Message
	if msg == "" {
		msg = "retry shortly"
	}
	return nil, arena.Errorf(arena.EUNAVAILABLE, "the control plane at %s answered %d: %s", r.URL.Host, res.StatusCode, msg)
}

// pinDial makes tr dial addr whenever it would dial hostport, keeping the
// URL's name for the Host header and TLS. A connection through a proxy is
// left alone: the proxy resolves the name.
func pinDial(tr *http.Transport, hostport, addr string) {
	pin := func(a string) string {
		if a == hostport {
			return addr
		}
		return a
	}
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		return dial(ctx, network, pin(a))
	}
	if tls := tr.DialTLSContext; tls != nil {
		tr.DialTLSContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			return tls(ctx, network, pin(a))
		}
	}
}

// current returns the replica calls go to now, the context that ends when
// the client leaves it, and how many replicas there are. The names are
// resolved on first use.
func (p *pool) current(ctx context.Context) (*target, context.Context, int) {
	p.mu.Lock()
	first := p.resolved.IsZero()
	p.mu.Unlock()
	if first {
		p.resolve(ctx, nil)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targets[p.cur], p.term, len(p.targets)
}

// worked records that a call succeeded on t, and says so when t is not the
// replica calls succeeded on before.
func (p *pool) worked(t *target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.good != t {
		p.good = t
		p.log.Info("using the control plane at " + t.String())
	}
}

// failed moves on from t, found down by a call, to the next replica unless
// another call did so already, and resolves the names again if they were
// not looked up lately, so that a changed DNS record is followed. It
// returns the replica to go on with.
func (p *pool) failed(ctx context.Context, t *target, err error) (*target, context.Context) {
	p.mu.Lock()
	if p.targets[p.cur] == t && len(p.targets) > 1 {
		p.cur = (p.cur + 1) % len(p.targets)
		p.newTerm()
		p.log.Warn("the control plane at "+t.String()+" failed; moving to the next replica", "next", p.targets[p.cur].String(), "err", err)
	}
	p.mu.Unlock()
	p.resolve(ctx, t)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targets[p.cur], p.term
}

// newTerm ends the current term and begins the next; p.mu is held.
func (p *pool) newTerm() {
	p.endTerm(errMoved)
	p.term, p.endTerm = context.WithCancelCause(context.Background())
}

// resolve looks the servers' host names up again, unless that was done less
// than resolveEvery ago, and rotates over what they resolve to now. Targets
// that remain keep their connections, and the client stays on its current
// one if it remains; otherwise it goes on with the first that is not avoid.
// A name that does not resolve keeps the addresses it had.
func (p *pool) resolve(ctx context.Context, avoid *target) {
	p.resolving.Lock()
	defer p.resolving.Unlock()
	p.mu.Lock()
	due := p.resolved.IsZero() || time.Since(p.resolved) >= p.resolveEvery
	old := slices.Clone(p.targets)
	p.mu.Unlock()
	if !due {
		return
	}
	type want struct {
		s    *server
		addr string
	}
	var wants []want
	for i := range p.servers {
		s := &p.servers[i]
		if !s.name || !p.pin {
			wants = append(wants, want{s, ""})
			continue
		}
		addrs, err := p.lookup(ctx, s.host)
		if err != nil {
			p.log.Warn("cannot resolve the control plane's name; keeping its addresses", "server", s.url, "err", err)
			for _, t := range old {
				if t.server == s {
					wants = append(wants, want{s, t.addr})
				}
			}
			continue
		}
		for _, a := range addrs {
			wants = append(wants, want{s, net.JoinHostPort(a, s.port)})
		}
	}
	if len(wants) > maxTargets {
		p.log.Warn("the control plane's names resolve to too many addresses; using the first", "addresses", len(wants), "used", maxTargets)
		wants = wants[:maxTargets]
	}

	p.mu.Lock()
	kept := map[string]*target{}
	for _, t := range p.targets {
		kept[t.key()] = t
	}
	cur := p.targets[p.cur]
	next := make([]*target, 0, len(wants))
	for _, w := range wants {
		k := (&target{server: w.s, addr: w.addr}).key()
		if t, ok := kept[k]; ok {
			next = append(next, t)
			delete(kept, k)
			continue
		}
		next = append(next, p.newTarget(w.s, w.addr))
	}
	p.targets, p.cur = next, 0
	if i := slices.Index(next, cur); i >= 0 {
		p.cur = i
	} else {
		if i := slices.IndexFunc(next, func(t *target) bool { return avoid == nil || t.key() != avoid.key() }); i >= 0 {
			p.cur = i
		}
		p.newTerm()
	}
	p.resolved = time.Now()
	p.mu.Unlock()
	for _, t := range kept {
		if t.tr != nil {
			t.tr.CloseIdleConnections()
		}
	}
}

// lookup returns the distinct addresses of host.
func (p *pool) lookup(ctx context.Context, host string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := p.resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, arena.Errorf(arena.EUNAVAILABLE, "%s resolved to %q, not an address", host, a)
		}
		if s := ip.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, arena.Errorf(arena.EUNAVAILABLE, "%s resolved to no address", host)
	}
	return out, nil
}
