// Sessions: the token organisation's sessions from GET /session, live ones
// by default (refreshed every two seconds) or, with the status filter,
// running, stopped or all of them (GET /session?all=true, refreshed less
// often: the list of stopped ones grows with every match). Each row leads to
// the session's own view (#/sessions/{id}) and has a log view and a stop
// button.

import { ApiError, accessMessage, del, errorBox, get, path } from './api.js';
import { ago, confirmDialog, every, formatTime, h, replace, setText } from './dom.js';
import { logPane, openLogs } from './logs.js';

export const title = 'Sessions';

const LIVE_REFRESH_MS = 2000;
const HISTORY_REFRESH_MS = 10000;
// A history of many matches is shown from its newest end.
const MAX_ROWS = 500;

const STOPPED = ['exited', 'dead'];

// FILTERS are the status filter's choices: what each asks the API for and
// which of the answered sessions it shows.
const FILTERS = {
  live: { label: 'Live', all: false, keep: () => true, empty: 'No live sessions.' },
  running: { label: 'Running', all: false, keep: (s) => s.status === 'running', empty: 'No running sessions.' },
  stopped: { label: 'Stopped', all: true, keep: (s) => STOPPED.includes(s.status), empty: 'No stopped sessions.' },
  all: { label: 'All', all: true, keep: () => true, empty: 'No sessions yet.' },
};

export function mount(root, ctx, where) {
  if (where && where.segments.length) return mountSession(root, where.segments[0]);
  return mountList(root, where ? where.query : new URLSearchParams());
}

// sessionHref is the panel's address of a session's view.
export function sessionHref(id) {
  return `#/sessions/${encodeURIComponent(id)}`;
}

function mountList(root, query) {
  let status = FILTERS[query.get('status')] ? query.get('status') : 'live';
  const statusSelect = h('select', { 'data-testid': 'status-filter', 'aria-label': 'Sessions to show' },
    Object.entries(FILTERS).map(([value, f]) => h('option', { value, selected: value === status }, f.label)));
  const filter = h('input', { type: 'search', placeholder: 'Filter by id, application, location, label…', 'data-testid': 'session-filter', class: 'filter' });
  const updated = h('span', { class: 'muted small', 'data-testid': 'sessions-updated' });
  const errorSlot = h('div');
  // Errors of a stop stay until the next one; refresh errors clear themselves.
  const actionSlot = h('div');
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', 'data-testid': 'sessions-empty', hidden: true });
  const capped = h('p', { class: 'muted small', 'data-testid': 'sessions-capped', hidden: true });
  const table = h('table', { class: 'data', 'data-testid': 'session-table' },
    h('thead', null, h('tr', null,
      h('th', null, 'Session'), h('th', null, 'Application'), h('th', null, 'Location'),
      h('th', null, 'Address'), h('th', null, 'Status'), h('th', { class: 'num' }, 'Players'),
      h('th', null, 'Labels'), h('th', null, 'Created'), h('th', null, ''))),
    tbody);
  replace(root,
    h('div', { class: 'view-head' }, h('h2', null, 'Sessions'), statusSelect, filter, updated),
    errorSlot,
    actionSlot,
    h('div', { class: 'table-wrap' }, table),
    capped,
    empty);

  // Rows are kept by session id and updated in place, so that a refresh
  // never moves a button from under the pointer or drops a focus.
  const rows = new Map();
  let last = [];

  const render = () => {
    const f = FILTERS[status];
    const q = filter.value.trim().toLowerCase();
    let shown = last.filter((s) => f.keep(s) && (!q || searchable(s).includes(q)));
    const total = shown.length;
    if (f.all) {
      // The history: newest first, and only its newest end.
      shown = shown.reverse().slice(0, MAX_ROWS);
    }
    const ids = new Set(shown.map((s) => s.id));
    for (const [id, row] of rows) {
      if (!ids.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
    shown.forEach((s, i) => {
      let row = rows.get(s.id);
      if (!row) {
        row = newRow(s.id, { refresh, showError: (err) => replace(actionSlot, errorBox(err)) });
        rows.set(s.id, row);
      }
      updateRow(row, s);
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
    });
    capped.hidden = total <= shown.length;
    setText(capped, `Showing the newest ${shown.length} of ${total} sessions.`);
    empty.hidden = shown.length > 0;
    setText(empty, !shown.length && q && last.some(f.keep) ? 'No session matches the filter.' : f.empty);
  };

  let generation = 0;
  const refresh = async () => {
    const asked = ++generation;
    try {
      const body = await get(FILTERS[status].all ? '/session?all=true' : '/session');
      if (asked !== generation) return; // the filter changed meanwhile
      last = body.sessions || [];
      replace(errorSlot);
      setText(updated, `updated ${new Date().toLocaleTimeString()}`);
      render();
    } catch (err) {
      replace(errorSlot, err instanceof ApiError && err.status === 403
        ? accessMessage(err, 'sessions', 'sessions:read')
        : errorBox(err));
    }
  };

  let stopRefresh = () => {};
  const start = () => {
    stopRefresh();
    stopRefresh = every(FILTERS[status].all ? HISTORY_REFRESH_MS : LIVE_REFRESH_MS, refresh);
  };
  statusSelect.addEventListener('change', () => {
    status = statusSelect.value;
    // Kept in the address, so that a reload or a link shows the same; no
    // new history entry, and no remount.
    history.replaceState(null, '', status === 'live' ? '#/sessions' : `#/sessions?status=${status}`);
    last = [];
    render();
    start();
  });
  filter.addEventListener('input', render);
  start();
  return () => stopRefresh();
}

function searchable(s) {
  return [s.id, s.image, s.tag, s.location, s.host, s.status, s.external_id,
    ...Object.entries(s.labels || {}).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase();
}

// idLink shows a session id on one line, cut with an ellipsis when the
// column is narrow, the whole of it in its tooltip; it leads to the
// session's view.
function idLink(id) {
  return h('a', { class: 'id-link mono small', href: sessionHref(id), title: id, 'data-testid': 'session-link' }, id);
}

function newRow(id, { refresh, showError }) {
  const cells = {
    id: h('td', { class: 'id-cell', 'data-testid': 'session-id' }, idLink(id)),
    app: h('td'),
    location: h('td'),
    address: h('td', { class: 'mono small nowrap', 'data-testid': 'session-address' }),
    status: h('span', { class: 'badge', 'data-testid': 'session-status' }),
    players: h('td', { class: 'num', 'data-testid': 'session-players' }),
    labels: h('td', { class: 'labels', 'data-testid': 'session-labels' }),
    created: h('td', { class: 'nowrap' }),
  };
  const logs = h('button', { type: 'button', 'data-testid': 'logs-button', onclick: () => openLogs(id) }, 'Logs');
  const stop = stopButton(id, { refresh, showError });
  const tr = h('tr', { 'data-testid': 'session-row', 'data-session-id': id },
    cells.id, cells.app, cells.location, cells.address, h('td', null, cells.status), cells.players,
    cells.labels, cells.created, h('td', { class: 'row-actions' }, logs, stop));
  return { tr, cells, stop, key: '' };
}

// stopButton stops a session, once the user confirms it in the page.
function stopButton(id, { refresh, showError }) {
  const stop = h('button', { type: 'button', class: 'danger', 'data-testid': 'stop-button' }, 'Stop');
  stop.addEventListener('click', async () => {
    if (!(await confirmDialog(`Stop session ${id}? Its game server gets SIGTERM, then SIGKILL after the application's grace period. Players are disconnected.`, { ok: 'Stop session' }))) return;
    stop.disabled = true;
    setText(stop, 'Stopping…');
    try {
      await del(path('/session', id));
    } catch (err) {
      // 409: it stopped meanwhile, which is what was asked for.
      if (!(err instanceof ApiError && err.status === 409)) {
        stop.disabled = false;
        setText(stop, 'Stop');
        showError(err);
        return;
      }
    }
    refresh();
  });
  return stop;
}

// ended tells a session on its way out, which cannot be stopped again.
function ended(status) {
  return ['exited', 'dead', 'shuttingdown'].includes(status);
}

function updateRow(row, s) {
  // Only what changed is touched: most refreshes change nothing.
  const key = JSON.stringify([s.image, s.tag, s.location, s.host, s.port, s.status, s.playerCount, s.labels, s.created]);
  setText(row.cells.created, ago(s.created));
  row.cells.created.title = formatTime(s.created);
  if (key === row.key) return;
  row.key = key;
  setText(row.cells.app, s.tag ? `${s.image}:${s.tag}` : s.image);
  setText(row.cells.location, s.location);
  replace(row.cells.address, addresses(s));
  setStatus(row.cells.status, s.status);
  setText(row.cells.players, s.playerCount ?? (s.players ? s.players.joinedCount : 0));
  replace(row.cells.labels, labelChips(s.labels));
  if (ended(s.status)) row.stop.disabled = true;
}

function setStatus(el, status) {
  setText(el, status.replace('_', ' '));
  el.className = `badge status-${status}`;
}

function labelChips(labels) {
  return Object.entries(labels || {}).map(([k, v]) => h('span', { class: 'chip', 'data-testid': 'label' }, `${k}=${v}`));
}

function addresses(s) {
  return Object.entries(s.port || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([container, host]) => h('div', { title: `container port ${container}` },
      `${hostPort(s.host, host)}`, h('span', { class: 'muted' }, ` → ${container}`)));
}

function hostPort(host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// STOP_REASONS explain the API's stopReason.
const STOP_REASONS = {
  deleted: 'stopped through the API (DELETE)',
  ttl: 'its ttl ran out',
  exited: 'the process exited',
  crashloop: 'gave up on a crash loop',
  failed: 'the container could not start',
  lost: 'the container disappeared from its node',
};

// mountSession is one session's view: what GET /session/{id}?all=true says
// of it (refreshed until it has stopped) and its output. The environment is
// shown by name alone: the API never sends its values.
function mountSession(root, id) {
  const statusBadge = h('span', { class: 'badge', 'data-testid': 'detail-status' });
  const errorSlot = h('div');
  const actionSlot = h('div');
  const body = h('div', { class: 'detail', 'data-testid': 'session-detail', 'data-session-id': id });
  let refreshNow = () => {};
  const stop = stopButton(id, { refresh: () => refreshNow(), showError: (err) => replace(actionSlot, errorBox(err)) });
  stop.hidden = true;
  replace(root,
    h('a', { href: '#/sessions', class: 'small back', 'data-testid': 'back-to-sessions' }, '← Sessions'),
    h('div', { class: 'view-head' },
      h('h2', { class: 'detail-title' }, 'Session ', h('code', { 'data-testid': 'detail-id' }, id)),
      statusBadge, h('span', { class: 'spacer' }), stop),
    errorSlot, actionSlot, body);

  const cells = {
    application: h('dd', { 'data-testid': 'detail-application' }),
    location: h('dd', { 'data-testid': 'detail-location' }),
    externalId: h('dd', { class: 'mono', 'data-testid': 'detail-external-id' }),
    restarts: h('dd', { 'data-testid': 'detail-restarts' }),
    exitCode: h('dd', { 'data-testid': 'detail-exit-code' }),
    stopReason: h('dd', { 'data-testid': 'detail-stop-reason' }),
    players: h('div', { 'data-testid': 'detail-players' }),
    ports: h('div', { 'data-testid': 'detail-ports' }),
    env: h('div', { 'data-testid': 'detail-env' }),
    labels: h('div', { 'data-testid': 'detail-labels' }),
    events: h('ol', { class: 'events', 'data-testid': 'detail-events' }),
  };
  const pane = logPane(id);
  let shown = false;
  const show = () => {
    if (shown) return;
    shown = true;
    replace(body,
      h('div', { class: 'detail-grid' },
        h('section', { class: 'card' }, h('h3', null, 'Overview'),
          h('dl', { class: 'facts' },
            h('dt', null, 'Application'), cells.application,
            h('dt', null, 'Location'), cells.location,
            h('dt', null, 'External id'), cells.externalId,
            h('dt', null, 'Restarts'), cells.restarts,
            h('dt', null, 'Exit code'), cells.exitCode,
            h('dt', null, 'Stop reason'), cells.stopReason)),
        h('section', { class: 'card' }, h('h3', null, 'Events'), cells.events),
        h('section', { class: 'card' }, h('h3', null, 'Ports'), cells.ports),
        h('section', { class: 'card' }, h('h3', null, 'Players'), cells.players),
        h('section', { class: 'card' }, h('h3', null, 'Labels'), cells.labels),
        h('section', { class: 'card' }, h('h3', null, 'Environment'),
          h('p', { class: 'hint' }, 'Variable names only: the API never sends their values.'), cells.env)),
      h('section', { class: 'card log-card' },
        h('div', { class: 'dialog-head' }, h('h3', null, 'Output'), pane.state, pane.toggle),
        pane.errorSlot, pane.output));
  };

  let lastKey = '';
  let stopped = false;
  const refresh = async () => {
    if (stopped) return; // a stopped session changes no more
    let s;
    try {
      s = await get(`${path('/session', id)}?all=true`);
    } catch (err) {
      replace(errorSlot, err instanceof ApiError && err.status === 404 && !err.routeMissing
        ? h('div', { class: 'notice', 'data-testid': 'session-missing' },
          h('strong', null, 'No such session.'), h('p', null, 'This organisation has no session with this id.'))
        : err instanceof ApiError && err.status === 403 ? accessMessage(err, 'sessions', 'sessions:read') : errorBox(err));
      return;
    }
    replace(errorSlot);
    show();
    stopped = STOPPED.includes(s.status);
    setStatus(statusBadge, s.status);
    stop.hidden = false;
    stop.disabled = ended(s.status);
    const key = JSON.stringify(s);
    if (key === lastKey) return;
    lastKey = key;
    setText(cells.application, s.tag ? `${s.image}:${s.tag}` : s.image);
    setText(cells.location, s.location);
    setText(cells.externalId, s.external_id || '—');
    setText(cells.restarts, s.restarts ?? '—');
    setText(cells.exitCode, s.exitCode === undefined || s.exitCode < 0 ? '—' : s.exitCode);
    setText(cells.stopReason, s.stopReason
      ? `${s.stopReason}: ${s.stopMessage || STOP_REASONS[s.stopReason] || ''}` : '—');
    const joined = (s.players && s.players.joined) || [];
    replace(cells.players, joined.length
      ? h('ul', { class: 'plain-list' }, joined.map((p) => h('li', { class: 'mono', 'data-testid': 'detail-player' }, p)))
      : h('p', { class: 'muted' }, 'No player has joined.'));
    const ports = addresses(s);
    replace(cells.ports, ports.length ? ports : h('p', { class: 'muted' }, 'No ports.'));
    replace(cells.labels, Object.keys(s.labels || {}).length ? labelChips(s.labels) : h('p', { class: 'muted' }, 'No labels.'));
    // Only names: values never reach the panel (the API does not send them).
    const keys = s.envKeys || [];
    replace(cells.env, keys.length
      ? keys.map((k) => h('span', { class: 'chip', 'data-testid': 'detail-env-key' }, k))
      : h('p', { class: 'muted' }, 'No variables, or a server that does not tell them.'));
    replace(cells.events, events(s));
  };
  refreshNow = refresh;
  const stopRefresh = every(LIVE_REFRESH_MS, refresh);
  return () => {
    stopRefresh();
    pane.stop();
  };
}

// events lists what the API says happened to a session, in order: it has
// no list of events, but the times of its life's steps.
function events(s) {
  const steps = [
    ['created', 'Created', s.created],
    ['running', 'Process started', s.runningAt],
    ['stopping', 'Stop asked for', s.stoppingAt],
    ['stopped', 'Stopped', s.stoppedAt],
  ].filter(([, , at]) => at);
  return steps.map(([name, label, at]) => h('li', { 'data-testid': 'event', 'data-event': name },
    h('span', { class: 'event-label' }, label),
    h('time', { datetime: new Date(at).toISOString(), title: new Date(at).toISOString() }, formatTime(at, { seconds: true })),
    name === 'stopped' && s.stopReason ? h('span', { class: 'muted small' }, ` · ${s.stopReason}`) : null));
}
