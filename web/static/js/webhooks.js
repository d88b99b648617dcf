// Webhook endpoints of an organisation: URLs Arena POSTs its sessions'
// lifecycle events to, signed with the endpoint's secret, which is in the
// answer to its creation and never again.

import { accessMessage, del, errorBox, get, path, post } from './api.js';
import { confirmDialog, formatTime, h, replace } from './dom.js';
import { adminHead, field, formDialog, noAdminApi, showSecret } from './forms.js';

export const title = 'Webhooks';

const EVENTS = [
  ['session.started', 'placed, container starting'],
  ['session.running', 'running, again after a restart'],
  ['session.stopped', 'stopped for good'],
  ['session.unreachable', 'its node stopped reporting'],
];

export function mount(root, ctx) {
  if (!ctx.who) return noAdminApi(root, 'webhooks');
  const base = path('/admin/v1/orgs', ctx.org(), 'webhooks');
  const listSlot = h('div', { 'data-testid': 'webhooks' });
  const actionSlot = h('div');
  const create = h('button', { type: 'button', class: 'primary', 'data-testid': 'new-webhook' }, 'New webhook');
  replace(root, adminHead(ctx, 'Webhooks', create), actionSlot, listSlot);

  const load = async () => {
    try {
      const { webhooks } = await get(base);
      replace(listSlot, webhooks.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'data-testid': 'webhook-table' },
          h('thead', null, h('tr', null, h('th', null, 'URL'), h('th', null, 'Events'), h('th', null, 'Id'), h('th', null, 'Created'), h('th', null, ''))),
          h('tbody', null, webhooks.map((w) => h('tr', { 'data-testid': 'webhook-row', 'data-webhook-id': w.id },
            h('td', { class: 'mono small' }, w.url),
            h('td', { 'data-testid': 'webhook-events' }, w.events.length ? w.events.join(', ') : 'all'),
            h('td', { class: 'mono small' }, w.id),
            h('td', { class: 'nowrap' }, formatTime(w.createdAt)),
            h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-webhook', onclick: () => remove(w) }, 'Delete')))))))
        : h('p', { class: 'empty' }, 'No webhooks yet.'));
    } catch (err) {
      replace(listSlot, accessMessage(err, 'webhooks', 'admin'));
    }
  };

  async function remove(w) {
    if (!(await confirmDialog(`Delete the webhook to ${w.url}? Its events, retries included, stop at once.`, { ok: 'Delete webhook' }))) return;
    try {
      await del(path(base, w.id));
      replace(actionSlot);
    } catch (err) {
      replace(actionSlot, errorBox(err));
    }
    load();
  }

  create.addEventListener('click', async () => {
    const url = h('input', { name: 'url', type: 'url', required: true, autocomplete: 'off', 'data-testid': 'webhook-url', placeholder: 'https://matchmaker.example/arena-events' });
    const boxes = EVENTS.map(([e, what]) => {
      const box = h('input', { type: 'checkbox', value: e, 'data-testid': `event-${e}` });
      return { e, box, el: h('label', { class: 'inline' }, box, ' ', h('code', null, e), h('span', { class: 'muted small' }, ` ${what}`)) };
    });
    await formDialog({
      title: 'New webhook', testid: 'webhook-dialog', submit: 'Create webhook',
      body: h('div', { class: 'form-grid' },
        field('URL', url, 'Events are POSTed here, signed; redirects are not followed.'),
        h('fieldset', { name: 'events', class: 'scopes' }, h('legend', null, 'Events (none ticked: all)'), boxes.map((b) => b.el))),
      save: () => post(base, { url: url.value.trim(), events: boxes.filter((b) => b.box.checked).map((b) => b.e) }),
      after: (created, dialog) => {
        showWebhookSecret(dialog, created);
        return true; // keep the dialog open on the secret
      },
    });
    load();
  });
  load();
  return null;
}

function showWebhookSecret(dialog, created) {
  showSecret(dialog, {
    testid: 'webhook', label: 'Signing secret', secret: created.secret, heading: 'Webhook created',
    detail: 'Your receiver checks each request\u2019s Arena-Signature with it. A lost secret means a new webhook.',
  });
}
