package webhook

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
)

// Defaults of Config.
const (
	DefaultMaxAttempts    = 16
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 10 * time.Minute
	DefaultTimeout        = 10 * time.Second
	DefaultWorkers        = 4
	DefaultQueue          = 1024
	DefaultEndpointQueue  = 1000
)

// maxResponseBody is how much of an answer is read: enough to reuse the
// connection after a typical answer, and no more, since the answer's body
// means nothing to Arena and a receiver must not make it read without end.
const maxResponseBody = 64 << 10

// Outbox keeps deliveries that are not done, so that they survive the
// dispatcher: Run resumes those it finds. Save inserts or replaces a
// delivery by its ID, and answers ENOTFOUND when its endpoint no longer
// exists; Delete of an unknown delivery is no error.
type Outbox interface {
	SaveWebhookDelivery(ctx context.Context, d *arena.WebhookDelivery) error
	DeleteWebhookDelivery(ctx context.Context, id string) error
	ListWebhookDeliveries(ctx context.Context) ([]*arena.WebhookDelivery, error)
}

// outboxTimeout bounds one call to the Outbox: a delivery goes on in
// memory when the store is slow to take it.
const outboxTimeout = 5 * time.Second

// maxResumeWait bounds the wait between attempts to read the Outbox at the
// start of Run, during which nothing is sent.
const maxResumeWait = 5 * time.Second

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	// Endpoints tells which endpoints an organisation registered. Required.
	Endpoints EndpointSource
	// Outbox, when set, keeps every delivery not done yet, and Run resumes
	// them. Without it, deliveries wait in memory only.
	Outbox Outbox
	// Client makes the requests; by default one with its own transport.
	// The dispatcher uses a copy that never follows redirects and keeps no
	// cookies, whatever Client says.
	Client *http.Client
	Logger *slog.Logger
	// Observe, when set, is told each outcome as it happens: "delivered",
	// "failed" (an attempt, to be retried), "given_up" or "dropped", e.g.
	// for a metrics counter.
	Observe func(result string)
	// MaxAttempts is how many times one event is sent to one endpoint
	// before the dispatcher gives up (DefaultMaxAttempts).
	MaxAttempts int
	// InitialBackoff is the wait before the first retry; every further
	// retry waits twice as long, up to MaxBackoff. Each wait is drawn
	// between three quarters of that and all of it, so that retries of many
	// events do not arrive in lockstep. The defaults (1s, 10m, 16 attempts)
	// retry for about an hour.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Timeout bounds each attempt, from dialling to reading the answer.
	Timeout time.Duration
	// Workers is how many attempts run at once.
	Workers int
	// Queue is how many published events may wait to be fanned out to
	// their endpoints. When it is full, Publish drops the oldest waiting
	// event (counted in Stats.Dropped): a newer state of a session matters
	// more than an older one, and the caller, the session state machine,
	// must not wait on a slow receiver.
	Queue int
	// EndpointQueue is how many deliveries to one endpoint may wait for a
	// worker or a retry. Beyond it, new events for that endpoint are
	// dropped (counted in Stats.Dropped) until it catches up, so that one
	// endpoint that is down cannot take all memory nor delay the others.
	EndpointQueue int
}

// Stats is a snapshot of a dispatcher's counters (since New) and gauges,
// for metrics.
type Stats struct {
	// Published counts events Publish accepted.
	Published uint64
	// Delivered counts deliveries an endpoint accepted with a 2xx.
	Delivered uint64
	// Failed counts failed attempts (an answer other than 2xx or 410, a
	// timeout, a connection error) and failed endpoint look-ups; most are
	// retried.
	Failed uint64
	// GivenUp counts deliveries abandoned after MaxAttempts, or at once for
	// a URL that is not http(s).
	GivenUp uint64
	// Gone counts deliveries an endpoint refused with 410 Gone.
	Gone uint64
	// Cancelled counts retries not made because their endpoint was removed
	// or no longer wants the event's type.
	Cancelled uint64
	// Dropped counts events and deliveries discarded because a queue was
	// full or the dispatcher was closed.
	Dropped uint64
	// Queued is how many events wait to be fanned out now.
	Queued int
	// Pending is how many deliveries (and endpoint look-ups) wait for a
	// worker or a retry now.
	Pending int
}

// Dispatcher delivers published events to their organisation's endpoints.
// Create it with New, call Run, and Publish from anywhere.
type Dispatcher struct {
	cfg       Config
	client    *http.Client
	ownClient bool
	log       *slog.Logger

	// events is the bounded queue between Publish and the workers.
	events chan Event
	// ready hands due jobs from the scheduler to the workers.
	ready chan *job
	// wake tells the scheduler that a job was added.
	wake chan struct{}

	mu      sync.Mutex
	due     jobHeap
	pending map[string]int // jobs waiting in due, per queueKey
	seq     uint64

	stop      chan struct{}
	stopOnce  sync.Once
	running   atomic.Bool
	runDone   chan struct{}
	published atomic.Uint64
	delivered atomic.Uint64
	failed    atomic.Uint64
	givenUp   atomic.Uint64
	gone      atomic.Uint64
	cancelled atomic.Uint64
	dropped   atomic.Uint64
}

// job is one delivery of an event to one endpoint or, with a nil endpoint,
// the look-up of an event's endpoints.
type job struct {
	// id names the delivery in the Outbox.
	id       string
	event    Event
	body     []byte
	endpoint *Endpoint
	attempts int // made so far
	// resumed marks a delivery read back from the Outbox: its endpoint is
	// known by id only until looked up; lookups counts the look-ups that
	// failed meanwhile.
	resumed bool
	lookups int
	at      time.Time
	seq     uint64 // orders jobs due at the same time by their arrival
}

// queueKey names the EndpointQueue a job counts against.
func (j *job) queueKey() string {
	if j.endpoint == nil {
		return "org:" + j.event.OrgID
	}
	return "endpoint:" + j.endpoint.ID
}

// New returns a dispatcher; it sends nothing until Run is called, but
// Publish already queues.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Endpoints == nil {
		return nil, errors.New("webhook: Config.Endpoints is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDuration := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxAttempts, DefaultMaxAttempts)
	def(&cfg.Workers, DefaultWorkers)
	def(&cfg.Queue, DefaultQueue)
	def(&cfg.EndpointQueue, DefaultEndpointQueue)
	defDuration(&cfg.InitialBackoff, DefaultInitialBackoff)
	defDuration(&cfg.MaxBackoff, DefaultMaxBackoff)
	defDuration(&cfg.Timeout, DefaultTimeout)
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.InitialBackoff)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		cfg:     cfg,
		log:     cfg.Logger,
		events:  make(chan Event, cfg.Queue),
		ready:   make(chan *job),
		wake:    make(chan struct{}, 1),
		pending: map[string]int{},
		stop:    make(chan struct{}),
		runDone: make(chan struct{}),
	}
	var c http.Client
	if cfg.Client != nil {
		c = *cfg.Client
	} else {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
		d.ownClient = true
	}
	// A signed payload goes to the registered URL only: a redirect could
	// bounce it, and the receiver's trust in its signature, anywhere.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = nil
	d.client = &c
	return d, nil
}

// Publish queues e for delivery to its organisation's endpoints that want
// its type, and returns at once. An empty ID or At is filled in. When the
// queue is full the oldest waiting event is dropped to make room; after
// Close, e is dropped. Both count in Stats.Dropped.
func (d *Dispatcher) Publish(e Event) {
	select {
	case <-d.stop:
		d.drop("webhook event dropped: dispatcher closed", "event", e.ID, "type", e.Type, "org", e.OrgID)
		return
	default:
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	// Each round either queues e or makes room for it; another publisher
	// may take the room first, but every round some event moves, so this
	// ends.
	for {
		select {
		case d.events <- e:
			d.published.Add(1)
			return
		default:
		}
		select {
		case old := <-d.events:
			d.drop("webhook queue full: oldest event dropped", "event", old.ID, "type", old.Type, "org", old.OrgID)
		default:
		}
	}
}

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	pending := len(d.due)
	d.mu.Unlock()
	return Stats{
		Published: d.published.Load(),
		Delivered: d.delivered.Load(),
		Failed:    d.failed.Load(),
		GivenUp:   d.givenUp.Load(),
		Gone:      d.gone.Load(),
		Cancelled: d.cancelled.Load(),
		Dropped:   d.dropped.Load(),
		Queued:    len(d.events),
		Pending:   pending,
	}
}

// Run delivers events until ctx ends or Close is called, then waits for
// its workers: attempts in flight are cancelled. With an Outbox it first
// resumes the deliveries kept there, and deliveries not done when it ends
// stay there; without one they are lost, and logged. Events published but
// not yet fanned out are lost either way. Run may be called once; it
// returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("webhook: Run called twice")
	}
	defer close(d.runDone)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// What the Outbox kept is queued before the workers start: an event
	// fanned out meanwhile would otherwise be read back and sent twice.
	d.resume(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { d.schedule(ctx) })
	for range d.cfg.Workers {
		wg.Go(func() { d.work(ctx) })
	}
	wg.Wait()
	if d.ownClient {
		d.client.CloseIdleConnections()
	}
	if s := d.Stats(); s.Queued > 0 || s.Pending > 0 {
		d.log.Warn("webhook dispatcher stopped with undelivered events", "queued", s.Queued, "pending", s.Pending)
	}
	return nil
}

// Close stops the dispatcher and waits for Run, if it was called, to
// return. Later Publishes are dropped.
func (d *Dispatcher) Close() {
	d.stopOnce.Do(func() { close(d.stop) })
	if d.running.Load() {
		<-d.runDone
	}
}

func (d *Dispatcher) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-d.events:
			d.fanOut(ctx, &job{event: e})
		case j := <-d.ready:
			if j.endpoint == nil {
				d.fanOut(ctx, j)
			} else {
				d.attempt(ctx, j)
			}
		}
	}
}

// schedule hands jobs to the workers as they fall due.
func (d *Dispatcher) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var next *job
		wait := time.Duration(-1)
		d.mu.Lock()
		if len(d.due) > 0 {
			if w := time.Until(d.due[0].at); w > 0 {
				wait = w
			} else {
				next = heap.Pop(&d.due).(*job)
				d.pending[next.queueKey()]--
				if d.pending[next.queueKey()] <= 0 {
					delete(d.pending, next.queueKey())
				}
			}
		}
		d.mu.Unlock()
		if next != nil {
			select {
			case d.ready <- next:
			case <-ctx.Done():
				return
			}
			continue
		}
		var fire <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-d.wake:
		case <-fire:
		}
		timer.Stop()
	}
}

// enqueue schedules j at time at, unless its endpoint's queue is full.
func (d *Dispatcher) enqueue(j *job, at time.Time) bool {
	key := j.queueKey()
	d.mu.Lock()
	if d.pending[key] >= d.cfg.EndpointQueue {
		d.mu.Unlock()
		return false
	}
	d.pending[key]++
	d.seq++
	j.at, j.seq = at, d.seq
	heap.Push(&d.due, j)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default: // the scheduler has a wake-up coming already
	}
	return true
}

// fanOut looks up the endpoints of j's event and queues a delivery to each
// that wants it.
func (d *Dispatcher) fanOut(ctx context.Context, j *job) {
	e := j.event
	if e.OrgID == "" {
		d.drop("webhook event without an organisation dropped", "event", e.ID, "type", e.Type)
		return
	}
	endpoints, err := d.cfg.Endpoints.Endpoints(ctx, e.OrgID)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		d.count(&d.failed, "failed")
		j.attempts++
		if j.attempts >= d.cfg.MaxAttempts {
			d.count(&d.givenUp, "given_up")
			d.log.Error("webhook endpoints not found, event given up", "event", e.ID, "type", e.Type, "org", e.OrgID, "attempts", j.attempts, "err", err)
			return
		}
		d.log.Warn("cannot look up webhook endpoints, will retry", "event", e.ID, "org", e.OrgID, "err", err)
		if !d.enqueue(j, time.Now().Add(d.backoff(j.attempts))) {
			d.drop("webhook look-up queue of the organisation full: event dropped", "event", e.ID, "org", e.OrgID)
		}
		return
	}
	var body []byte
	for _, ep := range endpoints {
		// The source is trusted to answer for one organisation, but an
		// event reaching another organisation would leak its sessions:
		// check anyway.
		if ep.OrgID != e.OrgID {
			d.log.Error("webhook endpoint source answered with another organisation's endpoint", "endpoint", ep.ID, "org", e.OrgID, "endpoint_org", ep.OrgID)
			continue
		}
		if !ep.Wants(e.Type) {
			continue
		}
		if body == nil {
			if body, err = json.Marshal(e); err != nil {
				d.count(&d.givenUp, "given_up")
				d.log.Error("cannot encode webhook event", "event", e.ID, "err", err)
				return
			}
		}
		// Every delivery goes through the scheduler, even the first
		// attempt, so that one slow endpoint delays no other.
		dj := &job{id: uuid.NewString(), event: e, body: body, endpoint: &ep, at: time.Now()}
		if !d.save(ctx, dj) {
			continue // the endpoint was removed meanwhile
		}
		if !d.enqueue(dj, dj.at) {
			d.forget(ctx, dj)
			d.drop("webhook endpoint queue full: event dropped", "event", e.ID, "type", e.Type, "endpoint", ep)
		}
	}
}

// outcome is what came of an attempt.
type outcome int

const (
	delivered outcome = iota
	gone
	retry     // a failure that may pass
	permanent // a failure that will not
)

// attempt makes one attempt of delivery j, and schedules a retry or gives up
// when it fails.
func (d *Dispatcher) attempt(ctx context.Context, j *job) {
	if j.attempts > 0 || j.resumed {
		switch d.refresh(ctx, j) {
		case endpointGone:
			d.forget(ctx, j)
			return
		case endpointUnknown:
			// Nothing to send to yet: look again later, no attempt spent.
			j.lookups++
			if ctx.Err() == nil && !d.enqueue(j, time.Now().Add(d.backoff(j.lookups))) {
				d.forget(ctx, j)
				d.drop("webhook endpoint queue full: retry dropped", "event", j.event.ID, "endpoint", *j.endpoint)
			}
			return
		}
		j.resumed = false
	}
	j.attempts++
	res, retryAfter, err := d.send(ctx, j)
	ep := *j.endpoint
	if err != nil && ctx.Err() != nil {
		// Shutting down: the attempt was cut short and is not the endpoint's fault.
		return
	}
	attrs := []any{"event", j.event.ID, "type", j.event.Type, "endpoint", ep, "attempt", j.attempts}
	switch res {
	case delivered:
		d.forget(ctx, j)
		d.count(&d.delivered, "delivered")
		d.log.Debug("webhook delivered", attrs...)
		return
	case gone:
		d.forget(ctx, j)
		d.gone.Add(1)
		d.log.Info("webhook refused with 410 Gone, not retried", attrs...)
		return
	case permanent:
		d.forget(ctx, j)
		d.count(&d.givenUp, "given_up")
		d.log.Error("webhook cannot be sent, given up", append(attrs, "err", err)...)
		return
	}
	d.count(&d.failed, "failed")
	if j.attempts >= d.cfg.MaxAttempts {
		d.forget(ctx, j)
		d.count(&d.givenUp, "given_up")
		d.log.Warn("webhook failed, given up", append(attrs, "err", err)...)
		return
	}
	wait := max(d.backoff(j.attempts), min(retryAfter, d.cfg.MaxBackoff))
	d.log.Info("webhook failed, will retry", append(attrs, "in", wait, "err", err)...)
	j.at = time.Now().Add(wait)
	if !d.save(ctx, j) {
		d.cancelled.Add(1)
		d.log.Info("webhook endpoint removed, retries cancelled", attrs...)
		return
	}
	if !d.enqueue(j, j.at) {
		d.forget(ctx, j)
		d.drop("webhook endpoint queue full: retry dropped", attrs...)
	}
}

// save keeps j in the Outbox, if there is one, as due at j.at. It returns
// false when j's endpoint no longer exists. A store that fails costs the
// delivery only its durability: it goes on in memory.
func (d *Dispatcher) save(ctx context.Context, j *job) bool {
	if d.cfg.Outbox == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, outboxTimeout)
	defer cancel()
	err := d.cfg.Outbox.SaveWebhookDelivery(ctx, &arena.WebhookDelivery{
		ID: j.id, OrgID: j.event.OrgID, WebhookID: j.endpoint.ID, EventID: j.event.ID, EventType: j.event.Type,
		Body: j.body, Attempts: j.attempts, NextAt: j.at,
	})
	switch {
	case err == nil:
		return true
	case arena.ErrorCode(err) == arena.ENOTFOUND:
		return false
	case ctx.Err() == nil:
		d.log.Warn("cannot keep a webhook delivery; it goes on in memory only", "event", j.event.ID, "endpoint", *j.endpoint, "err", err)
	}
	return true
}

// forget removes j, done, from the Outbox. A delivery that stays there by
// failure is made again by the next dispatcher: receivers de-duplicate.
func (d *Dispatcher) forget(ctx context.Context, j *job) {
	if d.cfg.Outbox == nil {
		return
	}
	// Done is done even while shutting down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxTimeout)
	defer cancel()
	if err := d.cfg.Outbox.DeleteWebhookDelivery(ctx, j.id); err != nil {
		d.log.Warn("cannot forget a webhook delivery that is done; it may be sent again", "event", j.event.ID, "endpoint", *j.endpoint, "err", err)
	}
}

// resume queues the deliveries the Outbox kept, asking it again with
// backoff until it answers or ctx ends.
func (d *Dispatcher) resume(ctx context.Context) {
	if d.cfg.Outbox == nil {
		return
	}
	for n := 1; ; n++ {
		lctx, cancel := context.WithTimeout(ctx, outboxTimeout)
		list, err := d.cfg.Outbox.ListWebhookDeliveries(lctx)
		cancel()
		if err == nil {
			now := time.Now()
			for _, dl := range list {
				j := &job{
					id: dl.ID, event: Event{ID: dl.EventID, Type: dl.EventType, OrgID: dl.OrgID}, body: dl.Body,
					endpoint: &Endpoint{ID: dl.WebhookID, OrgID: dl.OrgID}, attempts: dl.Attempts, resumed: true,
				}
				if !d.enqueue(j, later(dl.NextAt, now)) {
					d.forget(ctx, j)
					d.drop("webhook endpoint queue full: kept delivery dropped", "event", dl.EventID, "endpoint", dl.WebhookID)
				}
			}
			if len(list) > 0 {
				d.log.Info("resumed webhook deliveries", "deliveries", len(list))
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		d.log.Error("cannot read the webhook deliveries to resume; trying again", "err", err)
		// Nothing is sent until this succeeds: ask again soon.
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(d.backoff(n), maxResumeWait)):
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// drop counts a dropped event or delivery and logs it, but only the 1st,
// 2nd, 4th, 8th… drop: drops come in floods, when a receiver or the
// dispatcher cannot keep up, and a log line for each would add to the load.
func (d *Dispatcher) drop(msg string, attrs ...any) {
	if n := d.count(&d.dropped, "dropped"); n&(n-1) == 0 {
		d.log.Warn(msg, append(attrs, "dropped_total", n)...)
	}
}

// refreshed is what refresh learnt of a delivery's endpoint.
type refreshed int

const (
	endpointCurrent refreshed = iota // up to date, or the known one will do
	endpointGone                     // removed, or no longer wants the event
	endpointUnknown                  // not known yet, and the look-up failed
)

// refresh updates a retry's endpoint from the source, since retries go on
// for an hour: an organisation that removed an endpoint, or rotated its
// secret or URL, expects the change to hold at once. A resumed delivery
// learns its endpoint here. It counts the delivery cancelled when the
// endpoint is gone.
func (d *Dispatcher) refresh(ctx context.Context, j *job) refreshed {
	eps, err := d.cfg.Endpoints.Endpoints(ctx, j.event.OrgID)
	if err != nil {
		if j.resumed {
			if n := j.lookups + 1; n&(n-1) == 0 { // the 1st, 2nd, 4th… time
				d.log.Warn("cannot look up the endpoint of a resumed webhook delivery, will retry", "event", j.event.ID, "endpoint", *j.endpoint, "failures", n, "err", err)
			}
			return endpointUnknown
		}
		// A failing look-up should not cost the delivery: try with what we have.
		d.log.Warn("cannot look up webhook endpoints, retrying with the known one", "event", j.event.ID, "endpoint", *j.endpoint, "err", err)
		return endpointCurrent
	}
	for _, ep := range eps {
		if ep.ID == j.endpoint.ID && ep.OrgID == j.event.OrgID && ep.Wants(j.event.Type) {
			j.endpoint = &ep
			return endpointCurrent
		}
	}
	d.cancelled.Add(1)
	d.log.Info("webhook endpoint removed or unsubscribed, retries cancelled", "event", j.event.ID, "type", j.event.Type, "endpoint", *j.endpoint)
	return endpointGone
}

// send makes one HTTP request of j. On a failure it returns why, and how
// long the receiver asked to be left alone (Retry-After), if it did.
func (d *Dispatcher) send(ctx context.Context, j *job) (outcome, time.Duration, error) {
	ep := j.endpoint
	if err := checkURL(ep.URL); err != nil {
		return permanent, 0, fmt.Errorf("url %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(j.body))
	if err != nil {
		return permanent, 0, err
	}
	// Signed per attempt: a retry an hour later must still pass the
	// receiver's timestamp tolerance. The body, and so the event id, stay
	// the same.
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Arena-Webhooks/1")
	req.Header.Set(HeaderEventID, j.event.ID)
	req.Header.Set(HeaderEventType, j.event.Type)
	req.Header.Set(HeaderAttempt, strconv.Itoa(j.attempts))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(ep.Secret, now, j.body))
	resp, err := d.client.Do(req)
	if err != nil {
		return retry, 0, err
	}
	// Draining a little lets the connection be reused; more is not worth reading.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return delivered, 0, nil
	case resp.StatusCode == http.StatusGone:
		return gone, 0, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return retry, 0, fmt.Errorf("answered %s, and redirects are not followed", resp.Status)
	}
	return retry, parseRetryAfter(resp.Header.Get("Retry-After"), now), fmt.Errorf("answered %s", resp.Status)
}

// backoff returns the wait after the n-th failed attempt: InitialBackoff
// doubled n-1 times, at most MaxBackoff, less up to a quarter at random.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.cfg.InitialBackoff
	for i := 1; i < n && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b - rand.N(b/4+1)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// jobHeap orders jobs by when they are due, then by arrival.
type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(a, b int) bool {
	if !h[a].at.Equal(h[b].at) {
		return h[a].at.Before(h[b].at)
	}
	return h[a].seq < h[b].seq
}
func (h jobHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}

// count adds one to c and tells Config.Observe, returning the new count.
func (d *Dispatcher) count(c *atomic.Uint64, result string) uint64 {
	n := c.Add(1)
	if d.cfg.Observe != nil {
		d.cfg.Observe(result)
	}
	return n
}
