package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/arena-hq/arena/client"
)

// warmBench measures creates claimed from warm pools on a running Arena,
// in the run that measures its cold starts: each pool is of an
// application of the bench's own, a copy of --image (a public or local
// image: the copy has no registry login) with a small reservation, so that
// a node holds a pool of --warm-burst; the application goes, and its pool
// with it, when the bench ends.
type warmBench struct {
	c        *client.Client
	org      string
	location string
	src      client.Application
}

func newWarmBench(ctx context.Context, o benchOptions) (*warmBench, error) {
	c := client.New(o.targets[0], o.token)
	who, err := c.Admin().WhoAmI(ctx)
	if err != nil {
		return nil, fmt.Errorf("warm pools are set through the admin API: %w", err)
	}
	src, err := c.Admin().GetApplication(ctx, who.Organization.ID, o.image)
	if err != nil {
		return nil, err
	}
	return &warmBench{c: c, org: who.Organization.ID, location: o.location, src: src}, nil
}

// pool creates an application of the bench's with a pool of size in mode,
// and waits until all of it is ready; the returned function deletes it.
func (w *warmBench) pool(ctx context.Context, mode string, size int) (string, func(), error) {
	name := "bench-" + mode + "-" + benchID()
	limits := w.src.Resources
	if w.src.Limits != nil {
		limits = *w.src.Limits
	}
	app := map[string]any{
		"name": name, "repository": w.src.Repository, "tags": w.src.Tags, "ports": w.src.Ports, "network": w.src.Network,
		"resources": map[string]any{"milliCpu": 10, "memoryMb": 16}, "limits": limits,
		"env": w.src.Env, "args": w.src.Args, "stopGraceSeconds": 1, "readiness": w.src.Readiness,
		"user": w.src.User, "readOnlyRootFilesystem": w.src.ReadOnlyRootFilesystem, "tmpfs": w.src.Tmpfs,
		"warmPools": []any{map[string]any{"location": w.location, "size": size, "mode": mode}},
	}
	if _, err := w.c.Admin().CreateApplication(ctx, w.org, app); err != nil {
		return "", nil, fmt.Errorf("creating the pool's application: %w", err)
	}
	done := func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Its pool's sessions go with it; a bench that spent the token's
		// rate waits for the room to delete it.
		for {
			err := w.c.Admin().DeleteApplication(dctx, w.org, name)
			if !rateLimited(err) || dctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := w.ready(ctx, name, size); err != nil {
		done()
		return "", nil, err
	}
	return name, done, nil
}

// ready waits until n sessions of the pool of app are ready to claim.
func (w *warmBench) ready(ctx context.Context, app string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		a, err := w.c.Admin().GetApplication(ctx, w.org, app)
		if rateLimited(err) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		if len(a.WarmPools) == 1 && a.WarmPools[0].Ready >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the warm pool of %s is not ready after 5 minutes: %+v", app, a.WarmPools)
		}
		time.Sleep(50 * time.Millisecond) // polling the admin API, within the token's rate limit
	}
}

// claim creates a session of app and waits until it is running: the
// POST's own answer, and GET /session/{id} until it says so.
func (w *warmBench) claim(ctx context.Context, app string) (string, time.Duration, error) {
	start := time.Now()
	c, err := w.c.Sessions().Create(ctx, client.SessionRequest{Image: app, Location: w.location})
	if err != nil {
		return "", 0, err
	}
	for {
		s, err := w.c.Sessions().Get(ctx, c.ID, client.GetOptions{})
		if rateLimited(err) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			return c.ID, 0, err
		}
		if s.Status == "running" {
			if !s.Warm {
				return c.ID, 0, fmt.Errorf("session %s of %s was not claimed from its pool", c.ID, app)
			}
			return c.ID, time.Since(start), nil
		}
		if time.Since(start) > time.Minute {
			return c.ID, 0, fmt.Errorf("session %s is %s after a minute", c.ID, s.Status)
		}
		// Often enough to see a launch's readiness within its own
		// looks, rarely enough for the token's rate limit.
		time.Sleep(5 * time.Millisecond)
	}
}

// rateLimited tells whether err is the 420 of a GET or a DELETE, which
// can only be the token's rate limit: the bench waits it out.
func rateLimited(err error) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.StatusCode == 420
}

// singles claims n sessions one at a time from a pool of one in mode,
// each after the pool is full again.
func (w *warmBench) singles(ctx context.Context, mode string, n int) (*latencies, error) {
	app, done, err := w.pool(ctx, mode, 1)
	if err != nil {
		return nil, err
	}
	defer done()
	lat := &latencies{}
	for range n {
		if err := w.ready(ctx, app, 1); err != nil {
			return nil, err
		}
		id, d, err := w.claim(ctx, app)
		if id != "" {
			_ = w.c.Sessions().Stop(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		lat.add(d)
	}
	return lat, nil
}

// burst claims n sessions at once from a full pool of n, and returns each
// one's POST to running and the time until all were running.
func (w *warmBench) burst(ctx context.Context, n int) (*latencies, time.Duration, error) {
	app, done, err := w.pool(ctx, "claim", n)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	lat := &latencies{}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		ids   []string
	)
	start := time.Now()
	for range n {
		wg.Go(func() {
			id, d, err := w.claim(ctx, app)
			mu.Lock()
			defer mu.Unlock()
			if id != "" {
				ids = append(ids, id)
			}
			if err != nil && first == nil {
				first = err
			}
			lat.add(d)
		})
	}
	wg.Wait()
	all := time.Since(start)
	for _, id := range ids {
		_ = w.c.Sessions().Stop(ctx, id)
	}
	return lat, all, first
}

// run measures single claims in both modes and a burst, and prints them.
func (w *warmBench) run(ctx context.Context, singles, burst int, stdout io.Writer) error {
	for _, mode := range []string{"claim", "launch"} {
		lat, err := w.singles(ctx, mode, singles)
		if err != nil {
			return fmt.Errorf("warm claims (%s): %w", mode, err)
		}
		what := "claimed, running in the POST's answer"
		if mode == "launch" {
			what = "launched: the game server starts at the claim, with the request's env and args"
		}
		fmt.Fprintf(stdout, "warm pool, mode %s (%s), %d sessions: POST /session to running median %s, p90 %s, max %s\n",
			mode, what, singles, ms(lat.pct(50)), ms(lat.pct(90)), ms(lat.pct(100)))
	}
	if burst > 0 {
		lat, all, err := w.burst(ctx, burst)
		if err != nil {
			return fmt.Errorf("a burst of warm claims: %w", err)
		}
		fmt.Fprintf(stdout, "a burst of %d creates at once against a full pool of %d: all running within %s (each: median %s, p90 %s)\n",
			burst, burst, ms(all), ms(lat.pct(50)), ms(lat.pct(90)))
	}
	return nil
}
