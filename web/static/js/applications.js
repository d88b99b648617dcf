// Applications of an organisation, with their tags: what POST /session's
// image and version name, and how far the nodes are with pulling each tag's
// image (refreshed every few seconds). Applications defined in the config
// file (source "config") are shown read-only: the server refuses to change
// them, since the file would put them back on the next start.

import { accessMessage, del, errorBox, get, path, post, put } from './api.js';
import { confirmDialog, every, formatDate, formatTime, h, replace } from './dom.js';
import { adminHead, field, formDialog, formError, lines, noAdminApi } from './forms.js';

export const title = 'Applications';

export function mount(root, ctx) {
  if (!ctx.who) return noAdminApi(root, 'applications');
  const base = path('/admin/v1/orgs', ctx.org(), 'applications');
  const listSlot = h('div', { 'data-testid': 'applications' });
  const actionSlot = h('div');
  const create = h('button', { type: 'button', class: 'primary', 'data-testid': 'new-application' }, 'New application');
  replace(root, adminHead(ctx, 'Applications', create), actionSlot, listSlot);

  // The table is built anew only when something changed: the refreshes
  // that follow pulls must not move a button from under the pointer.
  let shown = '';
  let denied = false;
  const load = async () => {
    if (denied) return;
    try {
      const { applications } = await get(base);
      const key = JSON.stringify(applications);
      if (key === shown) return;
      shown = key;
      replace(listSlot, table(applications, { edit, remove }));
    } catch (err) {
      shown = '';
      denied = err.status === 403 || err.status === 404;
      replace(listSlot, accessMessage(err, 'applications', 'admin'));
    }
  };

  async function edit(app) {
    const readOnly = app && app.source === 'config';
    const form = appForm(app);
    const saved = await formDialog({
      title: app ? (readOnly ? `Application ${app.name}` : `Edit ${app.name}`) : 'New application',
      testid: 'application-dialog', wide: true, readOnly,
      body: [readOnly ? h('p', { class: 'notice' }, 'Defined in the config file: change it there.') : null, form.body],
      save: () => (app ? put(path(base, app.name), form.value()) : post(base, form.value())),
    });
    if (saved === 'saved') load();
  }

  async function remove(app) {
    if (!(await confirmDialog(`Delete application ${app.name}? New sessions can no longer be started with it; running ones keep running.`, { ok: 'Delete' }))) return;
    try {
      await del(path(base, app.name));
      replace(actionSlot);
    } catch (err) {
      replace(actionSlot, errorBox(err));
    }
    load();
  }

  create.addEventListener('click', () => edit(null));
  return every(PULL_REFRESH_MS, load);
}

const PULL_REFRESH_MS = 5000;

function table(apps, { edit, remove }) {
  if (!apps.length) return h('p', { class: 'empty' }, 'No applications yet.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'application-table' },
    h('thead', null, h('tr', null,
      h('th', null, 'Name'), h('th', null, 'Repository'), h('th', null, 'Tags'), h('th', null, 'Ports'),
      h('th', null, 'Resources'), h('th', null, 'Placement'), h('th', null, 'Warm pools'), h('th', null, 'Source'), h('th', null, 'Updated'), h('th', null, ''))),
    h('tbody', null, apps.map((a) => {
      const fromConfig = a.source === 'config';
      return h('tr', { 'data-testid': 'application-row', 'data-app-name': a.name },
        h('td', { class: 'mono nowrap' }, a.name),
        h('td', { class: 'mono repository' }, a.repository),
        h('td', { class: 'labels' },
          a.tags.length ? sortedTags(a.tags).map((t) => tagItem(a, t))
            : h('span', { class: 'muted', 'data-testid': 'no-tags', title: 'Sessions are refused until a tag is added' }, 'no tags yet'),
          a.tagKeep ? h('span', { class: 'muted small', 'data-testid': 'app-tagkeep', title: 'Adding a tag beyond these retires the lowest priority' }, ` keeps ${a.tagKeep}`) : null),
        h('td', { class: 'mono small' }, a.ports.map((p) => `${p.container}/${p.protocol}`).join(' ') || '—',
          a.network === 'host' ? h('span', { class: 'muted' }, ' host') : null),
        // The reservation is what placement books; a limit above it is
        // what the container may burst to.
        h('td', { class: 'nowrap' }, h('span', { title: 'Reserved per session' }, `${a.resources.milliCpu}m · ${a.resources.memoryMb} MiB`),
          a.limits ? h('div', { class: 'muted small', 'data-testid': 'app-limits', title: 'What the container may use' },
            `limit ${a.limits.milliCpu}m · ${a.limits.memoryMb} MiB`) : null),
        h('td', { class: 'labels' },
          a.regions.length ? a.regions.map((r) => h('span', { class: 'chip', 'data-testid': 'app-region' }, r))
            : h('span', { class: 'muted' }, 'any region'),
          a.nodePool ? h('div', { class: 'muted small', 'data-testid': 'app-nodepool' }, `pool ${a.nodePool}`) : null),
        h('td', { class: 'labels' }, (a.warmPools || []).length ? a.warmPools.map(poolItem) : h('span', { class: 'muted' }, '—')),
        h('td', null, h('span', { class: `badge source-${a.source}`, title: fromConfig ? 'Defined in the config file; read-only here' : 'Managed through the API' }, a.source)),
        // The day is enough in the table; the tooltip has the time.
        h('td', { class: 'nowrap', title: formatTime(a.updatedAt || a.createdAt) }, formatDate(a.updatedAt || a.createdAt)),
        h('td', { class: 'row-actions' },
          h('button', { type: 'button', 'data-testid': 'edit-application', onclick: () => edit(a) }, fromConfig ? 'View' : 'Edit'),
          fromConfig ? null : h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-application', onclick: () => remove(a) }, 'Delete')));
    }))));
}

// poolItem shows a warm pool as how many of its sessions are ready of its
// size, with those warming and each node's share in its tooltip.
function poolItem(p) {
  const nodes = (p.nodes || []).map((n) => `${n.node}: ${n.ready} ready, ${n.warming} warming`);
  const full = p.ready >= p.size;
  return h('span', {
    class: full ? 'chip' : 'chip warming', 'data-testid': 'app-pool', 'data-location': p.location,
    title: [`${p.ready} ready, ${p.warming} warming of ${p.size}${p.mode === 'launch' ? '; the request’s env and args apply' : ''}`, ...nodes].join('\n'),
  }, `${p.location}${p.tag ? ':' + p.tag : ''} ${p.ready}/${p.size}`, p.mode === 'launch' ? ' ⤳' : '');
}

// tagItem shows a tag, marked when it is the default, with its pull state.
function tagItem(a, t) {
  const isDefault = t.name === defaultTag(a.tags);
  const pull = (a.pull || {})[t.name];
  return h('span', { class: 'tag-item', 'data-testid': 'app-tag', 'data-tag': t.name },
    h('span', { class: isDefault ? 'chip default' : 'chip', title: `priority ${t.priority}` }, t.name, isDefault ? ' ★' : ''),
    pull ? pullBadge(pull) : null);
}

// pullBadge says where a tag's image is: on how many of the nodes that could
// run it, still being pulled, or failed (the reason in its tooltip).
function pullBadge(p) {
  const n = p.nodes;
  const text = {
    present: `on ${n.present} of ${n.total}`,
    pulling: `pulling ${n.pulling} of ${n.total}`,
    failed: 'pull failed',
    missing: n.total ? 'not pulled' : 'no nodes',
  }[p.status] || p.status;
  const counts = `${n.present} of ${n.total} nodes hold it, ${n.pulling} pulling, ${n.failed} failed`;
  return h('span', {
    class: `badge pull-${p.status}`, 'data-testid': 'tag-pull', 'data-status': p.status,
    title: p.status === 'failed' && p.error ? `${p.error} (${counts})` : counts,
  }, text);
}

function sortedTags(tags) {
  return [...tags].sort((a, b) => b.priority - a.priority);
}

// defaultTag is the tag with the highest priority, the first listed on a tie:
// the server's rule for a POST /session without a version.
function defaultTag(tags) {
  let best = null;
  for (const t of tags) if (!best || t.priority > best.priority) best = t;
  return best ? best.name : '';
}

// appForm builds the application's form; value() reads it back as the
// admin API's body.
function appForm(app) {
  const a = app || {
    name: '', repository: '', tags: [{ name: 'latest', priority: 1 }], ports: [{ container: 7777, protocol: 'udp' }],
    network: 'bridge', resources: { milliCpu: 1000, memoryMb: 1024 }, regions: [], tagKeep: 0, nodePool: '',
    env: {}, args: [], stopGraceSeconds: 30, artifacts: [], user: '', readOnlyRootFilesystem: false, tmpfs: [],
    readiness: { mode: 'ports', timeoutSeconds: 60, runOnTimeout: false }, warmPools: [],
  };
  const ready = a.readiness || { mode: 'ports', timeoutSeconds: 60, runOnTimeout: false };
  const name = h('input', { name: 'name', value: a.name, required: true, readOnly: !!app, 'data-testid': 'app-name', pattern: '[a-z0-9][a-z0-9._\\-]*', spellcheck: 'false' });
  const repository = h('input', { name: 'repository', value: a.repository, required: true, 'data-testid': 'app-repository', spellcheck: 'false', placeholder: 'registry.example.com/studio/game' });
  const tags = rowsEditor('tags', a.tags, tagRow, { name: '', priority: 0 }, 'Add tag', markDefault);
  const ports = rowsEditor('ports', a.ports, portRow, { container: '', protocol: 'udp' }, 'Add port');
  const network = h('select', { name: 'network' },
    ['bridge', 'host'].map((n) => h('option', { value: n, selected: a.network === n }, n)));
  const milliCpu = h('input', { name: 'resources.milliCpu', type: 'number', min: '1', step: '1', value: String(a.resources.milliCpu), 'data-testid': 'app-cpu' });
  const memoryMb = h('input', { name: 'resources.memoryMb', type: 'number', min: '1', step: '1', value: String(a.resources.memoryMb), 'data-testid': 'app-memory' });
  // Empty limits cap the container at the reservation.
  const limits = a.limits || null;
  const limitCpu = h('input', { name: 'limits.milliCpu', type: 'number', min: '0', step: '1', value: limits ? String(limits.milliCpu) : '', placeholder: 'reservation', 'data-testid': 'app-limit-cpu' });
  const limitMemory = h('input', { name: 'limits.memoryMb', type: 'number', min: '0', step: '1', value: limits ? String(limits.memoryMb) : '', placeholder: 'reservation', 'data-testid': 'app-limit-memory' });
  const regions = h('input', { name: 'regions', value: (a.regions || []).join(' '), spellcheck: 'false', placeholder: 'any', 'data-testid': 'app-regions' });
  const tagKeep = h('input', { name: 'tagKeep', type: 'number', min: '0', max: '100', step: '1', value: String(a.tagKeep || 0), 'data-testid': 'app-tagkeep' });
  const nodePool = h('input', { name: 'nodePool', value: a.nodePool || '', spellcheck: 'false', 'data-testid': 'app-nodepool' });
  const env = h('textarea', { name: 'env', rows: '3', spellcheck: 'false', placeholder: 'NAME=value' },
    Object.entries(a.env || {}).map(([k, v]) => `${k}=${v}`).join('\n'));
  const args = h('textarea', { name: 'args', rows: '2', spellcheck: 'false', placeholder: 'one argument per line' }, (a.args || []).join('\n'));
  const grace = h('input', { name: 'stopGraceSeconds', type: 'number', min: '0', max: '600', step: 'any', value: String(a.stopGraceSeconds ?? 30) });
  const artifacts = h('textarea', { name: 'artifacts', rows: '2', spellcheck: 'false', placeholder: '/absolute/path, one per line' }, (a.artifacts || []).join('\n'));
  const user = h('input', { name: 'user', value: a.user || '', spellcheck: 'false', placeholder: 'the image’s USER', 'data-testid': 'app-user' });
  const readOnly = h('input', { type: 'checkbox', name: 'readOnlyRootFilesystem', checked: !!a.readOnlyRootFilesystem, 'data-testid': 'app-readonly' });
  const tmpfs = h('textarea', { name: 'tmpfs', rows: '2', spellcheck: 'false', placeholder: '/tmp, one per line', 'data-testid': 'app-tmpfs' }, (a.tmpfs || []).join('\n'));
  const readyMode = h('select', { name: 'readiness.mode', 'data-testid': 'app-readiness-mode' },
    ['ports', 'process'].map((m) => h('option', { value: m, selected: ready.mode === m }, m)));
  const readyTimeout = h('input', { name: 'readiness.timeoutSeconds', type: 'number', min: '1', max: '1800', step: 'any', value: String(ready.timeoutSeconds), 'data-testid': 'app-readiness-timeout' });
  const readyRun = h('input', { type: 'checkbox', name: 'readiness.runOnTimeout', checked: !!ready.runOnTimeout, 'data-testid': 'app-readiness-run' });
  const pools = rowsEditor('warmPools', a.warmPools || [], poolRow, { location: '', tag: '', size: 1, mode: 'claim' }, 'Add warm pool');
  const reg = a.registry || null;
  const regUser = h('input', { name: 'registry.username', value: reg ? reg.username : '', autocomplete: 'off', spellcheck: 'false' });
  const regPassword = h('input', { name: 'registry.password', type: 'password', autocomplete: 'new-password',
    placeholder: reg && reg.passwordSet ? 'unchanged (stored, never shown)' : '' });
  const regClear = h('input', { type: 'checkbox', name: 'registry.clear' });

  const body = h('div', { class: 'form-grid' },
    field('Name', name, app ? 'Applications are not renamed.' : 'What POST /session calls the image.'),
    field('Repository', repository),
    h('fieldset', { name: 'tags' }, h('legend', null, 'Tags'),
      h('p', { class: 'hint' }, 'The tag with the highest priority is the default a session runs when it names no version. Without tags, sessions are refused.'),
      tags.el),
    field('Tags kept', tagKeep, '0 keeps up to 100; otherwise at most this many tags, adding one retires the lowest priority.'),
    h('fieldset', { name: 'ports' }, h('legend', null, 'Container ports'), ports.el),
    field('Network', network, 'host: the game server binds the reserved port it gets in GAMEYE_PORT_*.'),
    field('Stop grace period (s)', grace, 'Between SIGTERM and SIGKILL.'),
    h('fieldset', { name: 'resources', class: 'row' }, h('legend', null, 'Resources per session'),
      h('p', { class: 'hint' }, 'Reserved: what placement books on a node, and what usage is priced by.'),
      field('Milli-CPU', milliCpu), field('Memory (MiB)', memoryMb)),
    h('fieldset', { name: 'limits', class: 'row' }, h('legend', null, 'Limits per session'),
      h('p', { class: 'hint' }, 'What the container may use, at least the reservation; empty for the reservation.'),
      field('Milli-CPU', limitCpu), field('Memory (MiB)', limitMemory)),
    field('Regions', regions, 'Where sessions may be placed, separated by spaces; empty for any region.'),
    field('Node pool', nodePool, 'Kept and shown; placement does not use it.'),
    field('Environment', env, 'NAME=value per line; a session’s own env overrides these.'),
    field('Arguments', args, 'One per line, after the image’s entrypoint.'),
    field('Artifacts', artifacts, 'Paths kept for download after a session stops.'),
    h('fieldset', { name: 'security' }, h('legend', null, 'Container'),
      field('User', user, 'uid[:gid] or a name the image knows, e.g. 65534:65534; empty runs as the image’s USER.'),
      h('label', { class: 'inline' }, readOnly, ' read-only root filesystem'),
      field('Writable tmpfs paths', tmpfs, 'One absolute path per line, sized at the memory limit.')),
    h('fieldset', { name: 'readiness', class: 'row' }, h('legend', null, 'Readiness'),
      h('p', { class: 'hint' }, 'When a session is running, and billed: once its game server serves on every port (ports), or once its process started.'),
      field('Ready on', readyMode), field('Timeout (s)', readyTimeout),
      h('label', { class: 'inline' }, readyRun, ' run, rather than fail, past the timeout')),
    h('fieldset', { name: 'warmPools' }, h('legend', null, 'Warm pools'),
      h('p', { class: 'hint' }, 'Sessions kept started and ready in a location or region (of the default tag when the tag is empty). claim: taken as they are, the request’s env and args ignored; launch: the game server starts on the claim, with them.'),
      pools.el),
    h('fieldset', { name: 'registry', class: 'row' }, h('legend', null, 'Private registry'),
      field('Username', regUser), field('Password', regPassword),
      app && reg ? h('label', { class: 'inline' }, regClear, ' remove the credentials') : null));

  const value = () => {
    const out = {
      name: name.value.trim(),
      repository: repository.value.trim(),
      tags: tags.value().map(([n, p]) => ({ name: n.value.trim(), priority: Number(p.value) })),
      ports: ports.value().map(([c, p]) => ({ container: Number(c.value), protocol: p.value })),
      network: network.value,
      resources: { milliCpu: Number(milliCpu.value), memoryMb: Number(memoryMb.value) },
      limits: limitCpu.value.trim() === '' && limitMemory.value.trim() === ''
        ? null : { milliCpu: Number(limitCpu.value || 0), memoryMb: Number(limitMemory.value || 0) },
      regions: regions.value.split(/[\s,]+/).filter(Boolean),
      tagKeep: Number(tagKeep.value || 0),
      nodePool: nodePool.value.trim(),
      env: parseEnv(env.value),
      args: lines(args.value),
      stopGraceSeconds: Number(grace.value || 0),
      artifacts: lines(artifacts.value),
      user: user.value.trim(),
      readOnlyRootFilesystem: readOnly.checked,
      tmpfs: lines(tmpfs.value),
      readiness: { mode: readyMode.value, timeoutSeconds: Number(readyTimeout.value || 0), runOnTimeout: readyRun.checked },
      warmPools: pools.value().map(([l, t, n, m]) => ({ location: l.value.trim(), tag: t.value.trim(), size: Number(n.value), mode: m.value })),
    };
    // The password is write-only: left empty on an edit, the registry is
    // left out of the body and the server keeps the stored credentials.
    const regName = regUser.value.trim();
    if (regClear.checked) {
      out.registry = null;
    } else if (regPassword.value) {
      out.registry = { username: regName, password: regPassword.value };
    } else if (regName && (!reg || regName !== reg.username)) {
      throw formError('registry.password', 'enter the password with a new username');
    } else if (!regName && reg) {
      out.registry = null;
    }
    return out;
  };
  return { body, value };
}

// parseEnv reads NAME=value lines.
function parseEnv(text) {
  const env = {};
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw formError('env', `line ${i + 1}: expected NAME=value`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  return env;
}

// rowsEditor edits a list of small records, a row of inputs each; value()
// returns each row's inputs. Inputs are named like the server's violations
// (tags[0].name, ports[1]) so that errors mark them.
function rowsEditor(prefix, items, makeRow, blank, addLabel, onChange = () => {}) {
  const list = h('div', { class: 'rows', 'data-testid': `${prefix}-editor` });
  const rows = [];
  const renumber = () => {
    rows.forEach((r, i) => r.rename(i));
    onChange(rows);
  };
  list.addEventListener('input', () => onChange(rows));
  const add = (item) => {
    const row = makeRow(prefix, item);
    const remove = h('button', { type: 'button', class: 'icon', title: 'Remove', 'aria-label': 'Remove' }, '×');
    row.el.appendChild(remove);
    remove.addEventListener('click', () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
      renumber();
    });
    rows.push(row);
    list.appendChild(row.el);
    renumber();
  };
  items.forEach(add);
  const addButton = h('button', { type: 'button', class: 'link', 'data-testid': `add-${prefix}`, onclick: () => add({ ...blank }) }, `+ ${addLabel}`);
  return { el: h('div', null, list, addButton), value: () => rows.map((r) => r.inputs) };
}

function tagRow(prefix, t) {
  const name = h('input', { value: t.name, placeholder: 'tag', spellcheck: 'false', 'data-testid': 'tag-name' });
  const priority = h('input', { type: 'number', step: '1', value: String(t.priority), 'data-testid': 'tag-priority', title: 'priority' });
  const mark = h('span', { class: 'default-mark', 'data-testid': 'tag-default', hidden: true }, 'default');
  return {
    // The slot keeps its width while the mark hides, so rows stay aligned.
    el: h('div', { class: 'row-item' }, name, priority, h('span', { class: 'mark-slot' }, mark)),
    inputs: [name, priority],
    mark,
    rename(i) {
      name.name = `${prefix}[${i}].name`;
      priority.name = `${prefix}[${i}].priority`;
    },
  };
}

// markDefault shows, while the user edits, which tag will be the default.
function markDefault(rows) {
  const best = defaultTag(rows.map((r, i) => ({ name: i, priority: Number(r.inputs[1].value) })));
  rows.forEach((r, i) => { r.mark.hidden = i !== best; });
}

function poolRow(prefix, p) {
  const location = h('input', { value: p.location, placeholder: 'location or region', spellcheck: 'false', 'data-testid': 'pool-location' });
  const tag = h('input', { value: p.tag, placeholder: 'default tag', spellcheck: 'false', 'data-testid': 'pool-tag' });
  const size = h('input', { type: 'number', min: '1', max: '100', step: '1', value: String(p.size), 'data-testid': 'pool-size', title: 'size' });
  const mode = h('select', { 'data-testid': 'pool-mode' },
    ['claim', 'launch'].map((x) => h('option', { value: x, selected: p.mode === x }, x)));
  return {
    el: h('div', { class: 'row-item' }, location, tag, size, mode),
    inputs: [location, tag, size, mode],
    rename(i) {
      location.name = `${prefix}[${i}].location`;
      tag.name = `${prefix}[${i}].tag`;
      size.name = `${prefix}[${i}].size`;
      mode.name = `${prefix}[${i}].mode`;
    },
  };
}

function portRow(prefix, p) {
  const container = h('input', { type: 'number', min: '1', max: '65535', value: String(p.container), placeholder: 'port', 'data-testid': 'port-container' });
  const protocol = h('select', { 'data-testid': 'port-protocol' },
    ['udp', 'tcp'].map((x) => h('option', { value: x, selected: p.protocol === x }, x)));
  return {
    el: h('div', { class: 'row-item' }, container, protocol),
    inputs: [container, protocol],
    rename(i) {
      container.name = `${prefix}[${i}]`;
      protocol.name = `${prefix}[${i}].protocol`;
    },
  };
}

