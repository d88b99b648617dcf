// Organisations. An operator sees every one, creates them, sets their
// quotas, and picks the one the admin pages manage; an organisation's admin
// sees their own, with its quota, but cannot change it.

import { accessMessage, get, path, post, put } from './api.js';
import { formatTime, h, replace } from './dom.js';
import { field, formDialog, formError, noAdminApi } from './forms.js';

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
        h('thead', null, h('tr', null, h('th', null, 'Id'), h('th', null, 'Name'), h('th', null, 'Environment'),
          h('th', { title: 'Active sessions, of the quota' }, 'Sessions'), h('th', { title: 'CPU cores reserved, of the quota' }, 'CPU'),
          h('th', null, 'Created'), h('th', null, ''))),
        h('tbody', null, organizations.map((o) => h('tr', { 'data-testid': 'org-row', 'data-org-id': o.id, class: o.id === current ? 'selected' : null },
          h('td', { class: 'mono' }, o.id,
            o.id === ctx.who.organization.id ? h('span', { class: 'chip' }, 'yours') : null),
          h('td', null, o.name),
          h('td', null, h('span', { class: `badge env-${o.environment}` }, o.environment)),
          h('td', { class: 'nowrap', 'data-testid': 'org-sessions' }, usage(o.active.sessions, o.quota.maxSessions, String)),
          h('td', { class: 'nowrap', 'data-testid': 'org-cpu' }, usage(o.active.milliCpu, o.quota.maxMilliCpu, cores)),
          h('td', { class: 'nowrap' }, formatTime(o.createdAt)),
          h('td', { class: 'row-actions' }, operator ? [
            o.quota.source === 'config'
              ? h('span', { class: 'chip', 'data-testid': 'quota-config', title: 'The config file sets this quota; change it there.' }, 'quota from config')
              : h('button', { type: 'button', 'data-testid': 'edit-quota', onclick: () => editQuota(o).then(load) }, 'Quota'),
            h('button', { type: 'button', 'data-testid': 'manage-org', disabled: o.id === current, onclick: () => { ctx.setOrg(o.id); ctx.navigate('applications'); } },
              o.id === current ? 'Managing' : 'Manage'),
          ] : null)))))));
    } catch (err) {
      replace(listSlot, accessMessage(err, 'organisations', 'admin'));
    }
  };

  // editQuota lets an operator replace an organisation's quota: an empty
  // field, or 0, is no bound.
  const editQuota = (o) => {
    const bound = (v) => (v ? String(v) : '');
    const sessions = h('input', { name: 'maxSessions', type: 'number', min: '0', step: '1', value: bound(o.quota.maxSessions), placeholder: 'no bound', 'data-testid': 'quota-sessions' });
    const cpu = h('input', { name: 'maxMilliCpu', type: 'number', min: '0', step: 'any', value: o.quota.maxMilliCpu ? cores(o.quota.maxMilliCpu) : '', placeholder: 'no bound', 'data-testid': 'quota-cpu' });
    return formDialog({
      title: `Quota of ${o.id}`, testid: 'quota-dialog', submit: 'Save quota',
      body: h('div', { class: 'form-grid' },
        field('Most active sessions', sessions, `${o.active.sessions} active now. A create past the quota is refused with 402.`),
        field('Most CPU cores reserved', cpu, `${cores(o.active.milliCpu)} reserved now, by what each application reserves per session.`)),
      save: () => {
        const body = {};
        if (sessions.value.trim() !== '') body.maxSessions = Number(sessions.value);
        if (cpu.value.trim() !== '') {
          const n = Number(cpu.value);
          if (!Number.isFinite(n)) return Promise.reject(formError('maxMilliCpu', 'must be a number of cores, such as 4 or 0.5'));
          body.maxMilliCpu = Math.round(n * 1000);
        }
        return put(path('/admin/v1/orgs', o.id, 'quota'), body);
      },
    });
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

// usage shows what is in use of a bound: "3 / 10", or "3 / no quota".
function usage(used, max, show) {
  return [show(used), ' / ', max ? show(max) : h('span', { class: 'muted' }, 'no quota')];
}

// cores shows thousandths of a core as cores: 2500 is "2.5".
function cores(milli) {
  return String(milli / 1000);
}
