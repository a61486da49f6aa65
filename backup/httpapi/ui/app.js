// The admin page: sign-in, language, navigation between the views, and
// the one place errors are shown.
import * as api from './api.js';
import * as i18n from './i18n.js';
import { h, clear } from './dom.js';
import * as now from './view_now.js';
import * as history from './view_history.js';
import * as packs from './view_packs.js';
import * as health from './view_health.js';
import * as settings from './view_settings.js';
import * as drills from './view_drills.js';

const views = { now, history, packs, health, settings, drills };
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const alertBox = document.getElementById('alert');
const footStatus = document.getElementById('foot-status');
const signout = document.getElementById('signout');
const langSelect = document.getElementById('lang');

let current = null; // {name, controller, cleanup}
let signedIn = false;

function showAlert(msg, kind = '') {
  alertBox.className = `alert ${kind}`.trim();
  alertBox.textContent = msg;
  alertBox.hidden = !msg;
}

function status(msg) {
  footStatus.textContent = msg;
}

// fail shows an error: a refused token leads back to the sign-in form and
// takes every view's data off the page.
function fail(err) {
  if (err && err.name === 'AbortError') return;
  if (err instanceof api.AuthError) {
    signOut(api.token() ? i18n.t('ui.signin.refused', err.detail || err.code) : '');
    return;
  }
  if (err instanceof api.ApiError) {
    showAlert(i18n.t('ui.error.api', err.status, err.code || '-', err.detail || err.message));
    return;
  }
  showAlert(i18n.t('ui.error.other', String(err && err.message ? err.message : err)));
}

function stopView() {
  if (!current) return;
  current.controller.abort();
  if (typeof current.cleanup === 'function') current.cleanup();
  current = null;
}

function viewName() {
  const name = location.hash.replace(/^#/, '').split('/')[0];
  return views[name] ? name : 'now';
}

// show renders the view named in the location's hash.
async function show() {
  if (!signedIn) return;
  stopView();
  showAlert('');
  const name = viewName();
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const controller = new AbortController();
  const ctx = { signal: controller.signal, fail, alert: showAlert, status, rerender: show, lang: i18n.current() };
  current = { name, controller, cleanup: null };
  clear(main);
  main.dataset.view = name;
  main.dataset.ready = '';
  document.title = `${i18n.t(`ui.nav.${name}`)} · ${i18n.t('ui.title')}`;
  try {
    const cleanup = await views[name].render(main, ctx);
    if (current && current.controller === controller) {
      current.cleanup = cleanup;
      main.dataset.ready = '1'; // the view shows its data (tests wait for it)
    } else if (typeof cleanup === 'function') cleanup();
  } catch (err) {
    fail(err);
  }
}

function signOut(message) {
  stopView();
  api.setToken('');
  signedIn = false;
  nav.hidden = true;
  signout.hidden = true;
  showAlert('');
  renderSignIn(message);
}

// renderSignIn asks for the bearer token (nothing else is shown until the
// daemon accepts it).
function renderSignIn(message) {
  clear(main);
  main.dataset.view = 'signin';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    spellcheck: 'false', 'aria-describedby': 'token-hint' });
  const err = h('p', { id: 'signin-error', class: 'note fail', role: 'alert', hidden: !message }, message || '');
  const form = h('form', { class: 'panel signin', id: 'signin', novalidate: true },
    h('h1', {}, i18n.t('ui.signin.title')),
    h('p', {}, i18n.t('ui.signin.intro')),
    err,
    h('div', { class: 'field' }, h('label', { for: 'token' }, i18n.t('ui.signin.token')),
      h('div', { class: 'control' }, input, h('span', { id: 'token-hint', class: 'hint' }, i18n.t('ui.signin.hint')))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, i18n.t('ui.signin.submit'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const tok = input.value.trim();
    if (!tok) {
      err.textContent = i18n.t('ui.signin.empty');
      err.hidden = false;
      input.focus();
      return;
    }
    api.setToken(tok);
    await start();
  });
  main.append(form);
  input.focus();
}

// start checks the credentials (a token, or the embedder's auth) with one
// call and shows the views, or the sign-in form.
async function start() {
  try {
    await api.get('v1/settings');
  } catch (err) {
    if (err instanceof api.AuthError) {
      signOut(api.token() ? i18n.t('ui.signin.refused', err.detail || err.code) : '');
      return;
    }
    fail(err);
    return;
  }
  signedIn = true;
  nav.hidden = false;
  signout.hidden = false;
  await show();
  main.focus();
}

async function changeLang() {
  try {
    await i18n.load(langSelect.value, true);
  } catch (err) {
    fail(err);
    return;
  }
  if (signedIn) await show();
  else renderSignIn('');
}

async function boot() {
  const lang = i18n.pickLang();
  langSelect.value = lang;
  try {
    await i18n.load(lang);
  } catch (err) {
    showAlert(String(err.message || err));
    return;
  }
  langSelect.addEventListener('change', changeLang);
  signout.addEventListener('click', () => signOut(''));
  document.querySelector('.skip-link').addEventListener('click', (ev) => {
    ev.preventDefault(); // the hash names the view: move the focus instead
    main.focus();
  });
  window.addEventListener('hashchange', () => {
    show().then(() => main.focus());
  });
  await start();
}

boot();
