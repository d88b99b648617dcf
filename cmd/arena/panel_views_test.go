package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/client"
	"github.com/arena-hq/arena/docker/dockertest"
)

// Ids and labels of the sessions TestPanelViews looks at.
const (
	// longID is as long as a matchmaker's ids get, far wider than its column.
	longID = "tournament-final-2026-europe-west-match-000123456789-abcdef"
	// spoof reads "abcexe.jpg" when its RIGHT-TO-LEFT OVERRIDE takes effect.
	spoof       = "abc\u202egpj.exe"
	spoofPlayer = "bob\u2066x\u2069\u200f"
	secretValue = "hunter2-not-for-the-panel"
)

// bidiControls matches, in a page's JavaScript, the characters the panel
// must never show as themselves.
const bidiControls = `/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/`

// TestPanelViews drives the panel in headless Chromium against `arena dev`
// on the Docker Engine: actions within a laptop's screen, the status filter
// over live and stopped sessions, ids on one line in a narrow window,
// bidirectional controls shown escaped, a session's own view with its
// kept output, and each tag's pull state.
func TestPanelViews(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, 16)
	defer b.checkProblems()

	detail := s.create(client.SessionRequest{
		ID: "detail-1", Restart: true,
		Env:    map[string]string{"API_KEY": secretValue, "MAP": "dust"},
		Labels: map[string]string{"mode": "duel", "spoof": spoof},
	})
	s.waitStatus(detail.ID, "running")
	sessions := s.api().Sessions()
	if _, err := sessions.Join(t.Context(), detail.ID, []string{"alice", spoofPlayer}); err != nil {
		t.Fatalf("join: %v", err)
	}
	// One crash and restart, for the view to show.
	dockertest.AskTCP(t, hostPort(detail, arena.TCP), "EXIT 3")
	dockertest.Eventually(t, dockertest.Timeout, func() error {
		if sess := s.session(detail.ID); sess.Restarts != 1 || sess.State != arena.SessionRunning {
			return fmt.Errorf("state %s restarts %d", sess.State, sess.Restarts)
		}
		return nil
	})
	s.waitStatus(s.create(client.SessionRequest{ID: longID}).ID, "running")
	stopped := s.create(client.SessionRequest{ID: "stopped-1"})
	s.waitStatus(stopped.ID, "running")
	if err := sessions.Stop(t.Context(), stopped.ID); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	s.waitStatus(stopped.ID, "exited")
	// The API itself never sends the environment's values.
	if d, err := sessions.Get(t.Context(), detail.ID, client.GetOptions{}); err != nil || strings.Contains(string(d.Raw()), secretValue) || !strings.Contains(string(d.Raw()), `"API_KEY"`) {
		t.Fatalf("GET /session/{id} shows the environment as %v %s", err, d.Raw())
	}

	b.do("sizing the window", chromedp.EmulateViewport(1440, 900))
	b.load("opening the panel", chromedp.Navigate(s.URL+"/ui/"), `[data-testid=token-input]`)
	b.fill(`[data-testid=token-input]`, testToken)
	b.click(`[data-testid=signin-submit]`)
	b.do("signing in", chromedp.WaitVisible(chromedp.CSS(`[data-testid=session-table]`)))
	rowsShown := `[...document.querySelectorAll('[data-testid=session-row]')].map(r => r.dataset.sessionId).sort().join(' ')`
	waitRows := func(what, want string) {
		t.Helper()
		b.waitFor(what+" lists "+want, rowsShown+` === `+js(want))
	}

	t.Run("actions lie within a 1440x900 window", func(t *testing.T) {
		for _, page := range []struct{ nav, button string }{
			{"nav-nodes", "drain-button"},
			{"nav-sessions", "stop-button"},
			{"nav-applications", "edit-application"},
		} {
			b.click(`[data-testid=` + page.nav + `]`)
			b.do("waiting for "+page.button, chromedp.WaitVisible(chromedp.CSS(`[data-testid=`+page.button+`]`)))
			b.screenshot("wide-" + page.nav)
			for _, problem := range eval[[]string](b, `[...document.querySelectorAll('[data-testid=`+page.button+`]')].map(`+unclipped+`).filter(Boolean)`) {
				t.Errorf("%s: %s", page.nav, problem)
			}
		}
		// The drain button works where it is.
		b.click(`[data-testid=nav-nodes]`)
		b.click(`[data-testid=drain-button]`)
		b.waitFor("the node drains", `document.querySelector('[data-testid=drain-button]').textContent === 'Undrain'
			&& document.querySelector('[data-testid=node-state]').textContent === 'draining'`)
		b.click(`[data-testid=drain-button]`)
		b.waitFor("the node takes sessions again", `document.querySelector('[data-testid=node-state]').textContent === 'ready'`)
	})

	t.Run("the status filter shows live, running, stopped or all sessions", func(t *testing.T) {
		b.click(`[data-testid=nav-sessions]`)
		waitRows("the default filter", "detail-1 "+longID)
		tests := []struct{ filter, want string }{
			{"stopped", "stopped-1"},
			{"all", "detail-1 stopped-1 " + longID},
			{"running", "detail-1 " + longID},
			{"live", "detail-1 " + longID},
		}
		for _, tt := range tests {
			b.fill(`[data-testid=status-filter]`, tt.filter)
			waitRows("the "+tt.filter+" filter", tt.want)
		}
		// The filter is kept in the address: a reload shows the same.
		b.fill(`[data-testid=status-filter]`, "stopped")
		waitRows("the stopped filter", "stopped-1")
		if got := eval[string](b, `location.hash`); got != "#/sessions?status=stopped" {
			t.Errorf("the address says %q", got)
		}
		b.load("reloading", chromedp.Reload(), `[data-testid=session-table]`)
		waitRows("the reloaded stopped filter", "stopped-1")
		b.waitFor("the stopped session is shown as exited", `document.querySelector('tr[data-session-id="stopped-1"] [data-testid=session-status]').textContent === 'exited'
			&& document.querySelector('tr[data-session-id="stopped-1"] [data-testid=stop-button]').disabled
			&& document.querySelector('[data-testid=status-filter]').value === 'stopped'`)
		b.screenshot("sessions-stopped")
		b.fill(`[data-testid=status-filter]`, "live")
		waitRows("the live filter", "detail-1 "+longID)
	})

	t.Run("ids are one line in a narrow window", func(t *testing.T) {
		b.do("narrowing the window", chromedp.EmulateViewport(800, 900))
		defer b.do("widening the window", chromedp.EmulateViewport(1440, 900))
		b.waitFor("the window is narrow", `window.innerWidth === 800`)
		b.screenshot("sessions-narrow")
		type idCell struct {
			ID, Title string
			Lines     int
			Cut       bool
		}
		cells := eval[[]idCell](b, `[...document.querySelectorAll('[data-testid=session-link]')].map(a => {
			const range = document.createRange();
			range.selectNodeContents(a);
			return {id: a.closest('tr').dataset.sessionId, title: a.title,
				lines: new Set([...range.getClientRects()].map(r => Math.round(r.top))).size,
				cut: a.scrollWidth > a.clientWidth};
		})`)
		if len(cells) != 2 {
			t.Fatalf("id cells %+v", cells)
		}
		for _, c := range cells {
			if c.Lines != 1 || c.Title != c.ID {
				t.Errorf("the id %s takes %d lines, with the tooltip %q", c.ID, c.Lines, c.Title)
			}
			if c.Cut != (c.ID == longID) {
				t.Errorf("the id %s is cut: %v", c.ID, c.Cut)
			}
		}
	})

	t.Run("bidirectional controls are shown escaped", func(t *testing.T) {
		labels := `document.querySelector('tr[data-session-id="detail-1"] [data-testid=session-labels]')`
		b.waitFor("the label is shown escaped", `(`+labels+`?.textContent || '').includes('spoof=abc\\u202Egpj.exe')
			&& `+labels+`.querySelector('.bidi-escape')?.textContent === '\\u202E'`)
		if raw := eval[string](b, noRawBidi); raw != "" {
			t.Errorf("the sessions page shows a raw bidirectional control: %s", raw)
		}
	})

	t.Run("a session's own view", func(t *testing.T) {
		b.click(`tr[data-session-id="detail-1"] [data-testid=session-link]`)
		b.waitFor("the view is the session's", `location.hash === '#/sessions/detail-1'
			&& document.querySelector('[data-testid=session-detail]')?.dataset.sessionId === 'detail-1'`)
		view := `document.querySelector('[data-testid=session-detail]')`
		text := func(testid string) string {
			return `(` + view + `.querySelector('[data-testid=` + testid + `]')?.textContent || '')`
		}
		b.waitFor("the view shows the running session", text("detail-restarts")+` === '1' && `+text("detail-exit-code")+` === '3'
			&& document.querySelector('[data-testid=detail-status]').textContent === 'running'
			&& `+text("detail-stop-reason")+` === '—'`)
		envKeys := eval[[]string](b, `[...`+view+`.querySelectorAll('[data-testid=detail-env-key]')].map(e => e.textContent)`)
		for _, want := range []string{"API_KEY", "MAP", "FROM_APP", arena.EnvSessionID} {
			if !strings.Contains(strings.Join(envKeys, " "), want) {
				t.Errorf("the environment's names %v lack %s", envKeys, want)
			}
		}
		if eval[bool](b, `document.documentElement.outerHTML.includes(`+js(secretValue)+`)`) {
			t.Error("the view holds an environment value")
		}
		b.waitFor("ports, labels and players", text("detail-ports")+`.includes(`+js(hostPort(detail, arena.TCP))+`) && `+text("detail-ports")+`.includes('7777/udp')
			&& `+text("detail-labels")+`.includes('mode=duel')
			&& [...`+view+`.querySelectorAll('[data-testid=detail-player]')].map(p => p.textContent).join(' ') === 'alice bob\\u2066x\\u2069\\u200F'`)
		if raw := eval[string](b, noRawBidi); raw != "" {
			t.Errorf("the session's view shows a raw bidirectional control: %s", raw)
		}
		events := `[...` + view + `.querySelectorAll('[data-testid=event]')].map(e => e.dataset.event).join(' ')`
		b.waitFor("the events so far", events+` === 'created running'`)
		// Both runs' output, the first one's crash included, followed live.
		output := `(document.querySelector('[data-testid=log-output]')?.textContent || '')`
		b.waitFor("the output of both runs", `(`+output+`.match(/echo server listening/g) || []).length === 2 && `+output+`.includes('EXIT 3')
			&& document.querySelector('[data-testid=log-state]').textContent === 'live'`)
		b.screenshot("session-detail")

		// Stopped from its view: the events, the reason, the exit code, and
		// the output to its end.
		b.click(`[data-testid=stop-button]`)
		b.click(`[data-testid=confirm] [data-testid=confirm-ok]`)
		b.waitFor("the view shows the session stopped", `document.querySelector('[data-testid=detail-status]').textContent === 'exited'
			&& `+events+` === 'created running stopping stopped'
			&& `+text("detail-stop-reason")+`.startsWith('deleted') && `+text("detail-exit-code")+` === '0'`)
		b.waitFor("the output ends with the session", `document.querySelector('[data-testid=log-state]').textContent === 'ended' && `+output+`.includes('terminated')`)
		// Opened again once its container is gone: the output its node kept.
		dockertest.Eventually(t, dockertest.Timeout, func() error {
			for _, c := range s.containers() {
				if c.SessionID == arena.SessionKey(s.cfg.OrgID, detail.ID) {
					return fmt.Errorf("container %s is still there", c.ID)
				}
			}
			return nil
		})
		b.load("reloading", chromedp.Reload(), `[data-testid=session-detail]`)
		b.waitFor("the kept output", `document.querySelector('[data-testid=log-state]')?.textContent === 'ended'
			&& (`+output+`.match(/echo server listening/g) || []).length === 2 && `+output+`.includes('terminated')`)
		b.screenshot("session-detail-stopped")

		eval[string](b, `location.hash = '#/sessions/nope'`)
		b.waitFor("the view says so", `document.querySelector('[data-testid=session-missing]')`)
		b.click(`[data-testid=back-to-sessions]`)
		b.do("back to the list", chromedp.WaitVisible(chromedp.CSS(`[data-testid=session-table]`)))
	})

	t.Run("each tag's pull state", func(t *testing.T) {
		org := s.cfg.OrgID
		// Nothing listens there: every pull fails, and says why.
		admin := s.api().Admin()
		if _, err := admin.CreateApplication(t.Context(), org,
			json.RawMessage(`{"name":"unpullable","repository":"127.0.0.1:1/panel/unpullable","tags":[{"name":"v1","priority":1}],"resources":{"milliCpu":100,"memoryMb":64}}`)); err != nil {
			t.Fatalf("creating an application: %v", err)
		}
		defer func() {
			if err := admin.DeleteApplication(t.Context(), org, "unpullable"); err != nil {
				t.Errorf("deleting the application: %v", err)
			}
		}()
		b.click(`[data-testid=nav-applications]`)
		pull := func(app string) string {
			return `document.querySelector('tr[data-app-name="` + app + `"] [data-testid=tag-pull]')`
		}
		b.waitFor("the image on the node is present", pull("echo")+`?.dataset.status === 'present' && `+pull("echo")+`.textContent === 'on 1 of 1'`)
		b.waitFor("the pull that cannot succeed failed", pull("unpullable")+`?.dataset.status === 'failed'
			&& `+pull("unpullable")+`.textContent === 'pull failed' && `+pull("unpullable")+`.title.includes('127.0.0.1:1')`)
		b.screenshot("applications-pull")
	})
}

// unclipped is a JavaScript function that returns why an element is not
// wholly in view (outside the window, cut off by a scrolling or clipping
// ancestor, or covered by another element), or "" when it is.
const unclipped = `((el) => {
	const r = el.getBoundingClientRect();
	const name = el.dataset.testid + ' of ' + (el.closest('tr')?.dataset.nodeId || el.closest('tr')?.dataset.sessionId || el.closest('tr')?.dataset.appName || '?');
	if (!r.width || !r.height) return name + ' is not rendered';
	if (r.left < 0 || r.top < 0 || r.right > document.documentElement.clientWidth || r.bottom > document.documentElement.clientHeight)
		return name + ' lies outside the window: ' + JSON.stringify(r);
	for (let a = el.parentElement; a; a = a.parentElement) {
		const cs = getComputedStyle(a);
		if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
		const c = a.getBoundingClientRect();
		if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5)
			return name + ' is cut off by ' + a.tagName.toLowerCase() + '.' + a.className + ': ' + JSON.stringify(r) + ' in ' + JSON.stringify(c);
	}
	const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
	if (!el.contains(hit)) return name + ' is covered by ' + (hit ? hit.outerHTML.slice(0, 80) : 'nothing');
	return '';
})`

// noRawBidi is an expression that names where the page shows a
// bidirectional control as itself, in its text or its tooltips, or is "".
const noRawBidi = `(() => {
	const re = ` + bidiControls + `;
	const text = document.body.textContent;
	if (re.test(text)) return 'in the text: ' + JSON.stringify(text.match(new RegExp('.{0,20}' + re.source + '.{0,20}'))[0]);
	const titled = [...document.querySelectorAll('[title]')].find(e => re.test(e.title));
	return titled ? 'in a tooltip: ' + JSON.stringify(titled.title) : '';
})()`
