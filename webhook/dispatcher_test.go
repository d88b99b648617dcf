package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// waitTimeout bounds every wait of these tests: long enough for a loaded
// machine running -race, short enough to fail rather than hang.
const waitTimeout = 15 * time.Second

// hit is one request a receiver got.
type hit struct {
	n      int // 1 for the receiver's first request
	at     time.Time
	header http.Header
	body   []byte
	event  Event
	// verified is Verify's verdict on the request.
	verified error
}

// receiver is a webhook endpoint over loopback that checks signatures and
// answers as respond says.
type receiver struct {
	srv  *httptest.Server
	hits chan hit
	// release ends handlers that hang, should the dispatcher not end them.
	release chan struct{}

	mu     sync.Mutex
	secret string
	all    []hit
}

// respond answers a receiver's n-th request.
type respond func(n int, w http.ResponseWriter, r *http.Request)

func newReceiver(t *testing.T, respond respond) *receiver {
	t.Helper()
	rc := &receiver{secret: NewSecret(), hits: make(chan hit, 100), release: make(chan struct{})}
	var count atomic.Int64
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{n: int(count.Add(1)), at: time.Now(), header: r.Header.Clone(), body: body}
		h.verified = Verify(rc.key(), r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, 0, time.Now())
		if err := json.Unmarshal(body, &h.event); err != nil {
			h.verified = errors.Join(h.verified, err)
		}
		rc.mu.Lock()
		rc.all = append(rc.all, h)
		rc.mu.Unlock()
		select {
		case rc.hits <- h:
		default:
		}
		respond(h.n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	t.Cleanup(func() { close(rc.release) }) // runs before srv.Close
	return rc
}

// endpoint returns an endpoint of org at the receiver.
func (rc *receiver) endpoint(id, org string, events ...string) Endpoint {
	return Endpoint{ID: id, OrgID: org, URL: rc.srv.URL + "/hook/" + id, Secret: rc.key(), Events: events}
}

// key returns the secret the receiver verifies with.
func (rc *receiver) key() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.secret
}

// rotate gives the receiver a new secret, and returns it.
func (rc *receiver) rotate() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = NewSecret()
	return rc.secret
}

// next waits for the receiver's next request.
func (rc *receiver) next(t *testing.T) hit {
	t.Helper()
	select {
	case h := <-rc.hits:
		return h
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a request")
		return hit{}
	}
}

// received returns the ids of the events the receiver got, in order.
func (rc *receiver) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var ids []string
	for _, h := range rc.all {
		ids = append(ids, h.event.ID)
	}
	return ids
}

func answer(code int) respond {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// hang answers nothing until the request is cancelled.
func (rc *receiver) hang(_ int, _ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-rc.release:
	}
}

// reset closes the connection abruptly, with a TCP RST.
func reset(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// endpoints is a correct EndpointSource over a fixed list.
func endpoints(eps ...Endpoint) EndpointSource {
	return EndpointFunc(func(_ context.Context, org string) ([]Endpoint, error) {
		var out []Endpoint
		for _, e := range eps {
			if e.OrgID == org {
				out = append(out, e)
			}
		}
		return out, nil
	})
}

// fast is a configuration with tiny backoffs, for tests.
func fast(src EndpointSource) Config {
	return Config{Endpoints: src, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Timeout: 5 * time.Second}
}

// running is a dispatcher whose Run runs until the test ends or stop is called.
type running struct {
	*Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

func newDispatcher(t *testing.T, cfg Config) *Dispatcher {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run starts d.Run, and stops it when the test ends.
func run(t *testing.T, d *Dispatcher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Dispatcher: d, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	return run(t, newDispatcher(t, cfg))
}

// stop cancels Run and waits for it, and so for every worker, to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
	}
}

// waitStats waits until the dispatcher's stats satisfy cond, and returns them.
func waitStats(t *testing.T, d *Dispatcher, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s := d.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, s)
		}
		time.Sleep(time.Millisecond)
	}
}

// settled is true once no event waits and one delivery reached an end.
func settled(s Stats) bool {
	return s.Queued == 0 && s.Pending == 0 && s.Delivered+s.Gone+s.GivenUp == 1
}

func event(id, org, typ string) Event {
	return Event{ID: id, OrgID: org, Type: typ, At: time.Now().UTC(), Session: &Session{ID: "s-" + id, Status: "running", Ports: []arena.Port{}}}
}

func TestDeliverSigned(t *testing.T) {
	rc := newReceiver(t, answer(http.StatusNoContent))
	d := start(t, fast(endpoints(rc.endpoint("ep1", "studio"))))
	sess := &arena.Session{ID: "s1", OrgID: "studio", Application: "echo", Tag: "v1", Location: "local", Host: "127.0.0.1",
		Ports: []arena.Port{{Protocol: "udp", Container: 7777, Host: 32769}}, State: arena.SessionStopped, StopReason: arena.StopExited, ExitCode: 3}
	e, ok := SessionEvent(sess, time.Now())
	if !ok {
		t.Fatal("no event for a stopped session")
	}
	d.Publish(e)

	h := rc.next(t)
	if h.verified != nil {
		t.Fatalf("the receiver cannot verify the request: %v", h.verified)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", HeaderEventID: e.ID, HeaderEventType: EventSessionStopped, HeaderAttempt: "1",
	} {
		if got := h.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	want, _ := json.Marshal(e)
	if !bytes.Equal(h.body, want) {
		t.Errorf("body\n got %s\nwant %s", h.body, want)
	}
	if h.event.Session.ExitCode == nil || *h.event.Session.ExitCode != 3 || h.event.Session.StopReason != "exited" {
		t.Errorf("session in the event: %+v", h.event.Session)
	}
	s := waitStats(t, d.Dispatcher, "the delivery", settled)
	if s != (Stats{Published: 1, Delivered: 1}) {
		t.Errorf("stats %+v", s)
	}
}

// A receiver that fails in every way before it accepts gets the same event,
// with the same id and body, until it does, and once it did no more.
func TestRetryUntilAccepted(t *testing.T) {
	var rc *receiver
	rc = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1, 2:
			w.WriteHeader(http.StatusInternalServerError)
		case 3:
			reset(t, w)
		case 4:
			rc.hang(n, w, r) // until the attempt's timeout
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	const initial = 20 * time.Millisecond
	cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxAttempts = initial, time.Second, 10
	// Long enough that an answering receiver never times out on a loaded
	// machine; the hanging attempt takes this long.
	cfg.Timeout = time.Second
	var omu sync.Mutex
	var observed []string
	cfg.Observe = func(result string) {
		omu.Lock()
		defer omu.Unlock()
		observed = append(observed, result)
	}
	d := start(t, cfg)
	d.Publish(event("e1", "studio", EventSessionRunning))

	var hits []hit
	for range 5 {
		hits = append(hits, rc.next(t))
	}
	s := waitStats(t, d.Dispatcher, "the delivery", settled)
	if s != (Stats{Published: 1, Delivered: 1, Failed: 4}) {
		t.Errorf("stats %+v", s)
	}
	omu.Lock()
	if got := strings.Join(observed, " "); got != "failed failed failed failed delivered" {
		t.Errorf("observed %q", got)
	}
	omu.Unlock()
	for i, h := range hits {
		if h.verified != nil {
			t.Errorf("attempt %d does not verify: %v", i+1, h.verified)
		}
		if got := h.header.Get(HeaderEventID); got != "e1" || h.event.ID != "e1" {
			t.Errorf("attempt %d has event id %q / %q, want e1", i+1, got, h.event.ID)
		}
		if !bytes.Equal(h.body, hits[0].body) {
			t.Errorf("attempt %d has another body: %s", i+1, h.body)
		}
		if got := h.header.Get(HeaderAttempt); got != strconv.Itoa(i+1) {
			t.Errorf("attempt %d is numbered %q", i+1, got)
		}
	}
	// The waits double: the n-th retry comes at least 3/4 of
	// initial·2^(n-1) after the failure, and a timeout is a failure only
	// once cfg.Timeout passed.
	for i := 1; i < len(hits); i++ {
		least := initial << (i - 1) * 3 / 4
		if i == 4 {
			// Less a margin: the attempt's clock starts a little before the receiver's.
			least += cfg.Timeout / 2
		}
		if gap := hits[i].at.Sub(hits[i-1].at); gap < least {
			t.Errorf("retry %d came %v after the attempt before, want at least %v", i, gap, least)
		}
	}
	// Settled, with nothing pending: no attempt can follow.
	if got := rc.received(); len(got) != 5 {
		t.Errorf("the receiver got %d requests, want 5", len(got))
	}
}

// Each answer has its outcome, and once there is one nothing is pending.
func TestOutcomes(t *testing.T) {
	redirected := newReceiver(t, answer(http.StatusOK))
	tests := []struct {
		name     string
		respond  respond
		attempts int
		want     Stats
	}{
		{name: "200", respond: answer(http.StatusOK), attempts: 1, want: Stats{Delivered: 1}},
		{name: "202", respond: answer(http.StatusAccepted), attempts: 1, want: Stats{Delivered: 1}},
		{name: "410 is not retried", respond: answer(http.StatusGone), attempts: 1, want: Stats{Gone: 1}},
		{name: "503 until given up", respond: answer(http.StatusServiceUnavailable), attempts: 3, want: Stats{Failed: 3, GivenUp: 1}},
		{name: "400 is retried too", respond: answer(http.StatusBadRequest), attempts: 3, want: Stats{Failed: 3, GivenUp: 1}},
		{name: "429 with Retry-After", attempts: 3, want: Stats{Failed: 3, GivenUp: 1}, respond: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}},
		{name: "redirects are not followed", attempts: 3, want: Stats{Failed: 3, GivenUp: 1}, respond: func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, redirected.srv.URL+"/elsewhere", http.StatusTemporaryRedirect)
		}},
		{name: "a big answer is not read to its end", attempts: 1, want: Stats{Delivered: 1}, respond: func(_ int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			// Stops when the dispatcher closes the connection after 64 KiB.
			chunk := bytes.Repeat([]byte("x"), 32<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.respond)
			cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
			cfg.MaxAttempts = 3
			d := start(t, cfg)
			d.Publish(event("e1", "studio", EventSessionStarted))
			s := waitStats(t, d.Dispatcher, "an outcome", settled)
			tt.want.Published = 1
			if s != tt.want {
				t.Errorf("stats %+v, want %+v", s, tt.want)
			}
			if got := len(rc.received()); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
		})
	}
	if got := redirected.received(); len(got) != 0 {
		t.Errorf("a redirect was followed: %v", got)
	}
}

// Endpoints with a URL that is not http(s) get nothing, whatever put them in the store.
func TestRefusesOtherSchemes(t *testing.T) {
	src := endpoints(
		Endpoint{ID: "file", OrgID: "studio", URL: "file:///etc/passwd", Secret: "s"},
		Endpoint{ID: "ftp", OrgID: "studio", URL: "ftp://127.0.0.1/x", Secret: "s"},
	)
	d := start(t, fast(src))
	d.Publish(event("e1", "studio", EventSessionStarted))
	s := waitStats(t, d.Dispatcher, "giving up", func(s Stats) bool { return s.GivenUp == 2 && s.Pending == 0 })
	if s != (Stats{Published: 1, GivenUp: 2}) {
		t.Errorf("stats %+v", s)
	}
}

// Events go to their own organisation's endpoints that want their type,
// even when the endpoint source answers with every endpoint it knows.
func TestOrganisationsAndTypes(t *testing.T) {
	all := newReceiver(t, answer(http.StatusOK))
	stops := newReceiver(t, answer(http.StatusOK))
	other := newReceiver(t, answer(http.StatusOK))
	eps := []Endpoint{
		all.endpoint("a-all", "a"),
		stops.endpoint("a-stops", "a", EventSessionStopped),
		other.endpoint("b-all", "b"),
	}
	careless := EndpointFunc(func(context.Context, string) ([]Endpoint, error) { return eps, nil })
	d := start(t, fast(careless))
	d.Publish(event("a-started", "a", EventSessionStarted))
	d.Publish(event("a-stopped", "a", EventSessionStopped))
	d.Publish(event("b-started", "b", EventSessionStarted))
	d.Publish(event("no-org", "", EventSessionStarted))
	waitStats(t, d.Dispatcher, "four deliveries", func(s Stats) bool { return s.Delivered >= 4 && s.Dropped >= 1 })
	d.stop(t) // so that any wrong delivery in flight has ended too

	for _, tt := range []struct {
		rc   *receiver
		want []string
	}{
		{all, []string{"a-started", "a-stopped"}},
		{stops, []string{"a-stopped"}},
		{other, []string{"b-started"}},
	} {
		got := tt.rc.received()
		slices.Sort(got) // order is not guaranteed
		if !slices.Equal(got, tt.want) {
			t.Errorf("endpoint got %v, want %v", got, tt.want)
		}
	}
	if s := d.Stats(); s != (Stats{Published: 4, Delivered: 4, Dropped: 1}) {
		t.Errorf("stats %+v", s)
	}
}

// Retries follow changes of their endpoint: removed, unsubscribed, or with a new secret.
func TestRetriesFollowEndpointChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(rc *receiver, ep *Endpoint) // while the first attempt fails
		want   Stats
		hits   int
	}{
		{name: "removed", change: func(_ *receiver, ep *Endpoint) { ep.ID = "another" }, want: Stats{Failed: 1, Cancelled: 1}, hits: 1},
		{name: "unsubscribed", change: func(_ *receiver, ep *Endpoint) { ep.Events = []string{EventSessionStopped} }, want: Stats{Failed: 1, Cancelled: 1}, hits: 1},
		{name: "secret rotated", change: func(rc *receiver, ep *Endpoint) { ep.Secret = rc.rotate() }, want: Stats{Failed: 1, Delivered: 1}, hits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu sync.Mutex
				ep Endpoint
				rc *receiver
			)
			rc = newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					mu.Lock()
					tt.change(rc, &ep)
					mu.Unlock()
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			ep = rc.endpoint("ep1", "studio")
			src := EndpointFunc(func(context.Context, string) ([]Endpoint, error) {
				mu.Lock()
				defer mu.Unlock()
				return []Endpoint{ep}, nil
			})
			d := start(t, fast(src))
			d.Publish(event("e1", "studio", EventSessionStarted))
			s := waitStats(t, d.Dispatcher, "an outcome", func(s Stats) bool {
				return s.Pending == 0 && s.Delivered+s.Cancelled == 1
			})
			tt.want.Published = 1
			if s != tt.want {
				t.Errorf("stats %+v, want %+v", s, tt.want)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.all) != tt.hits {
				t.Fatalf("%d attempts, want %d", len(rc.all), tt.hits)
			}
			for _, h := range rc.all {
				if h.n > 1 && h.verified != nil {
					t.Errorf("attempt %d does not verify: %v", h.n, h.verified)
				}
			}
		})
	}
}

func TestEndpointLookupRetried(t *testing.T) {
	rc := newReceiver(t, answer(http.StatusOK))
	var calls atomic.Int64
	src := EndpointFunc(func(_ context.Context, org string) ([]Endpoint, error) {
		if calls.Add(1) <= 2 {
			return nil, errors.New("database is locked")
		}
		return []Endpoint{rc.endpoint("ep1", org)}, nil
	})
	d := start(t, fast(src))
	d.Publish(event("e1", "studio", EventSessionStarted))
	s := waitStats(t, d.Dispatcher, "the delivery", settled)
	if s != (Stats{Published: 1, Delivered: 1, Failed: 2}) {
		t.Errorf("stats %+v", s)
	}
	if got := rc.received(); !slices.Equal(got, []string{"e1"}) {
		t.Errorf("received %v", got)
	}
}

// A full queue drops its oldest events: the newest state matters most.
func TestQueueDropsOldest(t *testing.T) {
	rc := newReceiver(t, answer(http.StatusOK))
	cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
	cfg.Queue = 2
	d := newDispatcher(t, cfg)
	// Not running yet, so nothing leaves the queue.
	for _, id := range []string{"e1", "e2", "e3", "e4", "e5"} {
		d.Publish(event(id, "studio", EventSessionRunning))
	}
	if s := d.Stats(); s != (Stats{Published: 5, Dropped: 3, Queued: 2}) {
		t.Fatalf("stats %+v", s)
	}
	run(t, d)
	waitStats(t, d, "two deliveries", func(s Stats) bool { return s.Delivered == 2 && s.Pending == 0 && s.Queued == 0 })
	got := rc.received()
	slices.Sort(got)
	if !slices.Equal(got, []string{"e4", "e5"}) {
		t.Errorf("received %v, want the newest, e4 and e5", got)
	}
}

// An endpoint that is down fills only its own queue: its new events are
// dropped, and the organisation's other endpoints still get theirs.
func TestEndpointQueueBound(t *testing.T) {
	down := newReceiver(t, answer(http.StatusBadGateway))
	up := newReceiver(t, answer(http.StatusOK))
	cfg := fast(endpoints(down.endpoint("down", "studio"), up.endpoint("up", "studio")))
	cfg.EndpointQueue = 1
	cfg.InitialBackoff, cfg.MaxBackoff = time.Hour, time.Hour // the retry waits in the queue
	d := start(t, cfg)

	d.Publish(event("e1", "studio", EventSessionStarted))
	waitStats(t, d.Dispatcher, "e1 delivered to one, failed at the other", func(s Stats) bool {
		return s.Delivered == 1 && s.Failed == 1 && s.Pending == 1
	})
	d.Publish(event("e2", "studio", EventSessionRunning))
	s := waitStats(t, d.Dispatcher, "e2 delivered to one, dropped for the other", func(s Stats) bool {
		return s.Delivered == 2 && s.Dropped == 1
	})
	if s != (Stats{Published: 2, Delivered: 2, Failed: 1, Dropped: 1, Pending: 1}) {
		t.Errorf("stats %+v", s)
	}
	if got := down.received(); !slices.Equal(got, []string{"e1"}) {
		t.Errorf("the endpoint that is down got %v, want e1 once", got)
	}
	if got := up.received(); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Errorf("the endpoint that is up got %v, want e1 and e2", got)
	}
}

// Close and the end of Run's context both stop the workers at once, even
// with an attempt in flight, and let no event in afterwards.
func TestStopIsPrompt(t *testing.T) {
	for _, how := range []string{"Close", "context"} {
		t.Run(how, func(t *testing.T) {
			var rc *receiver
			rc = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { rc.hang(n, w, r) })
			cfg := fast(endpoints(rc.endpoint("ep1", "studio")))
			cfg.Timeout = time.Hour
			d := start(t, cfg)
			d.Publish(event("e1", "studio", EventSessionStarted))
			rc.next(t) // the attempt is in flight

			began := time.Now()
			switch how {
			case "Close":
				closed := make(chan struct{})
				go func() { d.Close(); close(closed) }()
				select {
				case <-closed:
				case <-time.After(waitTimeout):
					t.Fatal("Close did not return")
				}
				// Close waits for Run, and Run for its workers.
				select {
				case <-d.runDone:
				default:
					t.Fatal("Close returned before Run")
				}
				d.stop(t)
				d.Publish(event("e2", "studio", EventSessionStarted))
				if s := d.Stats(); s.Dropped != 1 || s.Queued != 0 {
					t.Errorf("an event published after Close: stats %+v", s)
				}
			case "context":
				d.stop(t)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("stopping took %v", took)
			}
			// The cut attempt is neither a failure nor a delivery.
			if s := d.Stats(); s.Failed != 0 || s.Delivered != 0 || s.GivenUp != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestCloseBeforeRun(t *testing.T) {
	d := newDispatcher(t, fast(endpoints()))
	d.Publish(event("e1", "studio", EventSessionStarted))
	d.Close() // returns at once: Run was not called
	d.Publish(event("e2", "studio", EventSessionStarted))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := d.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("Run after Close = %v, want an immediate nil (ctx %v)", err, ctx.Err())
	}
	if s := d.Stats(); s.Published != 1 || s.Dropped != 1 {
		t.Errorf("stats %+v", s)
	}
	if err := d.Run(ctx); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestNewRequiresEndpoints(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without an EndpointSource succeeded")
	}
}

func TestBackoff(t *testing.T) {
	d := newDispatcher(t, Config{Endpoints: endpoints()})
	var total time.Duration
	for n := 1; n < DefaultMaxAttempts; n++ {
		want := min(DefaultInitialBackoff<<(n-1), DefaultMaxBackoff)
		for range 20 {
			if got := d.backoff(n); got < want*3/4 || got > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, got, want*3/4, want)
			}
		}
		total += want
	}
	// The defaults retry for about an hour, whatever the jitter.
	if lo, hi := total*3/4, total; lo < 45*time.Minute || hi > 70*time.Minute {
		t.Errorf("the default retries span %v to %v", lo, hi)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{"99999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// The dispatcher's client never follows redirects, even when the caller's does.
func TestClientIsCopied(t *testing.T) {
	mine := &http.Client{Timeout: time.Minute}
	d := newDispatcher(t, Config{Endpoints: endpoints(), Client: mine})
	if mine.CheckRedirect != nil {
		t.Error("New changed the caller's client")
	}
	if d.client == mine || d.client.CheckRedirect == nil || d.client.Timeout != time.Minute {
		t.Errorf("the dispatcher's client is not a safe copy: %+v", d.client)
	}
}
