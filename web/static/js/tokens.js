// API tokens of an organisation. A new token's secret is in the answer to
// its creation alone (Arena keeps only a hash): the panel shows it once, in
// the dialog that created it, and keeps it nowhere. Closing the dialog or
// reloading the page loses it for good, which the dialog says.

import { accessMessage, del, errorBox, get, path, post } from './api.js';
import { confirmDialog, formatTime, h, replace } from './dom.js';
import { adminHead, field, formDialog, noAdminApi, number } from './forms.js';

export const title = 'Tokens';

const SCOPES = [
  ['sessions:read', 'list and describe sessions'],
  ['sessions:write', 'start and stop sessions, players'],
  ['logs', 'read game server output'],
  ['artifacts', 'download artifacts'],
  ['usage', 'read usage and cost'],
  ['admin', 'manage this organisation'],
  ['operator', 'run the installation'],
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
        showSecret(dialog, created);
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

// showSecret replaces the creation form with the new token's secret. It is
// in this dialog's DOM only; closing the dialog removes it from the page.
function showSecret(dialog, created) {
  const secret = h('input', { readOnly: true, value: created.secret, class: 'mono secret', 'data-testid': 'token-secret', spellcheck: 'false', 'aria-label': 'Token secret' });
  const status = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button', 'data-testid': 'copy-secret' }, 'Copy');
  copy.addEventListener('click', async () => {
    secret.select();
    try {
      // The Clipboard API needs a secure context (https or localhost).
      await navigator.clipboard.writeText(created.secret);
      status.textContent = 'Copied.';
    } catch {
      status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
  const done = h('button', { type: 'button', class: 'primary', 'data-testid': 'secret-done', onclick: () => dialog.close('done') }, 'Done');
  replace(dialog,
    h('div', { class: 'form', 'data-testid': 'token-created' },
      h('div', { class: 'dialog-head' }, h('h3', null, `Token “${created.token.name}” created`)),
      h('div', { class: 'notice warn' },
        h('strong', null, 'Copy the secret now: it is shown this once.'),
        h('p', null, 'Arena keeps only a hash of it. Once this dialog closes nobody can see it again; a lost secret means a new token.')),
      h('div', { class: 'secret-row' }, secret, copy),
      status,
      h('div', { class: 'actions' }, done)));
  secret.focus();
  secret.select();
}
