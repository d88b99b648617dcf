// DOM helpers. Every piece of text that came from the API reaches the page
// through these as text nodes or attribute values, never as markup: the
// panel holds a token, and a label or an application name must not be able
// to run script in it.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Bidirectional controls (embeddings, overrides, isolates and marks) in a
// player id or a label would reorder the text around them, so that
// "abc\u202Egpj.exe" reads as "abcexe.jpg": text from the API shows each
// as its escape instead, marked, and never as the character itself.
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
const HAS_BIDI = new RegExp(BIDI.source);

function escapeOf(ch) {
  return `\\u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

// visible returns s with every bidirectional control written as its escape,
// as the page shows it: for attributes (a title) and comparisons.
export function visible(s) {
  return String(s).replace(BIDI, escapeOf);
}

// textNodes returns the nodes that show s: a text node, or, around each
// bidirectional control, a marked span (a tspan in SVG) that shows its
// escape.
function textNodes(s, inSvg) {
  const text = String(s);
  if (!HAS_BIDI.test(text)) return [document.createTextNode(text)];
  const nodes = [];
  let last = 0;
  for (const m of text.matchAll(BIDI)) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    const mark = inSvg ? document.createElementNS(SVG_NS, 'tspan') : document.createElement('span');
    mark.setAttribute('class', 'bidi-escape');
    if (!inSvg) mark.title = 'a bidirectional control character, shown escaped';
    mark.textContent = escapeOf(m[0]);
    nodes.push(mark);
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

// appendText appends s to el as textNodes shows it.
export function appendText(el, s) {
  for (const node of textNodes(s, el.namespaceURI === SVG_NS)) el.appendChild(node);
}

// h builds an HTML element: h('button', {class: 'primary', onclick: fn}, 'Save').
// Attributes named on* become event listeners; value, checked, disabled,
// selected and hidden are set as properties (so that they reflect what the
// user changes later); null, undefined and false attributes are left out.
// Children may be strings (added as text), nodes, arrays of either, or null.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// svg is h for SVG elements, which need their namespace.
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'readOnly', 'required']);

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (PROPERTIES.has(name)) {
      el[name] = value;
    } else if (name === 'title' || name === 'aria-label') {
      // Shown to the user, as text is.
      el.setAttribute(name, visible(value));
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else appendText(el, child);
  }
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replace swaps el's children for the given ones.
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// setText changes a node's text only when it differs, so that the periodic
// refreshes do not disturb a selection the user is making.
export function setText(el, text) {
  if (el.textContent === visible(text)) return;
  clear(el);
  appendText(el, text);
}

// setTitle sets an element's tooltip as the page shows text.
export function setTitle(el, text) {
  el.title = visible(text);
}

// modal opens a <dialog> with the given content and resolves with the
// dialog's returnValue once it closes; the dialog is removed afterwards.
// onOpen receives the dialog, e.g. to focus a field.
export function modal(content, { testid = 'dialog', wide = false, onOpen } = {}) {
  const dialog = h('dialog', { 'data-testid': testid, class: wide ? 'wide' : null }, content);
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue);
    });
    dialog.showModal();
    if (onOpen) onOpen(dialog);
  });
}

// confirmDialog asks a yes/no question in the page (window.confirm would
// block the page's refreshes and cannot be styled) and resolves with true
// when the user confirms.
export async function confirmDialog(message, { ok = 'OK', danger = true } = {}) {
  const form = h('form', { method: 'dialog', class: 'confirm' },
    h('p', null, message),
    h('div', { class: 'actions' },
      h('button', { value: 'cancel', 'data-testid': 'confirm-cancel' }, 'Cancel'),
      h('button', { value: 'ok', class: danger ? 'danger' : 'primary', 'data-testid': 'confirm-ok' }, ok)));
  return (await modal(form, { testid: 'confirm' })) === 'ok';
}

// Formatting helpers, shared by the views.

// formatTime shows a time to the minute, or with seconds to the second.
export function formatTime(value, { seconds = false } = {}) {
  if (!value) return '—';
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: seconds ? 'medium' : 'short' });
}

// formatDate shows the day of a time.
export function formatDate(value) {
  if (!value) return '—';
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

// ago says how long ago a time was, in the largest whole unit.
export function ago(value) {
  const d = value instanceof Date ? value : new Date(value);
  const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// duration formats seconds as e.g. "3h 05m" or "42s".
export function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(s / 3600);
  return `${hours.toLocaleString()}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function cpu(milli) {
  return `${(milli / 1000).toLocaleString(undefined, { maximumFractionDigits: 2 })} CPU`;
}

export function memory(mb) {
  return mb >= 1024 ? `${(mb / 1024).toLocaleString(undefined, { maximumFractionDigits: 1 })} GiB` : `${mb} MiB`;
}

// every runs task now and then again interval ms after each run finishes
// (not on a fixed clock, so that a slow server never gets overlapping
// requests), until the returned function is called. While the tab is hidden
// it waits: nobody is looking.
export function every(interval, task) {
  let timer = 0;
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await task();
      } catch (err) {
        console.error(err); // the task shows its own errors; this is a bug
      }
    }
    if (!stopped) timer = setTimeout(run, interval);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
