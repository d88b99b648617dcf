// Entry point: signing in and out, the header, and a hash router that mounts
// one view at a time. Each view is a module exporting mount(element, ctx,
// where), which returns a function that stops whatever it started (timers,
// streams). The hash is #/view/segment…?query: where holds the segments
// after the view's name, decoded, and the query.

import { ApiError, errorBox, get, setToken, token } from './api.js';
import { replace, setText, setTitle } from './dom.js';
import * as sessions from './sessions.js';
import * as nodes from './nodes.js';
import * as usage from './usage.js';
import * as applications from './applications.js';
import * as tokens from './tokens.js';
import * as users from './users.js';
import * as webhooks from './webhooks.js';
import * as orgs from './orgs.js';

const views = { sessions, nodes, usage, applications, tokens, users, webhooks, orgs };

const ORG_KEY = 'arena.org';

// ctx is what views share: who is signed in and which organisation the
// admin views manage.
const ctx = {
  // who is GET /admin/v1/whoami's answer, or null on a server without it.
  who: null,
  scopes() {
    return (this.who && this.who.token.scopes) || [];
  },
  isOperator() {
    return this.scopes().includes('operator');
  },
  // org is the organisation the admin views manage: the token's own, or for
  // an operator the one picked on the Organisations page.
  org() {
    if (!this.who) return '';
    return (this.isOperator() && sessionStorage.getItem(ORG_KEY)) || this.who.organization.id;
  },
  setOrg(id) {
    sessionStorage.setItem(ORG_KEY, id);
  },
  navigate(view) {
    location.hash = `#/${view}`;
  },
  signOut,
};

let unmount = null;

// identify validates the token: GET /admin/v1/whoami names it and its
// organisation. A server without the admin API answers 404; then any
// authenticated read tells a good token from a bad one.
async function identify() {
  try {
    return await get('/admin/v1/whoami');
  } catch (err) {
    if (!(err instanceof ApiError && err.routeMissing)) throw err;
  }
  await get('/session');
  return null;
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const input = form.querySelector('#signin-token');
  const button = form.querySelector('button[type=submit]');
  const errorSlot = form.querySelector('#signin-error');
  replace(errorSlot);
  button.disabled = true;
  setToken(input.value.trim());
  try {
    ctx.who = await identify();
  } catch (err) {
    setToken('');
    const shown = err instanceof ApiError && err.status === 401
      ? new ApiError(401, { message: 'The server did not accept this token.', details: err.message })
      : err;
    replace(errorSlot, errorBox(shown));
    button.disabled = false;
    return;
  }
  input.value = '';
  button.disabled = false;
  showApp();
}

function signOut() {
  if (unmount) unmount();
  unmount = null;
  setToken('');
  sessionStorage.removeItem(ORG_KEY);
  ctx.who = null;
  replace(document.getElementById('view'));
  showSignIn();
}

function showSignIn(message) {
  document.getElementById('app').hidden = true;
  document.getElementById('signin').hidden = false;
  const slot = document.getElementById('signin-error');
  replace(slot, message ? errorBox(message) : null);
  document.getElementById('signin-token').focus();
}

function showApp() {
  document.getElementById('signin').hidden = true;
  document.getElementById('app').hidden = false;
  const who = ctx.who;
  if (who) {
    setText(document.getElementById('identity-org'), who.organization.name || who.organization.id);
    setTitle(document.getElementById('identity-org'), `${who.organization.id} (${who.organization.environment})`);
    setText(document.getElementById('identity-token'), `token “${who.token.name}” · ${who.token.scopes.join(', ')}`);
  } else {
    setText(document.getElementById('identity-org'), 'Signed in');
    setText(document.getElementById('identity-token'), 'this server has no admin API: organisation details unavailable');
  }
  route();
}

// parseHash splits the hash into the view's name and where in it.
function parseHash() {
  const [pathPart, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  let segments;
  try {
    segments = pathPart.split('/').map(decodeURIComponent);
  } catch {
    segments = ['']; // a malformed escape names no view
  }
  return { name: segments[0], where: { segments: segments.slice(1).filter(Boolean), query: new URLSearchParams(query) } };
}

function route() {
  if (document.getElementById('app').hidden) return;
  const { name, where } = parseHash();
  if (!views[name]) {
    // Also the first visit: replaceState keeps the back button useful.
    history.replaceState(null, '', '#/sessions');
    return route();
  }
  if (unmount) unmount();
  for (const a of document.querySelectorAll('.sidebar a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const el = replace(document.getElementById('view'));
  el.dataset.view = name;
  document.title = `${views[name].title} · Arena`;
  unmount = views[name].mount(el, ctx, where) || null;
}

// recheck runs after any 401 while signed in: the token itself is no longer
// accepted (revoked or expired meanwhile), so there is no point staying in.
// It asks once more first, so that one stray answer cannot sign anyone out.
let rechecking = false;
async function recheck() {
  if (rechecking || document.getElementById('app').hidden || !token()) return;
  rechecking = true;
  try {
    await identify();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut();
      showSignIn(new ApiError(401, { message: 'Signed out: the token is no longer accepted.', details: err.message }));
    }
  } finally {
    rechecking = false;
  }
}

async function start() {
  window.addEventListener('arena:unauthorized', recheck);
  document.getElementById('signin-form').addEventListener('submit', signIn);
  document.getElementById('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  if (!token()) return showSignIn();
  // A reload keeps the token: check it is still good (it may have been
  // revoked or have expired meanwhile).
  try {
    ctx.who = await identify();
  } catch (err) {
    setToken('');
    return showSignIn(err instanceof ApiError && err.status === 401
      ? new ApiError(401, { message: 'Signed out: the token is no longer accepted.', details: err.message })
      : err);
  }
  showApp();
}

start();
