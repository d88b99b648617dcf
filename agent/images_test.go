package agent_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/agent"
	"github.com/arena-hq/arena/sim"
)

// registry is a simulated registry: pulls of held references wait for
// release, bad ones fail, and every pull's credentials are recorded.
type registry struct {
	mu      sync.Mutex
	held    map[string]chan struct{}
	bad     map[string]bool
	pulls   map[string]int
	auth    map[string]*arena.RegistryAuth
	release func(ref string)
}

func newRegistry() *registry {
	r := &registry{held: map[string]chan struct{}{}, bad: map[string]bool{}, pulls: map[string]int{}, auth: map[string]*arena.RegistryAuth{}}
	r.release = func(ref string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		close(r.held[ref])
		delete(r.held, ref)
	}
	return r
}

func (r *registry) hold(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held[ref] = make(chan struct{})
}

func (r *registry) pull(ctx context.Context, ref string, auth *arena.RegistryAuth) error {
	r.mu.Lock()
	r.pulls[ref]++
	r.auth[ref] = auth
	gate, bad := r.held[ref], r.bad[ref]
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if bad {
		return arena.Errorf(arena.EUNAVAILABLE, "pulling image %s: unauthorized", ref)
	}
	return nil
}

func (r *registry) count(ref string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pulls[ref]
}

func imageState(images []arena.NodeImage, ref string) (arena.NodeImage, bool) {
	i := slices.IndexFunc(images, func(im arena.NodeImage) bool { return im.Ref == ref })
	if i < 0 {
		return arena.NodeImage{}, false
	}
	return images[i], true
}

func TestPrePull(t *testing.T) {
	ta := startAgent(t, 0, func(c *agent.Config) {
		c.HeartbeatInterval = 2 * time.Millisecond
		c.RetryInterval = 2 * time.Millisecond
		c.MaxRetryInterval = 10 * time.Millisecond
	})
	reg := newRegistry()
	ta.rt.SetImages("game:local") // on the node already
	ta.rt.SetRegistry(reg.pull)
	reg.hold("game:1")
	reg.bad["game:bad"] = true
	auth := &arena.RegistryAuth{Username: "studio", Password: "secret"}
	ta.cp.assignments <- arena.Assignment{Full: true, Images: []arena.WantedImage{
		{Ref: "game:1", Auth: auth}, {Ref: "game:bad", Auth: auth}, {Ref: "game:local"},
	}}

	stateIs := func(ref string, want arena.ImageState) func() bool {
		return func() bool {
			im, ok := imageState(ta.cp.lastImages(), ref)
			return ok && im.State == want
		}
	}
	eventually(t, "game:1 reported as pulling", stateIs("game:1", arena.ImagePulling))
	eventually(t, "game:bad reported as failed", stateIs("game:bad", arena.ImageFailed))
	eventually(t, "game:local reported as present", stateIs("game:local", arena.ImagePresent))
	if n := reg.count("game:local"); n != 0 {
		t.Errorf("game:local, already on the node, was pulled %d times", n)
	}
	if im, _ := imageState(ta.cp.lastImages(), "game:bad"); im.Error == "" {
		t.Errorf("a failed pull reports no reason: %+v", im)
	}
	eventually(t, "game:bad pulled again after its backoff", func() bool { return reg.count("game:bad") >= 3 })

	// A session of the image being pulled waits for that pull, not a second one.
	ta.assign(&arena.Session{ID: "s1", NodeID: "n1", Image: "game:1", State: arena.SessionStarted})
	reg.release("game:1")
	eventually(t, "game:1 reported as present", stateIs("game:1", arena.ImagePresent))
	eventually(t, "s1 running", func() bool { return ta.cp.last().State == arena.SessionRunning })
	if n := reg.count("game:1"); n != 1 {
		t.Errorf("game:1 pulled %d times, want once", n)
	}
	reg.mu.Lock()
	gotAuth := reg.auth["game:1"]
	reg.mu.Unlock()
	if gotAuth == nil || *gotAuth != *auth {
		t.Errorf("game:1 pulled with %v, want the application's credentials", gotAuth)
	}

	// An image nobody asked to pre-pull is pulled when a session needs it.
	ta.assign(&arena.Session{ID: "s2", NodeID: "n1", Image: "game:2", State: arena.SessionStarted})
	eventually(t, "s2 running", func() bool {
		r := ta.cp.last()
		return r.SessionID == "s2" && r.State == arena.SessionRunning
	})

	// A session whose image cannot be had fails with the registry's reason.
	ta.assign(&arena.Session{ID: "s3", NodeID: "n1", Image: "game:bad", State: arena.SessionStarted})
	eventually(t, "s3 failed", func() bool {
		r := ta.cp.last()
		return r.SessionID == "s3" && r.State == arena.SessionStopped
	})
	if r := ta.cp.last(); r.Reason != arena.StopFailed || !containsAll(r.Message, "game:bad", "unauthorized") {
		t.Errorf("s3 stopped with %s %q, want failed with the registry's reason", r.Reason, r.Message)
	}

	// Images no longer wanted are no longer reported.
	ta.cp.assignments <- arena.Assignment{Full: true, Images: []arena.WantedImage{{Ref: "game:local"}}}
	eventually(t, "only game:local reported", func() bool {
		images := ta.cp.lastImages()
		return len(images) == 1 && images[0].Ref == "game:local"
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestPrivateImagesPerOrganisation checks that a private image runs only for
// an organisation whose own credentials the registry takes, and that
// another organisation's wrong credentials cannot keep it off the node.
func TestPrivateImagesPerOrganisation(t *testing.T) {
	ta := startAgent(t, 0, func(c *agent.Config) {
		c.HeartbeatInterval = 2 * time.Millisecond
		c.RetryInterval = 2 * time.Millisecond
	})
	good := arena.RegistryAuth{Username: "studio-a", Password: "right"}
	ta.rt.SetImages()
	ta.rt.SetRegistry(func(ctx context.Context, ref string, auth *arena.RegistryAuth) error {
		if ref == "registry.example/a/game:1" && (auth == nil || *auth != good) {
			return arena.Errorf(arena.EUNAVAILABLE, "pulling image %s: unauthorized", ref)
		}
		return nil
	})
	// studio-b, listed first, names studio-a's private image with a wrong password.
	ta.cp.assignments <- arena.Assignment{Full: true, Images: []arena.WantedImage{
		{OrgID: "studio-b", Ref: "registry.example/a/game:1", Auth: &arena.RegistryAuth{Username: "b", Password: "guess"}},
		{OrgID: "studio-a", Ref: "registry.example/a/game:1", Auth: &good},
	}}
	eventually(t, "the image pulled with studio-a's credentials, and studio-b's refused", func() bool {
		im, ok := imageState(ta.cp.lastImages(), "registry.example/a/game:1")
		return ok && im.State == arena.ImagePresent && slices.Equal(im.Refused, []string{"studio-b"})
	})
	for _, tc := range []struct {
		session, org string
		want         arena.SessionState
	}{
		{"b-1", "studio-b", arena.SessionStopped},
		{"c-1", "studio-c", arena.SessionStopped}, // no credentials at all
		{"a-1", "studio-a", arena.SessionRunning},
	} {
		t.Run(tc.session, func(t *testing.T) {
			ta.assign(&arena.Session{ID: tc.session, OrgID: tc.org, NodeID: "n1", Image: "registry.example/a/game:1", State: arena.SessionStarted})
			eventually(t, tc.session+" settled", func() bool {
				r := ta.cp.last()
				return r.SessionID == tc.session && r.State == tc.want
			})
			if r := ta.cp.last(); tc.want == arena.SessionStopped && (r.Reason != arena.StopFailed || !strings.Contains(r.Message, "refused")) {
				t.Fatalf("%s stopped with %s %q, want failed, refused", tc.session, r.Reason, r.Message)
			}
		})
	}
}

// TestStopDuringPull checks that a session stopped while its image is being
// pulled stops at once, without waiting for the pull, and that the pull
// goes on for the sessions to come.
func TestStopDuringPull(t *testing.T) {
	ta := startAgent(t, 0)
	reg := newRegistry()
	ta.rt.SetImages()
	ta.rt.SetRegistry(reg.pull)
	reg.hold("game:slow")
	t.Cleanup(func() {
		reg.mu.Lock()
		_, held := reg.held["game:slow"]
		reg.mu.Unlock()
		if held {
			reg.release("game:slow")
		}
	})
	s := &arena.Session{ID: "s1", NodeID: "n1", Image: "game:slow", State: arena.SessionStarted}
	ta.assign(s)
	eventually(t, "the pull of game:slow", func() bool { return reg.count("game:slow") == 1 })

	s.State = arena.SessionStopping
	ta.assign(s)
	eventually(t, "s1 stopped", func() bool {
		r := ta.cp.last()
		return r.SessionID == "s1" && r.State == arena.SessionStopped
	})
	if r := ta.cp.last(); r.Reason != "" || r.Message != "" {
		t.Errorf("s1 stopped with %s %q, want the stop asked for", r.Reason, r.Message)
	}
	if cs, _ := ta.rt.List(context.Background(), "n1"); len(cs) != 0 {
		t.Errorf("containers left: %+v", cs)
	}

	// The pull was not cancelled with the session: the next one needs no other.
	reg.release("game:slow")
	ta.assign(&arena.Session{ID: "s2", NodeID: "n1", Image: "game:slow", State: arena.SessionStarted})
	eventually(t, "s2 running", func() bool {
		r := ta.cp.last()
		return r.SessionID == "s2" && r.State == arena.SessionRunning
	})
	if n := reg.count("game:slow"); n != 1 {
		t.Errorf("game:slow pulled %d times, want once", n)
	}
}

// TestPrivateImageStaysPrivate checks that an image once wanted with
// credentials stays private on the node after nobody wants it, across a
// restart of the agent: an organisation naming it without credentials the
// registry takes cannot run it.
func TestPrivateImageStaysPrivate(t *testing.T) {
	const private, public = "registry.example/a/game:1", "registry.example/open/game:1"
	good := arena.RegistryAuth{Username: "studio-a", Password: "right"}
	rt := sim.New()
	rt.SetImages()
	reg := newRegistry()
	rt.SetRegistry(func(ctx context.Context, ref string, auth *arena.RegistryAuth) error {
		if err := reg.pull(ctx, ref, auth); err != nil {
			return err
		}
		if ref == private && (auth == nil || *auth != good) {
			return arena.Errorf(arena.EUNAVAILABLE, "pulling image %s: unauthorized", ref)
		}
		return nil
	})
	dir := t.TempDir()
	start := func() *testAgent {
		return startAgent(t, 0, func(c *agent.Config) {
			c.Runtime, c.StateDir = rt, dir
			c.HeartbeatInterval, c.RetryInterval = 2*time.Millisecond, 2*time.Millisecond
		})
	}
	run := func(ta *testAgent, id, org, image string) arena.SessionReport {
		t.Helper()
		ta.assign(&arena.Session{ID: id, OrgID: org, NodeID: "n1", Image: image, State: arena.SessionStarted})
		eventually(t, id+" settled", func() bool {
			r := ta.cp.last()
			return r.SessionID == id && (r.State == arena.SessionRunning || r.State == arena.SessionStopped)
		})
		return ta.cp.last()
	}

	ta := start()
	ta.cp.assignments <- arena.Assignment{Full: true, Images: []arena.WantedImage{{OrgID: "studio-a", Ref: private, Auth: &good}, {OrgID: "studio-a", Ref: public}}}
	eventually(t, "both images pulled", func() bool {
		a, _ := imageState(ta.cp.lastImages(), private)
		b, _ := imageState(ta.cp.lastImages(), public)
		return a.State == arena.ImagePresent && b.State == arena.ImagePresent
	})
	// studio-a's application goes; studio-b names the same repository and
	// tag without credentials.
	ta.cp.assignments <- arena.Assignment{Full: true, Images: []arena.WantedImage{{OrgID: "studio-b", Ref: private}, {OrgID: "studio-b", Ref: public}}}
	eventually(t, "studio-b reported refused for the private image only", func() bool {
		a, _ := imageState(ta.cp.lastImages(), private)
		b, _ := imageState(ta.cp.lastImages(), public)
		return slices.Equal(a.Refused, []string{"studio-b"}) && b.Refused == nil && b.State == arena.ImagePresent
	})
	if r := run(ta, "b-1", "studio-b", private); r.State != arena.SessionStopped || !strings.Contains(r.Message, "refused") {
		t.Fatalf("studio-b ran studio-a's private image: %+v", r)
	}
	pulls := reg.count(public)
	if r := run(ta, "b-2", "studio-b", public); r.State != arena.SessionRunning {
		t.Fatalf("a public image did not run: %+v", r)
	}
	if n := reg.count(public); n != pulls {
		t.Errorf("a public image on the node was checked with the registry %d times", n-pulls)
	}

	// The agent restarts, wanting only studio-b's: it still knows.
	ta.stop()
	ta = start()
	ta.cp.assignments <- arena.Assignment{Full: true, Images: []arena.WantedImage{{OrgID: "studio-b", Ref: private}}}
	if r := run(ta, "b-3", "studio-b", private); r.State != arena.SessionStopped || !strings.Contains(r.Message, "refused") {
		t.Fatalf("after a restart studio-b ran studio-a's private image: %+v", r)
	}
}
