// Users of an organisation: people tokens can be issued to. Deleting a user
// revokes every token issued to them.

import { accessMessage, del, errorBox, get, path, post } from './api.js';
import { confirmDialog, formatTime, h, replace } from './dom.js';
import { adminHead, field, formDialog, noAdminApi } from './forms.js';

export const title = 'Users';

export function mount(root, ctx) {
  if (!ctx.who) return noAdminApi(root, 'users');
  const base = path('/admin/v1/orgs', ctx.org(), 'users');
  const listSlot = h('div', { 'data-testid': 'users' });
  const actionSlot = h('div');
  const create = h('button', { type: 'button', class: 'primary', 'data-testid': 'new-user' }, 'New user');
  replace(root, adminHead(ctx, 'Users', create), actionSlot, listSlot);

  const load = async () => {
    try {
      const { users } = await get(base);
      replace(listSlot, users.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'user-table' },
          h('thead', null, h('tr', null, h('th', null, 'Email'), h('th', null, 'Name'), h('th', null, 'Id'), h('th', null, 'Created'), h('th', null, ''))),
          h('tbody', null, users.map((u) => h('tr', { 'data-testid': 'user-row', 'data-user-id': u.id },
            h('td', null, u.email), h('td', null, u.name), h('td', { class: 'mono small' }, u.id),
            h('td', { class: 'nowrap' }, formatTime(u.createdAt)),
            h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-user', onclick: () => remove(u) }, 'Delete')))))))
        : h('p', { class: 'empty' }, 'No users yet.'));
    } catch (err) {
      replace(listSlot, accessMessage(err, 'users', 'admin'));
    }
  };

  async function remove(u) {
    if (!(await confirmDialog(`Delete user ${u.email}? Every token issued to them is revoked at once.`, { ok: 'Delete user' }))) return;
    try {
      await del(path(base, u.id));
      replace(actionSlot);
    } catch (err) {
      replace(actionSlot, errorBox(err));
    }
    load();
  }

  create.addEventListener('click', async () => {
    const email = h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off', 'data-testid': 'user-email' });
    const name = h('input', { name: 'name', required: true, autocomplete: 'off', 'data-testid': 'user-name' });
    await formDialog({
      title: 'New user', testid: 'user-dialog', submit: 'Create user',
      body: h('div', { class: 'form-grid' }, field('Email', email), field('Name', name)),
      save: () => post(base, { email: email.value.trim(), name: name.value.trim() }),
    });
    load();
  });
  load();
  return null;
}
