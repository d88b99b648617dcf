// API tokens of an organisation. A new token's secret is in the answer to
// its creation alone (Arena keeps only a hash): the panel shows it once, in
// the dialog that created it, and keeps it nowhere. Closing the dialog or
// reloading the page loses it for good, which the dialog says.

import { accessMessage, del, errorBox, get, path, post } from './api.js';
import { confirmDialog, formatTime, h, replace } from './dom.js';
import { adminHead, field, formDialog, noAdminApi, number, showSecret } from './forms.js';

export const title = 'Tokens';

const SCOPES = [
  ['sessions:read', 'list and describe sessions'],
  ['sessions:write', 'start and stop sessions, players'],
  ['logs', 'read game server output'],
  ['artifacts', 'download artifacts'],
  ['usage', 'read usage and cost'],
  ['admin', 'manage this organisation'],
  ['operator', 'run the installation'],
  // The Gameye API's narrower scopes, for tokens of integrations made for it.
  ['session:start', 'start sessions, players join and leave'],
  ['session:read', 'list and describe sessions'],
  ['session:stop', 'stop sessions'],
  ['logs:read', 'read game server output'],
  ['artifact:read', 'download artifacts'],
  ['regions:read', 'regions, locations and tags'],
  ['application:read', 'list applications and registry tags'],
  ['application:write', 'create and edit applications, enable tags'],
];
const DEFAULT_SCOPES = ['sessions:read', 'sessions:write', 'logs', 'artifacts', 'usage'];

const EXPIRY = [
  ['0', 'never'],
  [String(86400), '1 day'],
  [String(7 * 86400), '7 days'],
  [String(30 * 86400), '30 days'],
  [String(90 * 86400), '90 days'],
  [String(365 * 86400), '1 year'],
];

export function mount(root, ctx) {
  if (!ctx.who) return noAdminApi(root, 'tokens');
  const org = ctx.org();
  const base = path('/admin/v1/orgs', org, 'tokens');
  const listSlot = h('div', { 'data-testid': 'tokens' });
  const actionSlot = h('div');
  const create = h('button', { type: 'button', class: 'primary', 'data-testid': 'new-token' }, 'New token');
  replace(root, adminHead(ctx, 'Tokens', create), actionSlot, listSlot);

  let users = [];
  const load = async () => {
    try {
      const [{ tokens }, userList] = await Promise.all([
        get(base),
        // Users name the tokens issued to them; a failure here only costs names.
        get(path('/admin/v1/orgs', org, 'users')).catch(() => ({ users: [] })),
      ]);
      users = userList.users;
      replace(listSlot, table(tokens, users, ctx.who.token.id, revoke));
    } catch (err) {
      replace(listSlot, accessMessage(err, 'tokens', 'admin'));
    }
  };

  async function revoke(t) {
    const own = t.id === ctx.who.token.id;
    const question = own
      ? `Revoke token “${t.name}”? It is the token you are signed in with: the panel signs out.`
      : `Revoke token “${t.name}”? Every request with it fails from now on. This cannot be undone.`;
    if (!(await confirmDialog(question, { ok: 'Revoke' }))) return;
    try {
      await del(path(base, t.id));
      replace(actionSlot);
    } catch (err) {
      replace(actionSlot, errorBox(err));
      return;
    }
    if (own) return ctx.signOut();
    load();
  }

  create.addEventListener('click', async () => {
    const form = tokenForm(ctx, users);
    await formDialog({
      title: 'New token', testid: 'token-dialog', submit: 'Create token', body: form.body,
      save: () => post(base, form.value()),
      after: (created, dialog) => {
        showTokenSecret(dialog, created);
        return true; // keep the dialog open on the secret
      },
    });
    load();
  });
  load();
  return null;
}

function table(tokens, users, ownId, revoke) {
  if (!tokens.length) return h('p', { class: 'empty' }, 'No tokens.');
  const userName = new Map(users.map((u) => [u.id, u.email || u.name]));
  const now = Date.now();
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'token-table' },
    h('thead', null, h('tr', null,
      h('th', null, 'Name'), h('th', null, 'Scopes'), h('th', null, 'User'), h('th', null, 'Created'),
      h('th', null, 'Expires'), h('th', null, 'Rate limit'), h('th', null, 'State'), h('th', null, ''))),
    h('tbody', null, tokens.map((t) => {
      const state = t.revokedAt ? 'revoked' : (t.expiresAt && Date.parse(t.expiresAt) <= now ? 'expired' : 'active');
      return h('tr', { 'data-testid': 'token-row', 'data-token-id': t.id, 'data-token-name': t.name, class: state === 'active' ? null : 'inactive' },
        h('td', null, t.name, t.id === ownId ? h('span', { class: 'chip' }, 'this session') : null,
          h('div', { class: 'muted small mono' }, t.id)),
        h('td', { class: 'labels' }, t.scopes.map((s) => h('span', { class: 'chip' }, s))),
        h('td', null, t.userId ? (userName.get(t.userId) || t.userId) : '—'),
        h('td', { class: 'nowrap' }, formatTime(t.createdAt)),
        h('td', { class: 'nowrap' }, t.expiresAt ? formatTime(t.expiresAt) : 'never'),
        h('td', { class: 'nowrap' }, t.rateLimit ? `${t.rateLimit}/s, burst ${t.rateBurst || '—'}` : 'default'),
        h('td', null, h('span', { class: `badge token-${state}`, 'data-testid': 'token-state', title: t.revokedAt ? `revoked ${formatTime(t.revokedAt)}` : null }, state)),
        h('td', { class: 'row-actions' }, state === 'revoked' ? null
          : h('button', { type: 'button', class: 'danger', 'data-testid': 'revoke-token', onclick: () => revoke(t) }, 'Revoke')));
    }))));
}

function tokenForm(ctx, users) {
  const name = h('input', { name: 'name', required: true, maxlength: '128', 'data-testid': 'token-name', placeholder: 'matchmaker-production' });
  // A token can be given only scopes its creator has (admin implies the
  // Session API's); offering others would only earn a violation.
  const mine = ctx.scopes();
  const allowed = (s) => mine.includes('operator') || mine.includes(s) || (mine.includes('admin') && s !== 'operator');
  const boxes = SCOPES.filter(([s]) => allowed(s)).map(([s, what]) => {
    const box = h('input', { type: 'checkbox', value: s, checked: DEFAULT_SCOPES.includes(s), 'data-testid': `scope-${s}` });
    return { s, box, el: h('label', { class: 'inline' }, box, ' ', h('code', null, s), h('span', { class: 'muted small' }, ` ${what}`)) };
  });
  const expiry = h('select', { name: 'expiresInSeconds', 'data-testid': 'token-expiry' },
    EXPIRY.map(([v, label]) => h('option', { value: v, selected: v === String(90 * 86400) }, label)));
  const user = h('select', { name: 'userId' },
    h('option', { value: '' }, 'none'),
    users.map((u) => h('option', { value: u.id }, u.email || u.name)));
  const rateLimit = h('input', { name: 'rateLimit', type: 'number', min: '0', step: 'any', placeholder: 'default' });
  const rateBurst = h('input', { name: 'rateBurst', type: 'number', min: '0', step: '1', placeholder: 'default' });
  const body = h('div', { class: 'form-grid' },
    field('Name', name, 'Say who uses it and where.'),
    h('fieldset', { name: 'scopes', class: 'scopes' }, h('legend', null, 'Scopes'), boxes.map((b) => b.el)),
    field('Expires after', expiry),
    field('Issued to user', user, 'Deleting the user revokes the token.'),
    // Only an operator sets a token's rate limit; others' tokens take their creator's.
    ctx.isOperator() ? h('fieldset', { name: 'rateLimit', class: 'row' }, h('legend', null, 'Rate limit'),
      field('Requests per second', rateLimit), field('Burst', rateBurst)) : null);
  const value = () => {
    const out = {
      name: name.value.trim(),
      scopes: boxes.filter((b) => b.box.checked).map((b) => b.s),
      expiresInSeconds: Number(expiry.value),
    };
    if (user.value) out.userId = user.value;
    if (number(rateLimit) !== undefined) out.rateLimit = number(rateLimit);
    if (number(rateBurst) !== undefined) out.rateBurst = number(rateBurst);
    return out;
  };
  return { body, value };
}

// showTokenSecret replaces the creation form with the new token's secret.
function showTokenSecret(dialog, created) {
  showSecret(dialog, {
    testid: 'token', label: 'Token secret', secret: created.secret,
    heading: `Token “${created.token.name}” created`,
    detail: 'Arena keeps only a hash of it. Once this dialog closes nobody can see it again; a lost secret means a new token.',
  });
}
