// The page's messages come from the daemon's catalogue (the CLI's: the
// "ui.*" entries, fmt format strings), served as i18n/<lang>.json.

const LANG_KEY = 'dockpack.lang';
let lang = 'en';
let messages = {};

// pickLang is the saved choice, else the browser's language.
export function pickLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const low = l.toLowerCase();
    if (low.startsWith('zh')) return 'zh-CN';
    if (low.startsWith('en')) return 'en';
  }
  return 'en';
}

// load fetches a language's messages (relative to the page, no token: they hold no data).
export async function load(l, save = false) {
  const res = await fetch(new URL(`i18n/${l}.json`, location.href), { cache: 'no-cache' });
  if (!res.ok) throw new Error(`messages ${l}: HTTP ${res.status}`);
  const body = await res.json();
  lang = body.lang;
  messages = body.messages;
  if (save) localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  document.title = t('ui.title');
}

// has reports whether the catalogue has a message.
export function has(key) {
  return Object.hasOwn(messages, key);
}

export function current() {
  return lang;
}

// t formats a message like Go's fmt: %s %d %v, %[n]s, %%.
export function t(key, ...args) {
  const f = messages[key];
  if (f === undefined) return args.length ? `${key} ${args.join(' ')}` : key;
  let next = 0;
  return f.replace(/%(?:\[(\d+)\])?([-+# 0]*\d*(?:\.\d+)?)([sdvqf%])/g, (m, idx, _flags, verb) => {
    if (verb === '%') return '%';
    const i = idx ? Number(idx) - 1 : next;
    next = i + 1;
    const a = args[i];
    if (verb === 'q') return JSON.stringify(String(a));
    return String(a);
  });
}

export function num(n, digits = 0) {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(n);
}

// bytes in binary units (KiB, MiB, …), like the CLI.
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${num(v, i === 0 ? 0 : 1)} ${units[i]}`;
}

// duration of ms, e.g. "1 h 2 min", "4.2 s".
export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '–';
  const s = ms / 1000;
  if (s < 60) return t('ui.unit.s', num(s, s < 10 ? 1 : 0));
  const m = Math.floor(s / 60);
  if (m < 60) return t('ui.unit.min_s', m, Math.round(s % 60));
  return t('ui.unit.h_min', Math.floor(m / 60), m % 60);
}

// when formats a time (ms since the epoch, or an RFC 3339 string) in
// the browser's zone, or in timeZone when given (a schedule's zone).
export function when(v, timeZone) {
  if (v === null || v === undefined || v === '') return '–';
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  const o = { dateStyle: 'medium', timeStyle: 'short' };
  if (timeZone === 'daemon' && typeof v === 'string') {
    // the daemon's own zone, which it does not name: its wall clock, as the time says it
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(v);
    if (m) {
      const wall = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]));
      return new Intl.DateTimeFormat(lang, { ...o, timeZone: 'UTC' }).format(wall);
    }
  }
  if (timeZone && timeZone !== 'daemon') {
    try {
      return new Intl.DateTimeFormat(lang, { ...o, timeZone, timeZoneName: 'short' }).format(d);
    } catch {
      // an IANA name the browser does not know: the browser's zone
    }
  }
  return new Intl.DateTimeFormat(lang, o).format(d);
}

// ago is "5 min ago" for a time in ms.
export function ago(ms) {
  return t('ui.ago', duration(Date.now() - ms));
}
