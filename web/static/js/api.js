// The panel's only way to the server: Arena's public HTTP API on the same
// origin, authenticated with the signed-in token. Nothing here is privileged;
// the panel can do exactly what its token can do with curl.

import { h } from './dom.js';

const TOKEN_KEY = 'arena.token';

// The token lives in sessionStorage: it survives a reload but not the tab,
// and no other tab or later visit sees it.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// ApiError is a failed request, carrying the fields of Arena's error body
// (statusCode, code, message, details, violations...). status is 0 when the
// server could not be reached at all.
export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && body.message) || fallback || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = (body && body.code) || '';
    this.details = (body && body.details) || '';
    this.identifier = (body && body.identifier) || '';
    this.violations = (body && Array.isArray(body.violations)) ? body.violations : [];
  }

  // routeMissing tells a path the server does not serve (an older Arena,
  // or the admin API not deployed yet) from a resource that is not there.
  get routeMissing() {
    return this.status === 404 && (this.message.startsWith('no route for ') || this.code === '');
  }
}

// request sends one API call. body, when given, is sent as JSON. It resolves
// with the parsed JSON answer (null for 204), or with the Response itself
// when raw is set, for streams; it rejects with an ApiError for any non-2xx
// answer and passes an AbortError through untouched.
export async function request(method, path, { body, signal, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  const init = { method, headers, signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  // A read is tried once more when the connection fails: Chromium drops
  // requests in flight whenever an interface comes or goes, which a Docker
  // host's containers make happen all the time. A write is not, since it
  // may have arrived.
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(path, init);
      break;
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      if (method !== 'GET' || attempt === 2) {
        throw new ApiError(0, null, `The server could not be reached (${err.message}).`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  if (!res.ok) {
    const err = await errorOf(res);
    // A 401 means a token no longer valid (revoked, expired): main.js
    // confirms it and signs out. A missing scope is a 403, which the view
    // explains.
    if (err.status === 401) window.dispatchEvent(new CustomEvent('arena:unauthorized'));
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : res.text();
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not Arena's error body (a proxy's page, say): the status must do.
  }
  return new ApiError(res.status, body, `${res.status} ${res.statusText}`.trim());
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, body) => request('POST', path, { body });
export const put = (path, body) => request('PUT', path, { body });
export const del = (path) => request('DELETE', path);

// path joins URL path segments, escaping each: ids and names come from users.
export function path(...segments) {
  return segments.map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join('/');
}

// errorBox shows an error to the user: the message, what to do about it, and
// every field violation. Field names are matched to form inputs by their name
// attribute, so that a form can mark the offending ones.
export function errorBox(err, form) {
  if (form) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }
  if (!(err instanceof ApiError)) {
    return h('div', { class: 'error', role: 'alert', 'data-testid': 'error' }, String(err && err.message || err));
  }
  const violations = err.violations.map((v) => {
    if (form) {
      // A list edited in one input (regions) is named by its element
      // (regions[1]): the input of the whole list is the one to mark.
      const input = form.querySelector(`[name="${CSS.escape(v.field)}"]`)
        || form.querySelector(`[name="${CSS.escape(v.field.replace(/\[\d+\]$/, ''))}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
    return h('li', null, h('code', null, v.field), ': ', v.description);
  });
  return h('div', { class: 'error', role: 'alert', 'data-testid': 'error' },
    h('strong', null, err.message),
    err.details ? h('p', null, err.details) : null,
    violations.length ? h('ul', null, violations) : null,
    err.identifier ? h('p', { class: 'muted small' }, `Request ${err.identifier}`) : null);
}

// accessMessage explains a 403 on a page that needs more than the token has.
export function accessMessage(err, what, scope) {
  if (err instanceof ApiError && err.status === 403) {
    return h('div', { class: 'notice', 'data-testid': 'forbidden' },
      h('strong', null, `This token may not see ${what}.`),
      h('p', null, `It needs the ${scope} scope. Sign in with such a token, or ask an operator for one.`),
      h('p', { class: 'muted small' }, `The server said: ${err.message}`));
  }
  if (err instanceof ApiError && err.routeMissing) {
    return h('div', { class: 'notice', 'data-testid': 'unavailable' },
      h('strong', null, `This server does not serve ${what}.`),
      h('p', null, 'It runs a version of Arena without this part of the admin API.'));
  }
  return errorBox(err);
}
