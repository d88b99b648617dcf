// Pieces shared by the admin views: the organisation they work on, form
// fields, and the dialog that holds a form until the server accepts it.

import { ApiError, errorBox } from './api.js';
import { h, modal, replace } from './dom.js';

// adminHead is the heading of an admin view, naming the organisation it
// manages (an operator picks it on the Organisations page).
export function adminHead(ctx, title, ...actions) {
  const org = ctx.org();
  return h('div', { class: 'view-head' },
    h('h2', null, title),
    h('span', { class: 'chip', 'data-testid': 'current-org', title: 'The organisation this page manages' }, `organisation ${org}`),
    ctx.isOperator() ? h('a', { href: '#/orgs', class: 'small' }, 'switch') : null,
    h('span', { class: 'spacer' }),
    actions);
}

// noAdminApi explains an admin view on a server that has no admin API:
// then the panel does not know the token's organisation either.
export function noAdminApi(root, what) {
  replace(root, h('div', { class: 'notice', 'data-testid': 'unavailable' },
    h('strong', null, `This server does not serve ${what}.`),
    h('p', null, 'It runs a version of Arena without the /admin/v1 API.')));
}

// field wraps an input with its label and an optional hint.
export function field(label, input, hint) {
  return h('label', { class: 'field' },
    h('span', { class: 'label' }, label),
    input,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

// formDialog shows a form in a dialog. On submit it calls save(form), which
// returns a promise; an error keeps the dialog open and shows the server's
// message and violations, marking the inputs they name. Once save succeeds,
// after(result, dialog) may replace the dialog's content (to show a token's
// secret, say) and return true to keep it open; otherwise it closes.
export function formDialog({ title, testid, body, submit = 'Save', save, after, wide = false, readOnly = false }) {
  const errorSlot = h('div', { 'data-testid': 'form-error' });
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'form-submit', hidden: readOnly }, submit);
  const form = h('form', { class: 'form', 'data-testid': `${testid}-form`, novalidate: true },
    h('div', { class: 'dialog-head' }, h('h3', null, title)),
    // A disabled fieldset disables every control in it at once.
    readOnly ? h('fieldset', { class: 'plain', disabled: true }, body) : body,
    errorSlot,
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-testid': 'form-cancel', onclick: () => form.closest('dialog').close() }, readOnly ? 'Close' : 'Cancel'),
      button));
  // A field the user edits is no longer the one the server complained about.
  form.addEventListener('input', (event) => event.target.removeAttribute('aria-invalid'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    replace(errorSlot);
    let result;
    try {
      result = await save(form);
    } catch (err) {
      replace(errorSlot, errorBox(err, form));
      button.disabled = false;
      return;
    }
    const dialog = form.closest('dialog');
    if (!(after && after(result, dialog))) dialog.close('saved');
  });
  return modal(form, {
    testid, wide,
    onOpen: (dialog) => {
      // Read-only, the only control is the Close button at the bottom:
      // opening there would hide the top of the form.
      if (readOnly) {
        dialog.scrollTop = 0;
        return;
      }
      const first = form.querySelector('input:not([type=hidden]):not([readonly]), select, textarea');
      if (first) first.focus();
    },
  });
}

// lines splits a textarea's value into its non-empty trimmed lines.
export function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

// number reads a numeric input; empty is undefined, so that the server's
// default applies.
export function number(input) {
  return input.value.trim() === '' ? undefined : Number(input.value);
}

// formError is a mistake found before asking the server, in the shape of
// the server's own answer, so that it is shown the same way.
export function formError(field, description) {
  return new ApiError(422, { message: 'Please correct the form.', violations: [{ field, description }] });
}

// showSecret replaces a creation dialog's form with a secret shown this
// once, with a copy button. The secret is in this dialog's DOM only:
// closing the dialog removes it from the page. testid prefixes the test
// ids of the secret (<testid>-secret) and of the content (<testid>-created).
export function showSecret(dialog, { testid, label, secret: value, heading, detail }) {
  const secret = h('input', { readOnly: true, value, class: 'mono secret', 'data-testid': `${testid}-secret`, spellcheck: 'false', 'aria-label': label });
  const status = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button', 'data-testid': 'copy-secret' }, 'Copy');
  copy.addEventListener('click', async () => {
    secret.select();
    try {
      // The Clipboard API needs a secure context (https or localhost).
      await navigator.clipboard.writeText(value);
      status.textContent = 'Copied.';
    } catch {
      status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
  const done = h('button', { type: 'button', class: 'primary', 'data-testid': 'secret-done', onclick: () => dialog.close('done') }, 'Done');
  replace(dialog,
    h('div', { class: 'form', 'data-testid': `${testid}-created` },
      h('div', { class: 'dialog-head' }, h('h3', null, heading)),
      h('div', { class: 'notice warn' },
        h('strong', null, 'Copy the secret now: it is shown this once.'),
        h('p', null, detail)),
      h('div', { class: 'secret-row' }, secret, copy),
      status,
      h('div', { class: 'actions' }, done)));
  secret.focus();
  secret.select();
}
