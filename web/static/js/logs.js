// The log view: GET /logs?follow=true answers a session's output from its
// start and then keeps the response open, writing each new chunk as the
// game server prints it, until the session stops. The view reads the body as
// a stream and appends every chunk as it arrives; closing the view aborts the
// request, which ends the follow on the server too. Of a stopped session the
// answer is the output its node kept, and it ends at once.

import { ApiError, errorBox, request } from './api.js';
import { appendText, h, modal, replace, setText } from './dom.js';

// A browser tab should not grow without bound on a chatty server: past this
// many characters the oldest output is dropped from the view.
const MAX_CHARS = 2_000_000;

// logPane streams a session's output into a pane of its own: the output, its
// state and a follow toggle. stop() ends the stream.
export function logPane(sessionId) {
  const controller = new AbortController();
  const output = h('pre', { class: 'log', 'data-testid': 'log-output', tabindex: '0' });
  const state = h('span', { class: 'badge', 'data-testid': 'log-state' }, 'connecting');
  const follow = h('input', { type: 'checkbox', checked: true, 'data-testid': 'log-autoscroll' });
  const errorSlot = h('div');
  stream(sessionId, controller.signal, output, state, follow, errorSlot);
  return {
    output, state, errorSlot,
    toggle: h('label', { class: 'inline' }, follow, ' follow'),
    stop: () => controller.abort(),
  };
}

// openLogs shows a session's output in a dialog.
export function openLogs(sessionId) {
  const pane = logPane(sessionId);
  const content = h('div', { class: 'log-view', 'data-testid': 'log-view' },
    h('div', { class: 'dialog-head' },
      h('h3', null, 'Output of ', h('code', null, sessionId)),
      pane.state,
      pane.toggle,
      h('form', { method: 'dialog' }, h('button', { 'data-testid': 'log-close' }, 'Close'))),
    pane.errorSlot,
    pane.output);
  modal(content, { testid: 'log-dialog', wide: true }).then(pane.stop);
}

async function stream(id, signal, output, state, follow, errorSlot) {
  let res;
  try {
    res = await request('GET', `/logs?id=${encodeURIComponent(id)}&follow=true`, { signal, raw: true });
  } catch (err) {
    if (signal.aborted) return;
    setState(state, 'failed');
    replace(errorSlot, err instanceof ApiError && err.status === 403
      ? errorBox(new ApiError(403, { message: 'This token may not read logs: it needs the logs scope.', details: err.message }))
      : errorBox(err));
    return;
  }
  setState(state, 'live');
  const reader = res.body.getReader();
  // stream: true keeps a multi-byte character split across chunks whole.
  const decoder = new TextDecoder();
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += append(output, decoder.decode(value, { stream: true }), follow.checked);
      if (size > MAX_CHARS) size = trim(output);
    }
    append(output, decoder.decode(), follow.checked);
    setState(state, 'ended');
    output.dataset.ended = 'true';
  } catch (err) {
    if (signal.aborted) return; // the view was closed: nothing to report
    setState(state, 'interrupted');
    replace(errorSlot, errorBox(new Error(`The output stream broke off: ${err.message}`)));
  }
}

function append(output, text, autoscroll) {
  if (!text) return 0;
  // Stick to the bottom only if the reader is there: scrolling up to read
  // something must not be undone by the next line.
  const atBottom = output.scrollHeight - output.scrollTop - output.clientHeight < 40;
  // The game server's output is user-supplied text like any other: its
  // bidirectional controls are shown escaped.
  appendText(output, text);
  if (autoscroll && atBottom) output.scrollTop = output.scrollHeight;
  return text.length;
}

function trim(output) {
  const text = output.textContent;
  const kept = text.slice(text.length - MAX_CHARS / 2);
  replace(output, '[… older output dropped …]\n', kept);
  return kept.length;
}

function setState(el, value) {
  setText(el, value);
  el.className = `badge log-${value}`;
}
