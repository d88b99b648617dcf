// Nodes per region: GET /admin/v1/nodes, grouped by region, with each node's
// health and how much of its CPU, memory and port range is taken; below,
// when Arena scales a region, the cloud machines it manages (provisioning,
// joining, draining...) and its recent decisions with their reasons, from
// GET /admin/v1/scaler. Needs a token with the operator scope; others get
// an explanation.

import { ApiError, accessMessage, errorBox, get, path, post } from './api.js';
import { ago, cpu, every, formatTime, h, memory, replace, setText } from './dom.js';

export const title = 'Nodes';

const REFRESH_MS = 5000;

export function mount(root) {
  const updated = h('span', { class: 'muted small' });
  const body = h('div', { 'data-testid': 'nodes' });
  const cloud = h('div', { 'data-testid': 'scaler' });
  const actionSlot = h('div');
  replace(root, h('div', { class: 'view-head' }, h('h2', null, 'Nodes'), updated), actionSlot, body, cloud);

  let denied = false;
  const refresh = async () => {
    if (denied) return; // a 401 does not heal by asking again
    try {
      const { nodes } = await get('/admin/v1/nodes');
      setText(updated, `updated ${new Date().toLocaleTimeString()}`);
      render(body, nodes, { refresh, showError: (err) => replace(actionSlot, errorBox(err)) });
      // An older control plane has no scaler route: then nothing shows.
      renderScaler(cloud, await get('/admin/v1/scaler').catch(() => null));
    } catch (err) {
      denied = err instanceof ApiError && (err.status === 403 || err.routeMissing);
      replace(body, accessMessage(err, 'the nodes', 'operator'));
    }
  };
  return every(REFRESH_MS, refresh);
}

function render(root, nodes, actions) {
  if (!nodes.length) {
    replace(root, h('p', { class: 'empty' }, 'No node has joined yet. Start an agent with arena agent.'));
    return;
  }
  const regions = new Map();
  for (const n of nodes) {
    if (!regions.has(n.region)) regions.set(n.region, []);
    regions.get(n.region).push(n);
  }
  const sections = [...regions.keys()].sort().map((region) => {
    const list = regions.get(region);
    const sum = (f) => list.reduce((acc, n) => acc + f(n), 0);
    const ready = list.filter((n) => n.state === 'ready').length;
    return h('section', { class: 'card region', 'data-testid': 'region', 'data-region': region },
      h('div', { class: 'region-head' },
        h('h3', null, region),
        h('span', { class: ready === list.length ? 'badge state-ready' : 'badge state-unreachable' },
          `${ready} of ${list.length} ready`),
        h('span', { class: 'muted small' },
          `${cpu(sum((n) => n.used.milliCpu))} of ${cpu(sum((n) => n.capacity.milliCpu))} · `,
          `${memory(sum((n) => n.used.memoryMb))} of ${memory(sum((n) => n.capacity.memoryMb))} · `,
          `${sum((n) => n.sessions)} sessions`)),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', null, h('tr', null,
          h('th', null, 'Node'), h('th', null, 'Location'), h('th', null, 'Provider'), h('th', null, 'Address'),
          h('th', null, 'State'), h('th', null, 'Use'),
          h('th', { class: 'num' }, 'Sessions'), h('th', { class: 'nowrap' }, 'Last seen'), h('th', { class: 'row-actions' }, ''))),
        h('tbody', null, list.map((n) => nodeRow(n, actions))))));
  });
  replace(root, sections);
}

// renderScaler shows the cloud machines and the scaler's recent decisions,
// the newest first; nothing when no region is scaled.
function renderScaler(root, st) {
  if (!st || !st.policies.length) {
    replace(root);
    return;
  }
  const machines = st.machines.filter((m) => m.state !== 'deleted');
  replace(root, h('section', { class: 'card region' },
    h('div', { class: 'region-head' }, h('h3', null, 'Cloud machines'),
      h('span', { class: 'muted small', 'data-testid': 'scaler-cost' }, `${st.costPerHour.toFixed(3)} an hour`)),
    machines.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'machine-table' },
      h('thead', null, h('tr', null, h('th', null, 'Node'), h('th', null, 'Region'), h('th', null, 'Provider'),
        h('th', null, 'Type'), h('th', null, 'State'), h('th', null, 'Why'))),
      h('tbody', null, machines.map((m) => h('tr', { 'data-testid': 'machine-row', 'data-node-id': m.node },
        h('td', { class: 'mono nowrap' }, m.node), h('td', null, m.region), h('td', null, m.provider),
        h('td', null, m.instanceType || '—'),
        h('td', null, h('span', { class: `badge machine-${m.state}`, 'data-testid': 'machine-state' }, m.state)),
        h('td', { class: 'small' }, m.reason))))))
      : h('p', { class: 'empty' }, 'No cloud machine: bare metal holds every region\'s buffer.'),
    h('h4', null, 'Recent decisions'),
    st.decisions.length ? h('ul', { class: 'decisions', 'data-testid': 'decisions' },
      [...st.decisions].reverse().map((d) => h('li', { 'data-testid': 'decision', 'data-kind': d.kind },
        h('span', { class: 'muted small nowrap', title: formatTime(d.at) }, ago(new Date(d.at))), ' ',
        h('strong', null, d.kind), ` ${d.node || ''} ${d.provider ? `(${d.provider})` : ''}: ${d.reason}`,
        d.error ? h('span', { class: 'error-text' }, ` — failed: ${d.error}`) : null)))
      : h('p', { class: 'empty' }, 'No decision yet.')));
}

function nodeRow(n, { refresh, showError }) {
  const ports = n.ports.max - n.ports.min + 1;
  const drain = h('button', { type: 'button', 'data-testid': 'drain-button' }, n.draining ? 'Undrain' : 'Drain');
  drain.title = n.draining ? 'Let the node take new sessions again' : 'Take no new sessions here; running ones finish';
  drain.addEventListener('click', async () => {
    drain.disabled = true;
    try {
      await post(path('/admin/v1/nodes', n.id, n.draining ? 'undrain' : 'drain'));
    } catch (err) {
      showError(err);
    }
    refresh();
  });
  return h('tr', { 'data-testid': 'node-row', 'data-node-id': n.id },
    h('td', { class: 'mono nowrap' }, n.id),
    h('td', null, n.location),
    h('td', null, n.provider || '—', h('span', { class: 'muted' }, ` · ${n.class}`)),
    h('td', { class: 'mono' }, n.publicIp),
    h('td', null, h('span', { class: `badge state-${n.state}`, 'data-testid': 'node-state' }, n.state)),
    // One column for the three gauges, stacked: side by side they made the
    // table wider than a laptop's screen, and the actions scrolled away.
    h('td', null, h('div', { class: 'gauges' },
      gauge('CPU', n.used.milliCpu, n.capacity.milliCpu, `${cpu(n.used.milliCpu)} / ${cpu(n.capacity.milliCpu)}`),
      gauge('Memory', n.used.memoryMb, n.capacity.memoryMb, `${memory(n.used.memoryMb)} / ${memory(n.capacity.memoryMb)}`),
      gauge('Ports', ports - n.ports.free, ports, `${n.ports.free} of ${ports} free`, `ports ${n.ports.min}–${n.ports.max}`))),
    h('td', { class: 'num' }, n.sessions),
    h('td', { class: 'nowrap', title: formatTime(n.lastSeen) }, seen(n.lastSeen)),
    h('td', { class: 'row-actions' }, drain));
}

// gauge is a <meter>: native, accessible, and styled without inline styles
// (which the panel's Content-Security-Policy forbids).
function gauge(name, used, capacity, label, title) {
  return h('div', { class: 'gauge', title: title || null },
    h('span', { class: 'small muted' }, name),
    h('meter', { min: '0', max: String(Math.max(capacity, 1)), value: String(used), low: String(capacity * 0.7), high: String(capacity * 0.9), optimum: '0' }),
    h('span', { class: 'small' }, label));
}

// seen is how long ago a node last reported; a zero time means never.
function seen(value) {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000 ? 'never' : ago(d);
}
