// Organisations. An operator sees every one, creates them, and picks the one
// the admin pages manage; an organisation's admin sees their own.

import { accessMessage, get, post } from './api.js';
import { formatTime, h, replace } from './dom.js';
import { field, formDialog, noAdminApi } from './forms.js';

export const title = 'Organisations';

export function mount(root, ctx) {
  if (!ctx.who) return noAdminApi(root, 'organisations');
  const operator = ctx.isOperator();
  const listSlot = h('div', { 'data-testid': 'orgs' });
  const create = operator ? h('button', { type: 'button', class: 'primary', 'data-testid': 'new-org' }, 'New organisation') : null;
  replace(root,
    h('div', { class: 'view-head' }, h('h2', null, 'Organisations'), h('span', { class: 'spacer' }), create),
    operator ? h('p', { class: 'muted' }, 'Manage picks the organisation whose applications, tokens and users the admin pages show.') : null,
    listSlot);

  const load = async () => {
    try {
      const { organizations } = await get('/admin/v1/orgs');
      const current = ctx.org();
      replace(listSlot, h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'org-table' },
        h('thead', null, h('tr', null, h('th', null, 'Id'), h('th', null, 'Name'), h('th', null, 'Environment'), h('th', null, 'Created'), h('th', null, ''))),
        h('tbody', null, organizations.map((o) => h('tr', { 'data-testid': 'org-row', 'data-org-id': o.id, class: o.id === current ? 'selected' : null },
          h('td', { class: 'mono' }, o.id,
            o.id === ctx.who.organization.id ? h('span', { class: 'chip' }, 'yours') : null),
          h('td', null, o.name),
          h('td', null, h('span', { class: `badge env-${o.environment}` }, o.environment)),
          h('td', { class: 'nowrap' }, formatTime(o.createdAt)),
          h('td', { class: 'row-actions' }, operator
            ? h('button', { type: 'button', 'data-testid': 'manage-org', disabled: o.id === current, onclick: () => { ctx.setOrg(o.id); ctx.navigate('applications'); } },
              o.id === current ? 'Managing' : 'Manage')
            : null)))))));
    } catch (err) {
      replace(listSlot, accessMessage(err, 'organisations', 'admin'));
    }
  };

  if (create) {
    create.addEventListener('click', async () => {
      const id = h('input', { name: 'id', required: true, spellcheck: 'false', 'data-testid': 'org-id', placeholder: 'studio-x' });
      const name = h('input', { name: 'name', required: true, 'data-testid': 'org-name' });
      const environment = h('select', { name: 'environment', 'data-testid': 'org-environment' },
        h('option', { value: 'sandbox' }, 'sandbox'), h('option', { value: 'production' }, 'production'));
      await formDialog({
        title: 'New organisation', testid: 'org-dialog', submit: 'Create organisation',
        body: h('div', { class: 'form-grid' },
          field('Id', id, 'Lower-case letters, digits, ".", "_" and "-"; it cannot change.'),
          field('Name', name), field('Environment', environment)),
        save: () => post('/admin/v1/orgs', { id: id.value.trim(), name: name.value.trim(), environment: environment.value }),
      });
      load();
    });
  }
  load();
  return null;
}
