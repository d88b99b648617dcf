package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
	"github.com/arena-hq/arena/tenant"
)

// uiTimeout bounds each wait for the panel to show something. The panel
// refreshes sessions every 2 s; the rest reacts at once.
const uiTimeout = 30 * time.Second

// chromium returns the browser to drive: ARENA_CHROMIUM, or Debian's.
// Without one the test skips, unless ARENA_REQUIRE_BROWSER=1 (CI) makes it
// fail: a skipped test proves nothing.
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("ARENA_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("ARENA_REQUIRE_BROWSER") == "1" {
			t.Fatalf("no browser at %s (ARENA_REQUIRE_BROWSER=1): %v", path, err)
		}
		t.Skipf("no browser at %s; set ARENA_CHROMIUM: %v", path, err)
	}
	return path
}

// browser is one headless Chromium tab. Every step runs under a deadline;
// a failed step reports what the page showed and what the browser logged.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	console  []string // everything the page logged, for failure reports
	problems []string // uncaught exceptions, console errors, CSP violations
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1440, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	// The first action starts the browser, bound to ctx for its life: a
	// context with a deadline of its own would kill the browser when it
	// ends, so the deadline is kept here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Listen(ctx, b.record) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", chromium(t), err)
		}
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("the browser did not start within a minute")
	}
	return b
}

// record keeps what the page logs. It runs on the browser's reading
// goroutine: it only appends.
func (b *browser) record(ev any) {
	var line string
	problem := false
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		line = "uncaught: " + d.Text
		if d.Exception != nil {
			line += " " + d.Exception.Description
		}
		problem = true
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		problem = ev.Type == runtime.ConsoleAPICalledTypeError
	case *log.EventEntryAdded:
		e := ev.Entry
		line = fmt.Sprintf("%s %s: %s %s", e.Source, e.Level, e.Text, e.URL)
		// Failed requests are expected (a wrong token's 401, a missing scope's 403); a blocked
		// script or style is a bug of the panel.
		problem = e.Source == log.EntrySourceSecurity || strings.Contains(e.Text, "Content Security Policy")
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.console = append(b.console, line)
	if problem {
		b.problems = append(b.problems, line)
	}
}

// fail ends the test with what the page shows and what the browser logged.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	b.screenshot("failure")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Fatalf("%s: %v\n--- the page shows:\n%s\n--- the browser logged:\n%s", what, err, text, strings.Join(b.console, "\n"))
}

// do runs steps within uiTimeout.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// load runs nav (a navigation or reload) until ready is visible, within
// uiTimeout a try. A try that Chromium spoiled with ERR_NETWORK_CHANGED (it
// drops requests in flight when Docker adds or removes a container's
// interface, loopback's included) is tried again, at most three times; any
// other failure fails the test.
func (b *browser) load(what string, nav chromedp.Action[chromedp.Void], ready string) {
	b.t.Helper()
	for try := 1; ; try++ {
		before := b.networkChanges()
		ctx, cancel := context.WithTimeout(b.ctx, uiTimeout)
		err := chromedp.Do(ctx, nav, chromedp.WaitVisible(chromedp.CSS(ready)))
		cancel()
		if err == nil {
			return
		}
		if try == 3 || b.networkChanges() == before {
			b.fail(what, err)
		}
		b.t.Logf("%s: the browser saw the network change; trying again", what)
	}
}

// networkChanges counts the requests the browser dropped as the network
// changed under them.
func (b *browser) networkChanges() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, line := range b.console {
		if strings.Contains(line, "ERR_NETWORK_CHANGED") {
			n++
		}
	}
	return n
}

// waitFor polls a JavaScript expression until it is truthy, within uiTimeout.
func (b *browser) waitFor(what, expression string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expression,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(uiTimeout)))
	if err != nil {
		b.fail("waiting until "+what, err)
	}
}

// eval evaluates a JavaScript expression to a value of type T.
func eval[T any](b *browser, expression string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		b.fail("evaluating "+expression, err)
	}
	return v
}

// click clicks the element a CSS selector names, once it is visible.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.do("clicking "+selector, chromedp.WaitVisible(chromedp.CSS(selector)), chromedp.Click(chromedp.CSS(selector)))
}

// fill replaces the value of an input and tells the page it changed.
func (b *browser) fill(selector, value string) {
	b.t.Helper()
	b.do("filling "+selector, chromedp.WaitVisible(chromedp.CSS(selector)), chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(el => { el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); })(document.querySelector(%s))`,
		js(value), js(selector))))
}

// screenshot saves a PNG of the page into ARENA_PANEL_SCREENSHOTS, when set,
// for a person to look at the layout.
func (b *browser) screenshot(name string) {
	dir := os.Getenv("ARENA_PANEL_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 gives a PNG, less a JPEG
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// checkProblems fails the test if the page threw, logged an error or broke
// its Content-Security-Policy.
func (b *browser) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Errorf("the page reported problems:\n%s", strings.Join(b.problems, "\n"))
	}
}

// js quotes a string as a JavaScript string literal.
func js(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}

// TestPanel drives the admin panel in headless Chromium against a real
// `arena dev` on the Docker Engine: signing in, a live session with its
// addresses, its output followed live, stopping it, the nodes, the usage
// chart, and (where the server has the admin API) applications and tokens.
func TestPanel(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, 8)
	defer b.checkProblems()

	c := s.create(client.SessionRequest{ID: "panel-1", Labels: map[string]string{"match": "panel"}})
	s.waitStatus(c.ID, "running")
	tcp, udp := hostPort(c, arena.TCP), hostPort(c, arena.UDP)

	// A wrong token is refused with the server's message.
	b.load("opening the panel", chromedp.Navigate(s.URL+"/ui/"), `[data-testid=token-input]`)
	b.fill(`[data-testid=token-input]`, "not-a-token")
	b.click(`[data-testid=signin-submit]`)
	b.waitFor("a wrong token is refused", `(document.querySelector('#signin-error [data-testid=error]')?.textContent || '').includes('did not accept')`)
	if got := eval[bool](b, `sessionStorage.getItem('arena.token') === null`); !got {
		t.Error("a refused token was kept in sessionStorage")
	}

	b.fill(`[data-testid=token-input]`, testToken)
	b.click(`[data-testid=signin-submit]`)
	b.do("signing in", chromedp.WaitVisible(chromedp.CSS(`[data-testid=session-table]`)))
	b.waitFor("the header names the organisation", `document.querySelector('[data-testid=identity-org]').textContent === `+js(s.cfg.OrgID))

	// The session's row: status, both addresses, its label.
	row := `tr[data-session-id="panel-1"]`
	b.waitFor("the session is listed as running", fmt.Sprintf(
		`(r => r && r.querySelector('[data-testid=session-status]').textContent === 'running'
			&& r.querySelector('[data-testid=session-address]').textContent.includes(%s)
			&& r.querySelector('[data-testid=session-address]').textContent.includes(%s)
			&& r.textContent.includes('match=panel'))(document.querySelector(%s))`, js(tcp), js(udp), js(row)))
	b.screenshot("sessions")

	// The live log view: the output so far, then a line the game server
	// prints only after the view opened. It prints one per TCP connection,
	// and nothing connected over TCP before.
	b.click(row + ` [data-testid=logs-button]`)
	output := `document.querySelector('[data-testid=log-output]')`
	b.waitFor("the output so far is shown", output+`?.textContent.includes('echo server listening')`)
	b.waitFor("the stream is live", `document.querySelector('[data-testid=log-state]').textContent === 'live'`)
	connections := `(` + output + `.textContent.match(/tcp connection from/g) || []).length`
	if n := eval[int](b, connections); n != 0 {
		t.Fatalf("%d TCP connections logged before any was made", n)
	}
	if got := dockertest.AskTCP(t, tcp, "hello panel"); got != "hello panel" {
		t.Fatalf("TCP echo: %q", got)
	}
	b.waitFor("a line printed after the view opened appears", connections+` > 0`)
	b.screenshot("logs")
	b.click(`[data-testid=log-close]`)
	b.do("closing the log view", chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=log-dialog]`)))

	// Stop, confirmed in the page's own dialog.
	b.click(row + ` [data-testid=stop-button]`)
	b.click(`[data-testid=confirm] [data-testid=confirm-ok]`)
	b.waitFor("the stopped session leaves the list", `!document.querySelector(`+js(row)+`)`)
	s.waitStatus(c.ID, "exited")

	// The node, in its region, with its capacity.
	b.click(`[data-testid=nav-nodes]`)
	node := fmt.Sprintf(`tr[data-node-id=%s]`, js(s.Node.ID))
	b.waitFor("the node is listed as ready in its region", fmt.Sprintf(
		`(r => r && r.querySelector('[data-testid=node-state]').textContent === 'ready'
			&& r.closest('[data-testid=region]').dataset.region === 'europe'
			&& r.textContent.includes('4 CPU'))(document.querySelector(%s))`, js(node)))
	b.screenshot("nodes")

	// Usage: the stopped session was billed today, and this hour.
	b.click(`[data-testid=nav-usage]`)
	b.waitFor("the daily chart has a bar", `document.querySelectorAll('svg[data-testid=usage-chart] rect[data-testid=usage-bar]').length > 0
		&& document.querySelectorAll('svg[data-testid=usage-chart] [data-testid=usage-bucket]').length === 14`)
	b.waitFor("the totals name the application", `[...document.querySelectorAll('[data-testid=usage-line] td:first-child')].some(td => td.textContent === 'echo')`)
	b.waitFor("the cost names the report's currency", `document.querySelector('[data-testid=usage-cost-head]').textContent === 'Cost (EUR)'`)
	b.screenshot("usage")
	b.fill(`[data-testid=usage-range]`, "hours")
	b.waitFor("the hourly chart has a bar", `document.querySelectorAll('svg[data-testid=usage-chart] [data-testid=usage-bucket]').length === 24
		&& document.querySelectorAll('svg[data-testid=usage-chart] rect[data-testid=usage-bar]').length > 0`)

	panelAdmin(t, b, s)

	// Signing out forgets the token.
	b.click(`[data-testid=sign-out]`)
	b.do("signing out", chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin-screen]`)))
	if got := eval[bool](b, `sessionStorage.getItem('arena.token') === null`); !got {
		t.Error("the token outlived signing out")
	}
	panelLimitedToken(t, b, s)
}

// panelLimitedToken signs in with a token that may only read sessions: the
// nodes page explains what it lacks; revoked meanwhile, the panel signs out.
func panelLimitedToken(t *testing.T, b *browser, s *testStack) {
	created, err := s.api().Admin().CreateToken(t.Context(), s.cfg.OrgID, client.TokenRequest{Name: "read-only", Scopes: []string{"sessions:read"}})
	if err != nil {
		t.Fatalf("POST tokens: %v", err)
	}
	b.fill(`[data-testid=token-input]`, created.Secret)
	b.click(`[data-testid=signin-submit]`)
	// The panel opens where it was left: the page of another organisation.
	b.waitFor("signing in read-only", `document.querySelector('[data-testid=identity]').textContent.includes('read-only')`)
	b.click(`[data-testid=nav-nodes]`)
	b.waitFor("the nodes page names the missing scope", `(document.querySelector('[data-testid=forbidden]')?.textContent || '').includes('operator scope')`)
	b.click(`[data-testid=nav-sessions]`)
	b.do("the sessions page", chromedp.WaitVisible(chromedp.CSS(`[data-testid=session-table]`)))
	if err := s.api().Admin().RevokeToken(t.Context(), s.cfg.OrgID, created.Token.ID); err != nil {
		t.Fatalf("revoking: %v", err)
	}
	b.waitFor("the panel signs out of a revoked token", `!document.querySelector('[data-testid=signin-screen]').hidden
		&& document.querySelector('#signin-error').textContent.includes('no longer accepted')
		&& sessionStorage.getItem('arena.token') === null`)
}

// panelAdmin creates an application with two tags, then a token whose secret
// is shown once, and revokes it; adds and deletes a user; creates an
// organisation and switches the admin pages to it.
func panelAdmin(t *testing.T, b *browser, s *testStack) {
	org := s.cfg.OrgID

	// Applications: those of the config file are read-only.
	b.click(`[data-testid=nav-applications]`)
	b.waitFor("the config's application is listed read-only",
		`(r => r && r.textContent.includes('config') && !r.querySelector('[data-testid=delete-application]'))(document.querySelector('tr[data-app-name="echo"]'))`)
	b.click(`[data-testid=new-application]`)
	form := `[data-testid=application-dialog] `
	// A bad name, a limit below the reservation and a bad region come back
	// as violations, each shown at its field.
	b.fill(form+`[data-testid=app-name]`, "Bad Name")
	b.fill(form+`[data-testid=app-repository]`, "127.0.0.1:1/panel/game")
	b.fill(form+`[data-testid=app-limit-cpu]`, "100")
	b.fill(form+`[data-testid=app-limit-memory]`, "2048")
	b.fill(form+`[data-testid=app-regions]`, "europe Asia")
	b.click(form + `[data-testid=form-submit]`)
	b.waitFor("the violations are shown", `(t => ['name', 'limits', 'regions[1]'].every(f => t.includes(f)))(document.querySelector('[data-testid=application-dialog] [data-testid=form-error]')?.textContent || '')
		&& ['app-name', 'app-regions'].every(id => document.querySelector('[data-testid=application-dialog] [data-testid=' + id + ']').getAttribute('aria-invalid') === 'true')
		&& document.querySelector('[data-testid=application-dialog] fieldset[name=limits]').getAttribute('aria-invalid') === 'true'`)
	b.fill(form+`[data-testid=app-name]`, "panel-app")
	b.fill(form+`[data-testid=app-limit-cpu]`, "2000")
	b.fill(form+`[data-testid=app-regions]`, "europe, us-east")
	b.fill(form+`[data-testid=app-tagkeep]`, "3")
	b.fill(form+`[data-testid=app-nodepool]`, "metal")
	b.fill(form+`[data-testid=app-user]`, "65534:65534")
	b.click(form + `[data-testid=app-readonly]`)
	b.fill(form+`[data-testid=app-tmpfs]`, "/tmp\n/run/game")
	b.fill(form+`[data-testid=app-readiness-mode]`, "process")
	b.fill(form+`[data-testid=app-readiness-timeout]`, "30")
	// A warm pool in a region without nodes: it stays empty, as shown.
	b.click(form + `[data-testid=add-warmPools]`)
	b.fill(form+`[data-testid=warmPools-editor] .row-item:nth-child(1) [data-testid=pool-location]`, "us-east")
	b.fill(form+`[data-testid=warmPools-editor] .row-item:nth-child(1) [data-testid=pool-size]`, "2")
	b.fill(form+`[data-testid=warmPools-editor] .row-item:nth-child(1) [data-testid=pool-mode]`, "launch")
	// A second tag with a higher priority becomes the default.
	b.click(form + `[data-testid=add-tags]`)
	b.fill(form+`[data-testid=tags-editor] .row-item:nth-child(2) [data-testid=tag-name]`, "v2")
	b.fill(form+`[data-testid=tags-editor] .row-item:nth-child(2) [data-testid=tag-priority]`, "5")
	b.waitFor("the editor marks the new default", `!document.querySelector('[data-testid=tags-editor] .row-item:nth-child(2) [data-testid=tag-default]').hidden
		&& document.querySelector('[data-testid=tags-editor] .row-item:nth-child(1) [data-testid=tag-default]').hidden`)
	b.screenshot("application-form")
	b.click(form + `[data-testid=form-submit]`)
	b.do("the application dialog closes", chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=application-dialog]`)))
	row := `document.querySelector('tr[data-app-name="panel-app"]')`
	b.waitFor("the application is listed", `(`+row+`?.textContent || '').includes('v2 ★')`)
	b.screenshot("applications")
	shown := map[string]string{"app-limits": "limit 2000m · 2048 MiB", "app-tagkeep": " keeps 3", "app-nodepool": "pool metal", "app-pool": "us-east 0/2 ⤳"}
	for id, want := range shown {
		if got := eval[string](b, row+`.querySelector('[data-testid=`+id+`]')?.textContent || ''`); got != want {
			t.Errorf("the row shows %s as %q, want %q", id, got, want)
		}
	}
	if got := eval[string](b, `[...`+row+`.querySelectorAll('[data-testid=app-region]')].map(e => e.textContent).join(' ')`); got != "europe us-east" {
		t.Errorf("the row shows the regions as %q", got)
	}
	placement := []string{`"defaultTag":"v2"`, `"limits":{"milliCpu":2000,"memoryMb":2048}`, `"regions":["europe","us-east"]`, `"tagKeep":3`, `"nodePool":"metal"`,
		`"user":"65534:65534"`, `"readOnlyRootFilesystem":true`, `"tmpfs":["/tmp","/run/game"]`,
		`"readiness":{"mode":"process","timeoutSeconds":30,"runOnTimeout":false}`, `"warmPools":[{"location":"us-east","tag":"","size":2,"mode":"launch","ready":0,"warming":0,"nodes":[]}]`}
	checkStored := func(when string) {
		t.Helper()
		a, err := s.api().Admin().GetApplication(t.Context(), org, "panel-app")
		for _, want := range placement {
			if err != nil || !strings.Contains(string(a.Raw()), want) {
				t.Errorf("the application %s lacks %s: %v %s", when, want, err, a.Raw())
			}
		}
	}
	checkStored("created")
	// Saved again unchanged, the form sends back what it was given, so that
	// an edit in the panel keeps every setting.
	b.click(`tr[data-app-name="panel-app"] [data-testid=edit-application]`)
	b.waitFor("the form holds the settings", `(f => f.querySelector('[data-testid=app-limit-cpu]').value === '2000' && f.querySelector('[data-testid=app-limit-memory]').value === '2048'
		&& f.querySelector('[data-testid=app-regions]').value === 'europe us-east' && f.querySelector('[data-testid=app-tagkeep]').value === '3'
		&& f.querySelector('[data-testid=app-nodepool]').value === 'metal' && f.querySelector('[data-testid=app-user]').value === '65534:65534'
		&& f.querySelector('[data-testid=app-readonly]').checked && f.querySelector('[data-testid=app-tmpfs]').value === '/tmp\n/run/game')(document.querySelector('[data-testid=application-dialog]'))`)
	b.click(form + `[data-testid=form-submit]`)
	b.do("the application dialog closes", chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=application-dialog]`)))
	checkStored("saved unchanged")
	// Without tags it is listed as having none, and without limits as
	// capped at its reservation.
	if _, err := s.api().Admin().CreateApplication(t.Context(), org,
		json.RawMessage(`{"name":"untagged","repository":"127.0.0.1:1/panel/untagged","resources":{"milliCpu":100,"memoryMb":64}}`)); err != nil {
		t.Fatalf("an application without tags: %v", err)
	}
	b.load("reloading", chromedp.Reload(), `[data-testid=nav-applications]`)
	b.waitFor("the application without tags is listed as such", `(r => r && r.querySelector('[data-testid=no-tags]') && !r.querySelector('[data-testid=app-limits]')
		&& r.textContent.includes('any region'))(document.querySelector('tr[data-app-name="untagged"]'))`)
	if err := s.api().Admin().DeleteApplication(t.Context(), org, "untagged"); err != nil {
		t.Fatalf("deleting the application without tags: %v", err)
	}

	// Tokens: the secret is shown once, and nowhere after.
	b.click(`[data-testid=nav-tokens]`)
	b.do("the tokens page", chromedp.WaitVisible(chromedp.CSS(`[data-testid=token-table]`)))
	b.click(`[data-testid=new-token]`)
	b.fill(`[data-testid=token-dialog] [data-testid=token-name]`, "panel-token")
	b.click(`[data-testid=token-dialog] [data-testid=form-submit]`)
	b.do("the secret is shown", chromedp.WaitVisible(chromedp.CSS(`[data-testid=token-secret]`)))
	secret := eval[string](b, `document.querySelector('[data-testid=token-secret]').value`)
	if !strings.HasPrefix(secret, "arena_") {
		t.Fatalf("secret %q", secret)
	}
	if _, err := s.api(secret).Sessions().List(t.Context(), client.ListOptions{}); err != nil {
		t.Fatalf("GET /session with the new token: %v", err)
	}
	b.screenshot("token-secret")
	secretGone := fmt.Sprintf(`!document.documentElement.outerHTML.includes(%[1]s)
		&& ![...document.querySelectorAll('input, textarea')].some(el => el.value.includes(%[1]s))
		&& !JSON.stringify({...sessionStorage}).includes(%[1]s) && !JSON.stringify({...localStorage}).includes(%[1]s)`, js(secret))
	b.click(`[data-testid=secret-done]`)
	b.do("the token dialog closes", chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=token-dialog]`)))
	tokenRow := `tr[data-token-name="panel-token"]`
	b.waitFor("the token is listed as active", `document.querySelector(`+js(tokenRow+` [data-testid=token-state]`)+`)?.textContent === 'active'`)
	if !eval[bool](b, secretGone) {
		t.Error("the secret is still in the page after its dialog closed")
	}
	b.load("reloading", chromedp.Reload(), tokenRow)
	if !eval[bool](b, secretGone) {
		t.Error("the secret is in the page after a reload")
	}

	b.click(tokenRow + ` [data-testid=revoke-token]`)
	b.click(`[data-testid=confirm] [data-testid=confirm-ok]`)
	b.waitFor("the token is listed as revoked", `document.querySelector(`+js(tokenRow+` [data-testid=token-state]`)+`)?.textContent === 'revoked'`)
	if _, err := s.api(secret).Sessions().List(t.Context(), client.ListOptions{}); arena.ErrorCode(err) != arena.EUNAUTHORIZED {
		t.Errorf("GET /session with the revoked token: %v, want %s", err, arena.EUNAUTHORIZED)
	}

	// Users: added, then deleted.
	b.click(`[data-testid=nav-users]`)
	b.click(`[data-testid=new-user]`)
	b.fill(`[data-testid=user-dialog] [data-testid=user-email]`, "ada@example.com")
	b.fill(`[data-testid=user-dialog] [data-testid=user-name]`, "Ada")
	b.click(`[data-testid=user-dialog] [data-testid=form-submit]`)
	ada := `[...document.querySelectorAll('[data-testid=user-row]')].find(r => r.textContent.includes('ada@example.com'))`
	b.waitFor("the user is listed", ada)
	b.screenshot("users")
	adaID := eval[string](b, ada+`.dataset.userId`)
	b.click(fmt.Sprintf(`tr[data-user-id=%s] [data-testid=delete-user]`, js(adaID)))
	b.click(`[data-testid=confirm] [data-testid=confirm-ok]`)
	b.waitFor("the user is gone", `!`+ada)

	// Webhooks: one for the stopped event shows its secret once, is listed
	// with its event, then deleted.
	b.click(`[data-testid=nav-webhooks]`)
	b.click(`[data-testid=new-webhook]`)
	b.fill(`[data-testid=webhook-dialog] [data-testid=webhook-url]`, "https://matchmaker.example/arena-events")
	b.click(`[data-testid=webhook-dialog] [data-testid="event-session.stopped"]`)
	b.click(`[data-testid=webhook-dialog] [data-testid=form-submit]`)
	b.waitFor("the secret is shown", `document.querySelector('[data-testid=webhook-secret]')?.value.startsWith('whsec_')`)
	hookSecret := eval[string](b, `document.querySelector('[data-testid=webhook-secret]').value`)
	b.click(`[data-testid=webhook-created] [data-testid=secret-done]`)
	hookRow := `document.querySelector('[data-testid=webhook-row]')`
	b.waitFor("the webhook is listed", hookRow+`?.textContent.includes('matchmaker.example')`)
	if got := eval[string](b, hookRow+`.querySelector('[data-testid=webhook-events]').textContent`); got != "session.stopped" {
		t.Errorf("the webhook's events are listed as %q", got)
	}
	b.screenshot("webhooks")
	hooks, err := s.api().Admin().ListWebhooks(t.Context(), org)
	if body := string(hooks.Raw()); err != nil || !strings.Contains(body, `"events":["session.stopped"]`) || strings.Contains(body, hookSecret) {
		t.Errorf("the webhook through the API: %v %s", err, body)
	}
	b.click(`[data-testid=webhook-row] [data-testid=delete-webhook]`)
	b.click(`[data-testid=confirm] [data-testid=confirm-ok]`)
	b.waitFor("the webhook is gone", `!`+hookRow)

	// Organisations: an operator creates one and manages it.
	b.click(`[data-testid=nav-orgs]`)
	b.waitFor("the token's organisation is listed", `document.querySelector(`+js(fmt.Sprintf(`tr[data-org-id=%s]`, js(org)))+`)`)
	panelQuota(t, b, s)
	b.click(`[data-testid=new-org]`)
	b.fill(`[data-testid=org-dialog] [data-testid=org-id]`, "panel-org")
	b.fill(`[data-testid=org-dialog] [data-testid=org-name]`, "Panel Org")
	b.click(`[data-testid=org-dialog] [data-testid=form-submit]`)
	b.waitFor("the new organisation is listed", `document.querySelector('tr[data-org-id="panel-org"]')?.textContent.includes('sandbox')`)
	b.screenshot("orgs")
	b.click(`tr[data-org-id="panel-org"] [data-testid=manage-org]`)
	b.waitFor("the admin pages manage it", `document.querySelector('[data-testid=current-org]')?.textContent === 'organisation panel-org'
		&& !!document.querySelector('[data-testid=applications] .empty')`)
}

// panelQuota sets the quota of the token's organisation on the
// Organisations page: a bad bound comes back as a violation at its field,
// a good one is listed with what the sessions hold of it, and a quota of
// the config file is shown as such, with nothing to edit.
func panelQuota(t *testing.T, b *browser, s *testStack) {
	org := s.cfg.OrgID
	row := fmt.Sprintf(`tr[data-org-id=%s]`, js(org))
	cell := func(testid string) string {
		return `document.querySelector(` + js(row+` [data-testid=`+testid+`]`) + `)?.textContent`
	}
	b.waitFor("the organisation has no quota", cell("org-sessions")+` === '0 / no quota' && `+cell("org-cpu")+` === '0 / no quota'`)
	b.click(row + ` [data-testid=edit-quota]`)
	form := `[data-testid=quota-dialog] `
	b.fill(form+`[data-testid=quota-sessions]`, "-1")
	b.click(form + `[data-testid=form-submit]`)
	b.waitFor("the violation is shown at its field", `(document.querySelector('[data-testid=quota-dialog] [data-testid=form-error]')?.textContent || '').includes('maxSessions')
		&& document.querySelector('[data-testid=quota-dialog] [data-testid=quota-sessions]').getAttribute('aria-invalid') === 'true'`)
	b.fill(form+`[data-testid=quota-sessions]`, "2")
	b.fill(form+`[data-testid=quota-cpu]`, "0.5")
	b.click(form + `[data-testid=form-submit]`)
	b.do("the quota dialog closes", chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=quota-dialog]`)))
	b.waitFor("the quota is listed", cell("org-sessions")+` === '0 / 2' && `+cell("org-cpu")+` === '0 / 0.5'`)
	o, err := s.api().Admin().GetOrg(t.Context(), org)
	if err != nil || !strings.Contains(string(o.Raw()), `"quota":{"maxSessions":2,"maxMilliCpu":500,"source":"api"}`) {
		t.Fatalf("the quota through the API: %v %s", err, o.Raw())
	}

	// A session counts at once; the page shows it when it loads again.
	c := s.create(client.SessionRequest{})
	b.click(`[data-testid=nav-sessions]`)
	b.click(`[data-testid=nav-orgs]`)
	b.waitFor("the session counts against the quota", cell("org-sessions")+` === '1 / 2' && `+cell("org-cpu")+` === '0.1 / 0.5'`)
	b.screenshot("org-quota")

	// The config file's quota is shown as the file's, and not offered for editing.
	if err := s.tenants().SyncQuotas(context.Background(), map[string]arena.Quota{"panel-config": {MaxSessions: 7}}); err != nil {
		t.Fatal(err)
	}
	b.click(`[data-testid=nav-sessions]`)
	b.click(`[data-testid=nav-orgs]`)
	config := `tr[data-org-id="panel-config"]`
	b.waitFor("the config file's quota is marked", `(r => r && r.querySelector('[data-testid=org-sessions]').textContent === '0 / 7'
		&& r.querySelector('[data-testid=quota-config]') && !r.querySelector('[data-testid=edit-quota]'))(document.querySelector(`+js(config)+`))`)

	// Cleared, the quota bounds nothing again.
	b.click(row + ` [data-testid=edit-quota]`)
	b.fill(form+`[data-testid=quota-sessions]`, "")
	b.fill(form+`[data-testid=quota-cpu]`, "")
	b.click(form + `[data-testid=form-submit]`)
	b.waitFor("the quota is cleared", cell("org-sessions")+` === '1 / no quota'`)
	if err := s.api().Sessions().Stop(t.Context(), c.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	s.waitStatus(c.ID, "exited")
}

// tenants returns the tenants of the control plane while this process
// leads, else nil.
func (st *stack) tenants() *tenant.Service {
	st.srvMu.Lock()
	defer st.srvMu.Unlock()
	if st.cp == nil {
		return nil
	}
	return st.cp.tenants
}
