// A restore plan: the options of `dockpack restore`, what the restore would
// do with them (nothing changes), and the command that does it.
import * as api from './api.js';
import { t, bytes } from './i18n.js';
import { h, clear, badge, table, facts } from './dom.js';

export function planForm(p, ctx) {
  const out = h('div', { id: 'plan-result', 'aria-live': 'polite' });
  const project = h('input', { id: 'plan-project', name: 'project', type: 'text', placeholder: p.project || '', autocomplete: 'off' });
  const dest = h('input', { id: 'plan-sqlite-dest', name: 'sqlite_dest', type: 'text', autocomplete: 'off', 'aria-describedby': 'plan-sqlite-hint' });
  const comps = (p.contents || []).map((c) => {
    const box = h('input', { type: 'checkbox', id: `plan-c-${c}`, name: 'components', value: c, checked: c !== 'db' });
    return { c, box, label: h('label', { class: 'check', for: `plan-c-${c}` }, box, t(`ui.component.${c}`)) };
  });
  const force = h('input', { type: 'checkbox', id: 'plan-force', name: 'force' });
  const stop = h('input', { type: 'checkbox', id: 'plan-stop', name: 'stop_running' });
  const form = h('form', { id: 'plan-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'plan-project' }, t('ui.plan.project')),
      h('div', { class: 'control' }, project, h('span', { class: 'hint' }, t('ui.plan.project_hint', p.project || '–')))),
    h('fieldset', {}, h('legend', {}, t('ui.plan.components')), comps.map((x) => x.label)),
    h('div', { class: 'field' }, h('label', { for: 'plan-sqlite-dest' }, t('ui.plan.sqlite_dest')),
      h('div', { class: 'control' }, dest, h('span', { class: 'hint', id: 'plan-sqlite-hint' }, t('ui.plan.sqlite_hint')))),
    h('fieldset', {}, h('legend', {}, t('ui.plan.options')),
      h('label', { class: 'check', for: 'plan-force' }, force, t('ui.plan.force')),
      h('label', { class: 'check', for: 'plan-stop' }, stop, t('ui.plan.stop'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'plan-submit' }, t('ui.plan.submit'))));

  function query() {
    const q = new URLSearchParams({ lang: ctx.lang });
    if (project.value.trim()) q.set('project', project.value.trim());
    const chosen = comps.filter((x) => x.box.checked).map((x) => x.c);
    if (chosen.length) q.set('components', chosen.join(','));
    if (dest.value.trim()) q.set('sqlite_dest', dest.value.trim());
    if (force.checked) q.set('force', 'true');
    if (stop.checked) q.set('stop_running', 'true');
    return q;
  }

  async function update() {
    const q = query();
    clear(out).append(h('p', { class: 'muted' }, t('ui.loading')));
    try {
      const res = await api.get(`v1/packs/${encodeURIComponent(p.name)}/restore-plan?${q}`, ctx.signal);
      clear(out).append(renderPlan(p, res, q));
    } catch (e) {
      clear(out).append(h('p', { class: 'note fail break', id: 'plan-error' }, e.detail || e.message));
      if (e.status === 401) ctx.fail(e);
    }
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    update();
  });
  update();
  return h('div', {}, h('h3', { tabindex: '-1', class: 'break' }, t('ui.plan.title', p.name)), form, out);
}

function renderPlan(p, res, q) {
  const plan = res.plan;
  const el = h('div', { id: 'plan', data: { problems: String((plan.problems || []).length) } });
  el.append(facts([
    [t('ui.plan.from'), `${plan.pack_name} (${plan.pack_project})`], [t('ui.plan.into'), plan.project],
    [t('ui.plan.components'), (plan.components || []).map((c) => t(`ui.component.${c}`)).join(', ')], [t('ui.plan.reads'), bytes(plan.bytes)],
  ]));
  if ((plan.problems || []).length) {
    el.append(h('div', { class: 'note fail', id: 'plan-problems' }, h('strong', {}, t('ui.plan.refused')),
      h('ul', {}, plan.problems.map((x) => h('li', { class: 'break' }, x)))));
  } else {
    el.append(h('p', { class: 'note', id: 'plan-ok' }, t('ui.plan.would_run')));
  }
  if ((plan.notes || []).length) el.append(h('ul', { class: 'small' }, plan.notes.map((x) => h('li', { class: 'break' }, x))));
  if ((plan.volumes || []).length) {
    el.append(h('h4', {}, t('ui.plan.volumes')), table(t('ui.plan.volumes'), [
      { label: t('ui.col.volume') }, { label: t('ui.col.target') }, { label: t('ui.col.action') }, { label: t('ui.col.size'), cls: 'num' }, { label: t('ui.col.reason') },
    ], plan.volumes.map((v) => ({
      attrs: { data: { volume: v.name, action: v.action } },
      cells: [h('span', { class: 'mono break' }, v.name), h('span', { class: 'mono break' }, v.target), badge(v.action, t(`ui.action.${v.action}`)),
        bytes(v.size), [v.reason || '', (v.users || []).length ? ` ${t('ui.plan.users', v.users.join(', '))}` : '']],
    }))));
  }
  if ((plan.images || []).length) {
    el.append(h('h4', {}, t('ui.plan.images')), table(t('ui.plan.images'), [{ label: t('ui.col.image') }, { label: t('ui.col.action') }],
      plan.images.map((im) => ({ cells: [h('span', { class: 'mono break' }, (im.tags || []).join(', ') || im.config_digest),
        [badge(im.action, t(`ui.action.${im.action}`)), (im.moves || []).length ? ` ${im.moves.join(', ')}` : '']] }))));
  }
  if (plan.sqlite) {
    el.append(h('h4', {}, t('ui.plan.database')), facts([[t('ui.plan.sqlite_dest'), plan.sqlite.dest || '–'],
      [t('ui.col.action'), badge(plan.sqlite.action, t(`ui.action.${plan.sqlite.action}`))], [t('ui.col.reason'), plan.sqlite.reason || '']]));
  }
  if ((plan.stop || []).length) el.append(h('p', {}, t('ui.plan.stops', plan.stop.join(', '))));
  el.append(command(p, q));
  return el;
}

// command is the CLI restore the plan describes: restoring changes
// volumes, images and the database, so the page shows it and does not run it.
function command(p, q) {
  const args = ['dockpack', 'restore', shellQuote(p.path)];
  if (q.get('project')) args.push('--project', shellQuote(q.get('project')));
  if (q.get('components')) args.push('--components', q.get('components'));
  if (q.get('sqlite_dest')) args.push('--sqlite-dest', shellQuote(q.get('sqlite_dest')));
  if (q.get('force')) args.push('--force');
  if (q.get('stop_running')) args.push('--stop-running');
  const text = args.join(' ');
  const copy = h('button', { type: 'button', id: 'plan-copy' }, t('ui.plan.copy'));
  const done = h('span', { class: 'hint', role: 'status' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      done.textContent = t('ui.plan.copied');
    } catch {
      done.textContent = t('ui.plan.copy_failed');
    }
  });
  return h('div', { class: 'panel', id: 'plan-cli' }, h('p', {}, t('ui.plan.cli')), h('pre', { id: 'plan-command' }, text),
    h('div', { class: 'row' }, copy, done));
}

function shellQuote(s) {
  return /^[A-Za-z0-9_./:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
