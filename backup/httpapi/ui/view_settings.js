// Settings: the editable settings (pinned ones read-only, saying where the
// daemon's configuration sets them), the schedules with their next runs in
// the configured time zone, and retention.
import * as api from './api.js';
import { t, has, when } from './i18n.js';
import { h, clear, facts, section } from './dom.js';

export async function render(main, ctx) {
  const [table, settings, schedule] = await Promise.all([
    api.get('v1/settings/fields', ctx.signal),
    api.get('v1/settings', ctx.signal),
    api.get('v1/schedule', ctx.signal).catch(() => null),
  ]);
  const schedBox = h('div', { id: 'schedule' });
  const retBox = h('div', { id: 'retention' });
  const formBox = h('div', { id: 'settings-box' });
  main.append(h('h1', {}, t('ui.nav.settings')),
    h('div', { class: 'grid' }, section(t('ui.settings.schedules'), schedBox), section(t('ui.settings.retention'), retBox)),
    section(t('ui.settings.edit'), formBox));

  function show(s, sched) {
    renderSchedule(schedBox, s, sched);
    renderRetention(retBox, s);
    clear(formBox).append(settingsForm(table.fields, s, ctx, async (saved) => {
      const sc = await api.get('v1/schedule', ctx.signal).catch(() => null);
      show(saved, sc);
      document.getElementById('settings-saved').hidden = false;
      document.getElementById('settings-saved').focus();
    }));
  }
  show(settings, schedule);
  return null;
}

function renderSchedule(box, s, sched) {
  clear(box);
  const zone = sched && sched.location !== 'Local' ? sched.location : '';
  const next = (expr, at, id) => {
    if (!expr) return h('span', { id }, t('ui.settings.no_schedule'));
    return h('span', { id }, h('code', {}, expr), ' → ', at ? t('ui.settings.next', when(at, zone || 'daemon')) : t('ui.settings.not_active'));
  };
  box.append(facts([
    [t('ui.settings.incremental'), next(s.incremental_schedule, sched && sched.next_incremental, 'next-incremental')],
    [t('ui.settings.full'), next(s.full_backup_schedule, sched && sched.next_full, 'next-full')],
    [t('ui.settings.zone'), zone || (sched ? t('ui.settings.zone_local', utcOffset(sched.next_incremental || sched.next_full)) : '–')],
    [t('ui.settings.enabled'), s.enabled ? t('ui.yes') : t('ui.no')],
    [t('ui.settings.last_skipped'), s.last_skipped_run_at_ms ? `${when(s.last_skipped_run_at_ms)}: ${s.last_skipped_run_reason}` : ''],
  ]));
  if (!sched) box.append(h('p', { class: 'hint' }, t('ui.settings.no_scheduler')));
}

// utcOffset is the offset an RFC 3339 time carries ("+08:00", "Z" → "+00:00").
function utcOffset(iso) {
  const m = /([+-]\d\d:\d\d|Z)$/.exec(iso || '');
  if (!m) return '?';
  return m[1] === 'Z' ? '+00:00' : m[1];
}

function renderRetention(box, s) {
  clear(box).append(facts([
    [t('ui.settings.keeps'), t('ui.settings.keeps_n', s.backup_retention_max)],
    [t('ui.settings.target'), h('span', { class: 'mono break' }, s.local_backup_target_path || s.target_local_dir || '–')],
    [t('ui.settings.pack_count'), s.local_backup_pack_count_skipped ? t('ui.settings.count_unknown') : String(s.local_backup_pack_count)],
    [t('ui.settings.last_run'), s.last_run_at_ms ? when(s.last_run_at_ms) : '–'],
    [t('ui.settings.updated'), s.updated_at_ms ? when(s.updated_at_ms) : '–'],
  ]));
}

// control is the input of one setting, with its current value.
function control(f, v, hintID) {
  const id = `set-${f.name}`;
  const common = { id, name: f.name, 'aria-describedby': hintID, data: { type: f.type } };
  switch (f.type) {
    case 'bool':
      return h('input', { ...common, type: 'checkbox', checked: !!v, disabled: f.pinned });
    case 'choice':
      return h('select', { ...common, disabled: f.pinned }, (f.choices || []).map((c) => h('option', { value: c, selected: c === v }, c)));
    case 'int':
      return h('input', { ...common, type: 'number', min: f.min, max: f.max, step: 1, value: String(v ?? ''), readonly: f.pinned });
    case 'services':
      return h('input', { ...common, type: 'text', value: (v || []).join(', '), readonly: f.pinned, autocomplete: 'off' });
    case 'schedule':
      return h('input', { ...common, type: 'text', value: v || '', placeholder: '0 2 * * *', readonly: f.pinned, autocomplete: 'off', spellcheck: 'false' });
    default:
      return h('input', { ...common, type: 'text', value: v || '', readonly: f.pinned, autocomplete: 'off', spellcheck: 'false' });
  }
}

// valueOf reads a control back into the setting's JSON value.
function valueOf(f, el) {
  switch (f.type) {
    case 'bool': return el.checked;
    case 'int': return el.value.trim() === '' ? null : Number(el.value);
    case 'services': return el.value.split(',').map((x) => x.trim()).filter(Boolean);
    case 'schedule': return el.value.trim() === '' ? null : el.value.trim();
    default: return el.value.trim();
  }
}

function hintOf(f) {
  if (f.pinned) {
    const where = [f.flag ? `--${f.flag}` : '', f.env ? `$${f.env}` : '', f.yaml].filter(Boolean).join(', ');
    return h('span', { class: 'hint pinned' }, t('ui.settings.pinned', where));
  }
  const parts = [];
  if (f.type === 'schedule') parts.push(t('ui.settings.schedule_hint'));
  if (f.type === 'int') parts.push(t('ui.settings.range', f.min, f.max));
  if (has(`ui.settinghint.${f.name}`)) parts.push(t(`ui.settinghint.${f.name}`));
  else if (f.type === 'services') parts.push(t('ui.settings.services_hint'));
  return h('span', { class: 'hint' }, parts.join(' '));
}

function settingsForm(fields, s, ctx, onSaved) {
  const controls = [];
  const err = h('p', { id: 'settings-error', class: 'note fail break', role: 'alert', hidden: true });
  const saved = h('p', { id: 'settings-saved', class: 'note', tabindex: '-1', hidden: true }, t('ui.settings.saved'));
  const form = h('form', { id: 'settings-form', novalidate: true });
  for (const f of fields) {
    const hintID = `hint-${f.name}`;
    const el = control(f, s[f.name], hintID);
    controls.push({ f, el });
    form.append(h('div', { class: 'field', data: { field: f.name, pinned: String(f.pinned) } },
      h('label', { for: el.id }, has(`ui.setting.${f.name}`) ? t(`ui.setting.${f.name}`) : f.name),
      h('div', { class: 'control' }, el, h('span', { id: hintID }, h('code', { class: 'small muted' }, f.name), ' ', hintOf(f)))));
  }
  const reason = h('textarea', { id: 'change-reason', name: 'change_reason', required: true, 'aria-describedby': 'change-reason-hint', rows: '2' });
  form.append(h('div', { class: 'field' }, h('label', { for: 'change-reason' }, t('ui.settings.reason')),
    h('div', { class: 'control' }, reason, h('span', { class: 'hint', id: 'change-reason-hint' }, t('ui.settings.reason_hint')))),
  err, saved,
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'settings-save' }, t('ui.settings.save')),
    h('button', { type: 'reset', id: 'settings-reset' }, t('ui.settings.reset'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    saved.hidden = true;
    const patch = {};
    for (const { f, el } of controls) {
      if (f.pinned) continue;
      const v = valueOf(f, el);
      if (JSON.stringify(v) !== JSON.stringify(s[f.name] ?? (f.type === 'schedule' ? null : s[f.name]))) patch[f.name] = v;
    }
    if (!Object.keys(patch).length) {
      err.textContent = t('ui.settings.unchanged');
      err.hidden = false;
      return;
    }
    if (!reason.value.trim()) {
      err.textContent = t('ui.settings.reason_needed');
      err.hidden = false;
      reason.focus();
      return;
    }
    patch.change_reason = reason.value.trim();
    try {
      const next = await api.put('v1/settings', patch, ctx.signal);
      ctx.status(t('ui.settings.saved'));
      await onSaved(next);
    } catch (e) {
      if (e.status === 401) {
        ctx.fail(e);
        return;
      }
      err.textContent = t('ui.settings.refused', e.code || e.status, e.detail || e.message);
      err.hidden = false;
    }
  });
  return form;
}
