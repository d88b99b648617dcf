// Live sessions: the token organisation's active sessions from GET /session,
// refreshed every two seconds, with their addresses, status and players, and
// per session a live log view and a stop button.

import { ApiError, accessMessage, del, errorBox, get } from './api.js';
import { ago, confirmDialog, every, formatTime, h, replace, setText } from './dom.js';
import { openLogs } from './logs.js';

export const title = 'Sessions';

const REFRESH_MS = 2000;

export function mount(root) {
  const filter = h('input', { type: 'search', placeholder: 'Filter by id, application, location, label…', 'data-testid': 'session-filter', class: 'filter' });
  const updated = h('span', { class: 'muted small', 'data-testid': 'sessions-updated' });
  const errorSlot = h('div');
  // Errors of a stop stay until the next one; refresh errors clear themselves.
  const actionSlot = h('div');
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', 'data-testid': 'sessions-empty', hidden: true }, 'No active sessions.');
  const table = h('table', { class: 'data', 'data-testid': 'session-table' },
    h('thead', null, h('tr', null,
      h('th', null, 'Session'), h('th', null, 'Application'), h('th', null, 'Location'),
      h('th', null, 'Address'), h('th', null, 'Status'), h('th', { class: 'num' }, 'Players'),
      h('th', null, 'Labels'), h('th', null, 'Created'), h('th', null, ''))),
    tbody);
  replace(root,
    h('div', { class: 'view-head' }, h('h2', null, 'Live sessions'), filter, updated),
    errorSlot,
    actionSlot,
    h('div', { class: 'table-wrap' }, table),
    empty);

  // Rows are kept by session id and updated in place, so that a refresh
  // never moves a button from under the pointer or drops a focus.
  const rows = new Map();
  let last = [];

  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = last.filter((s) => !q || searchable(s).includes(q));
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
    empty.hidden = shown.length > 0;
    if (!shown.length && last.length) setText(empty, 'No session matches the filter.');
    else setText(empty, 'No active sessions.');
  };

  const refresh = async () => {
    try {
      const body = await get('/session');
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

  filter.addEventListener('input', render);
  return every(REFRESH_MS, refresh);
}

function searchable(s) {
  return [s.id, s.image, s.tag, s.location, s.host, s.status,
    ...Object.entries(s.labels || {}).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase();
}

function newRow(id, { refresh, showError }) {
  const cells = {
    id: h('td', { class: 'mono small', 'data-testid': 'session-id' }, id),
    app: h('td'),
    location: h('td'),
    address: h('td', { class: 'mono small nowrap', 'data-testid': 'session-address' }),
    status: h('span', { class: 'badge', 'data-testid': 'session-status' }),
    players: h('td', { class: 'num', 'data-testid': 'session-players' }),
    labels: h('td', { class: 'labels' }),
    created: h('td', { class: 'nowrap' }),
  };
  const logs = h('button', { type: 'button', 'data-testid': 'logs-button', onclick: () => openLogs(id) }, 'Logs');
  const stop = h('button', { type: 'button', class: 'danger', 'data-testid': 'stop-button' }, 'Stop');
  stop.addEventListener('click', async () => {
    if (!(await confirmDialog(`Stop session ${id}? Its game server gets SIGTERM, then SIGKILL after the application's grace period. Players are disconnected.`, { ok: 'Stop session' }))) return;
    stop.disabled = true;
    setText(stop, 'Stopping…');
    try {
      await del(`/session/${encodeURIComponent(id)}`);
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
  const tr = h('tr', { 'data-testid': 'session-row', 'data-session-id': id },
    cells.id, cells.app, cells.location, cells.address, h('td', null, cells.status), cells.players,
    cells.labels, cells.created, h('td', { class: 'row-actions' }, logs, stop));
  return { tr, cells, stop, key: '' };
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
  replace(row.cells.address, Object.entries(s.port || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([container, host]) => h('div', { title: `container port ${container}` },
      `${hostPort(s.host, host)}`, h('span', { class: 'muted' }, ` → ${container}`))));
  setText(row.cells.status, s.status.replace('_', ' '));
  row.cells.status.className = `badge status-${s.status}`;
  setText(row.cells.players, s.playerCount ?? (s.players ? s.players.joinedCount : 0));
  replace(row.cells.labels, Object.entries(s.labels || {}).map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`)));
  // A session on its way out cannot be stopped again.
  if (['exited', 'dead', 'shuttingdown'].includes(s.status)) {
    row.stop.disabled = true;
  }
}

function hostPort(host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

