package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/arena-hq/arena"
)

// maxPulls bounds the pulls an agent runs at once: a node's bandwidth is
// better spent finishing one image than starting every one.
const maxPulls = 2

// maxImageError bounds a pull error's message in heartbeats.
const maxImageError = 1024

// maxImageReport bounds the image states in one heartbeat, in bytes, well
// below what the control plane reads of one: the heartbeat must get
// through however many images are wanted.
const maxImageReport = 256 << 10

// images keeps the node holding every image the control plane wants, pulling
// what is missing ahead of the sessions that will need it, and pulls on
// demand for a session whose image is missing anyway.
type images struct {
	rt  Runtime
	log *slog.Logger
	// retry is the delay before pulling a failed image again; it doubles per
	// failure up to maxRetry.
	retry, maxRetry time.Duration
	// recheck is how often present images are looked for again, in case
	// someone removed one from the engine.
	recheck time.Duration

	mu sync.Mutex
	// wanted holds, by reference, each organisation that wants the image
	// with the credentials it has for it.
	wanted map[string][]grant
	// verified records that the registry accepted an organisation's
	// credentials for a private image: the node then runs it for that
	// organisation without asking again.
	verified map[grant]bool
	// private holds the images ever wanted with credentials, saved in
	// privateFile: such an image stays on the node after nobody wants it,
	// and must not then run for an organisation that merely names it
	// without credentials the registry takes.
	private     map[string]bool
	privateFile string
	// allPrivate treats every image as private, when privateFile could not
	// be read.
	allPrivate bool
	state      map[string]*image
	kick       chan struct{}
	slots      chan struct{}
	// changed is signalled when an image's state changes, so that the next
	// heartbeat tells the control plane at once rather than an interval later.
	changed chan struct{}
}

// grant is an organisation's access to an image.
type grant struct {
	org, ref string
	auth     arena.RegistryAuth
	hasAuth  bool
}

func (g grant) credentials() *arena.RegistryAuth {
	if !g.hasAuth {
		return nil
	}
	return &g.auth
}

// image is the agent's view of one image.
type image struct {
	state arena.ImageState
	err   string
	// done is closed when the pull in flight ends; nil when none is.
	done     chan struct{}
	failures int
	retryAt  time.Time
	// refused holds the wanting organisations whose credentials the
	// registry refused for this private image.
	refused map[string]bool
	// stale says that who wants the image changed since it was last
	// fetched: the new grants are checked on the next look.
	stale bool
}

func newImages(rt Runtime, log *slog.Logger, retry, maxRetry, recheck time.Duration, stateDir string) *images {
	m := &images{
		rt: rt, log: log, retry: retry, maxRetry: maxRetry, recheck: recheck,
		wanted: map[string][]grant{}, verified: map[grant]bool{}, state: map[string]*image{},
		private: map[string]bool{},
		kick:    make(chan struct{}, 1), slots: make(chan struct{}, maxPulls), changed: make(chan struct{}, 1),
	}
	if stateDir != "" {
		m.privateFile = filepath.Join(stateDir, "private-images.json")
		data, err := os.ReadFile(m.privateFile)
		var refs []string
		if err == nil {
			err = json.Unmarshal(data, &refs)
		}
		switch {
		case err == nil:
			for _, ref := range refs {
				m.private[ref] = true
			}
		case !errors.Is(err, fs.ErrNotExist):
			// Forgetting would let any organisation run them: fail closed
			// by checking every image with the registry instead.
			log.Error("cannot read which images are private; checking every image with its registry", "file", m.privateFile, "err", err)
			m.allPrivate = true
		}
	}
	return m
}

// markPrivateLocked records that ref is private. m.mu must be held.
func (m *images) markPrivateLocked(ref string) {
	if m.private[ref] {
		return
	}
	m.private[ref] = true
	if m.privateFile == "" {
		return
	}
	refs := slices.Sorted(maps.Keys(m.private))
	data, _ := json.Marshal(refs)
	tmp := m.privateFile + ".tmp"
	err := os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, m.privateFile)
	}
	if err != nil {
		m.log.Error("cannot save which images are private", "file", m.privateFile, "err", err)
	}
}

// want replaces the set of wanted images. Images no longer wanted stay on
// the node (a running session may use one) but are no longer reported.
func (m *images) want(list []arena.WantedImage) {
	m.mu.Lock()
	old := m.wanted
	m.wanted = make(map[string][]grant, len(list))
	keep := map[grant]bool{}
	for _, w := range list {
		g := grant{org: w.OrgID, ref: w.Ref}
		if w.Auth != nil {
			g.auth, g.hasAuth = *w.Auth, true
			m.markPrivateLocked(w.Ref)
		}
		m.wanted[w.Ref] = append(m.wanted[w.Ref], g)
		// A grant whose credentials changed is checked again.
		keep[g] = m.verified[g]
	}
	m.verified = keep
	for ref, im := range m.state {
		grants, ok := m.wanted[ref]
		if !ok && im.done == nil {
			delete(m.state, ref)
			continue
		}
		if !slices.Equal(grants, old[ref]) {
			im.stale = true
			maps.DeleteFunc(im.refused, func(org string, _ bool) bool {
				return !slices.ContainsFunc(grants, func(g grant) bool { return g.org == org })
			})
		}
	}
	m.mu.Unlock()
	m.poke()
}

// judgedLocked records the registry's answer to org's credentials for ref.
// m.mu must be held.
func (m *images) judgedLocked(org, ref string, taken bool) {
	im := m.state[ref]
	switch {
	case im == nil:
	case taken:
		delete(im.refused, org)
	default:
		if im.refused == nil {
			im.refused = map[string]bool{}
		}
		im.refused[org] = true
	}
}

func (m *images) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// report returns the state of every wanted image the agent has looked at,
// ordered by reference, for the heartbeat: as many as fit in
// maxImageReport bytes.
func (m *images) report() []arena.NodeImage {
	m.mu.Lock()
	out := make([]arena.NodeImage, 0, len(m.wanted))
	for ref := range m.wanted {
		if im, ok := m.state[ref]; ok {
			var refused []string
			if im.state == arena.ImagePresent && len(im.refused) > 0 {
				refused = slices.Sorted(maps.Keys(im.refused))
			}
			out = append(out, arena.NodeImage{Ref: ref, State: im.state, Error: im.err, Refused: refused})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b arena.NodeImage) int { return cmp.Compare(a.Ref, b.Ref) })
	size := 0
	for i, im := range out {
		// The strings and about what encoding them costs.
		size += len(im.Ref) + len(im.Error) + 16
		for _, org := range im.Refused {
			size += len(org) + 2
		}
		if size > maxImageReport {
			m.log.Warn("too many images to report them all", "reported", i, "wanted", len(out))
			return out[:i]
		}
	}
	return out
}

// run pulls wanted images that are missing, and again those that failed
// once their backoff has passed, until ctx ends.
func (m *images) run(ctx context.Context, wg *sync.WaitGroup) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastCheck := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-timer.C:
		}
		now := time.Now()
		recheck := now.Sub(lastCheck) >= m.recheck
		if recheck {
			lastCheck = now
		}
		next := now.Add(m.recheck)
		m.mu.Lock()
		for ref := range m.wanted {
			im := m.state[ref]
			switch {
			case im == nil, im.done == nil && im.state == arena.ImageFailed && !now.Before(im.retryAt),
				im.done == nil && im.state == arena.ImagePresent && (recheck || im.stale):
				m.startLocked(ctx, wg, ref)
			case im.done == nil && im.state == arena.ImageFailed && im.retryAt.Before(next):
				next = im.retryAt
			}
		}
		m.mu.Unlock()
		timer.Reset(time.Until(next))
	}
}

// startLocked starts fetching ref unless a pull of it is in flight, and
// returns the channel closed when that pull ends. m.mu must be held.
func (m *images) startLocked(ctx context.Context, wg *sync.WaitGroup, ref string) <-chan struct{} {
	im := m.state[ref]
	if im == nil {
		im = &image{}
		m.state[ref] = im
	}
	if im.done != nil {
		return im.done
	}
	done := make(chan struct{})
	im.done, im.stale = done, false
	grants := slices.Clone(m.wanted[ref])
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		m.fetch(ctx, ref, grants, im)
	}()
	return done
}

// fetch makes the node hold ref: it looks first, and pulls only what is
// missing, with each wanting organisation's credentials in turn until the
// registry takes one, so that one organisation's wrong credentials cannot
// keep another's image off the node.
func (m *images) fetch(ctx context.Context, ref string, grants []grant, im *image) {
	has, err := m.rt.ImageExists(ctx, ref)
	if err == nil && !has {
		m.set(im, arena.ImagePulling, nil)
		select {
		case m.slots <- struct{}{}:
		case <-ctx.Done():
			m.set(im, arena.ImageFailed, ctx.Err())
			return
		}
		began := time.Now()
		if len(grants) == 0 {
			grants = []grant{{ref: ref}}
		}
		for _, g := range grants {
			if err = m.rt.PullImage(ctx, ref, g.credentials()); err == nil {
				m.mu.Lock()
				m.verified[g] = true
				m.judgedLocked(g.org, ref, true)
				m.mu.Unlock()
				break
			}
		}
		<-m.slots
		if err == nil {
			m.log.Info("pulled image", "image", ref, "took", time.Since(began).Round(time.Millisecond))
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("cannot pull image", "image", ref, "err", err)
		}
		m.set(im, arena.ImageFailed, err)
		return
	}
	m.set(im, arena.ImagePresent, nil)
	// A private image the node holds is checked now for each organisation
	// that wants it, rather than when a session waits, and so that the tag
	// endpoint can tell each organisation whether it may run it.
	m.mu.Lock()
	private := m.private[ref] || m.allPrivate
	m.mu.Unlock()
	for _, g := range grants {
		if private && ctx.Err() == nil {
			if err := m.authorize(ctx, g.org, ref, false); err != nil {
				m.log.Warn("the registry refused an organisation's credentials", "image", ref, "org", g.org, "err", err)
			}
		}
	}
	// Who wants the image changed meanwhile: look again now, not at the
	// next recheck.
	m.mu.Lock()
	stale := im.stale
	m.mu.Unlock()
	if stale {
		m.poke()
	}
}

func (m *images) set(im *image, s arena.ImageState, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == arena.ImageFailed {
		// The run loop plans the next attempt.
		defer m.poke()
	}
	if im.state != s {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
	im.state, im.err = s, ""
	switch s {
	case arena.ImageFailed:
		im.err = truncate(arena.ErrorMessage(err), maxImageError)
		im.retryAt = time.Now().Add(min(m.retry<<min(im.failures, 16), m.maxRetry))
		im.failures++
	case arena.ImagePresent:
		im.failures = 0
	}
	if s != arena.ImagePulling {
		im.done = nil
	}
}

// ensure makes the node hold ref now, for a session of org that needs it:
// it joins a pull in flight or starts one, and returns why the image is
// missing when the pull fails; then it checks org may run it. A pull it
// starts lasts as long as life (the agent's), since others will want the
// image; the caller waits only as long as ctx.
func (m *images) ensure(life, ctx context.Context, wg *sync.WaitGroup, org, ref string) error {
	m.mu.Lock()
	done := m.startLocked(life, wg, ref)
	m.mu.Unlock()
	if err := waitFor(ctx, done); err != nil {
		return err
	}
	m.mu.Lock()
	im := m.state[ref]
	failed := im != nil && im.state == arena.ImageFailed
	m.mu.Unlock()
	if failed {
		// The wanting organisations' pulls failed; the session's own
		// credentials may still do.
		if err := m.authorize(ctx, org, ref, true); err != nil {
			return err
		}
		m.set(im, arena.ImagePresent, nil)
		return nil
	}
	return m.authorize(ctx, org, ref, false)
}

// authorize checks that org may run the private image ref the node holds:
// the registry must have taken org's own credentials for it, once. A node
// holding another organisation's private image must not run it for anyone
// who could not pull it. Public images (never wanted with credentials on
// this node) need no check, unless always.
func (m *images) authorize(ctx context.Context, org, ref string, always bool) error {
	m.mu.Lock()
	if im := m.state[ref]; im != nil && im.done != nil {
		// A pull in flight may verify org's credentials itself: asking the
		// registry alongside it would fetch the image twice.
		done := im.done
		m.mu.Unlock()
		if err := waitFor(ctx, done); err != nil {
			return err
		}
		m.mu.Lock()
	}
	var own grant
	private, found := m.private[ref] || m.allPrivate, false
	for _, g := range m.wanted[ref] {
		if g.org == org {
			own, found = g, true
		}
	}
	if !found {
		own = grant{org: org, ref: ref}
	}
	done := m.verified[own]
	m.mu.Unlock()
	if done || (!private && !always) {
		return nil
	}
	// A pull of an image the engine holds fetches its manifest only: the
	// registry's answer is the check.
	err := m.rt.PullImage(ctx, ref, own.credentials())
	if ctx.Err() != nil {
		return ctx.Err() // no answer of the registry's
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.judgedLocked(org, ref, err == nil)
	if err != nil {
		return arena.Errorf(arena.EUNAUTHORIZED, "the registry refused the organisation's credentials for %s: %s", ref, arena.ErrorMessage(err))
	}
	m.verified[own] = true
	return nil
}

// truncate cuts s to at most n bytes, on a character boundary and marked
// with an ellipsis: a cut through a character would leave invalid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// waitFor waits until done is closed or ctx ends.
func waitFor(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
