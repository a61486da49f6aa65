// Drills: the recorded restore drills, and running one (verify a job's
// pack, restore its database into a staging folder, compare checksums).
import * as api from './api.js';
import { t, when, duration } from './i18n.js';
import { h, clear, badge, table, section } from './dom.js';
import { checkList } from './checks.js';

export async function render(main, ctx) {
  const [jobs, drills] = await Promise.all([
    api.get('v1/jobs?status=completed&limit=50', ctx.signal),
    api.get('v1/drills?limit=50', ctx.signal).catch((e) => ({ error: e })),
  ]);
  const listBox = h('div', { id: 'drills-box' });
  const resultBox = h('div', { id: 'drill-result', 'aria-live': 'polite' });
  main.append(h('h1', {}, t('ui.nav.drills')),
    section(t('ui.drills.run'), h('p', { class: 'muted' }, t('ui.drills.intro')), drillForm(jobs.jobs.filter((j) => j.output_dir && j.package_hash), ctx, resultBox, refresh), resultBox),
    section(t('ui.drills.list'), listBox));

  function renderList(d) {
    clear(listBox);
    if (d.error) {
      listBox.append(h('p', { class: 'note fail' }, d.error.status === 404 ? t('ui.drills.unavailable') : (d.error.detail || d.error.message)));
      return;
    }
    if (!d.items.length) {
      listBox.append(h('p', { id: 'no-drills' }, t('ui.drills.empty')));
      return;
    }
    listBox.append(table(t('ui.drills.list'), [
      { label: t('ui.col.drill') }, { label: t('ui.col.job'), cls: 'num' }, { label: t('ui.col.executed') }, { label: t('ui.col.by') },
      { label: t('ui.col.status') }, { label: t('ui.col.target') }, { label: t('ui.col.failed') },
    ], d.items.map((x) => ({
      attrs: { data: { drill: x.drill_id, status: x.acceptance_status } },
      cells: [h('span', { class: 'mono break' }, x.drill_id), String(x.job_id), when(x.executed_at_ms), x.executed_by,
        badge(x.acceptance_status, t(`ui.drill.${x.acceptance_status}`)), x.restore_target,
        (x.verification_report.failed || []).join('; ') || '–'],
    })), { id: 'drills-table' }));
  }

  async function refresh() {
    renderList(await api.get('v1/drills?limit=50', ctx.signal).catch((e) => ({ error: e })));
  }
  renderList(drills);
  return null;
}

function drillForm(jobs, ctx, resultBox, refresh) {
  if (!jobs.length) return h('p', { id: 'drill-nojobs' }, t('ui.drills.no_jobs'));
  const job = h('select', { id: 'drill-job', name: 'job' }, jobs.map((j) =>
    h('option', { value: String(j.id) }, t('ui.drills.job_option', j.id, when(j.finished_at_ms), j.pack_name || ''))));
  const target = h('input', { id: 'drill-target', name: 'restore_target', type: 'text', value: 'staging', required: true, autocomplete: 'off', 'aria-describedby': 'drill-target-hint' });
  const notes = h('textarea', { id: 'drill-notes', name: 'verification_notes', rows: '2' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'drill-submit' }, t('ui.drills.submit'));
  const form = h('form', { id: 'drill-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'drill-job' }, t('ui.drills.job')), h('div', { class: 'control' }, job)),
    h('div', { class: 'field' }, h('label', { for: 'drill-target' }, t('ui.drills.target')),
      h('div', { class: 'control' }, target, h('span', { class: 'hint', id: 'drill-target-hint' }, t('ui.drills.target_hint')))),
    h('div', { class: 'field' }, h('label', { for: 'drill-notes' }, t('ui.drills.notes')), h('div', { class: 'control' }, notes)),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const j = jobs.find((x) => String(x.id) === job.value);
    submit.disabled = true;
    const t0 = Date.now();
    clear(resultBox).append(h('p', { class: 'muted' }, t('ui.drills.running', j.id)));
    try {
      const body = { job_id: j.id, backup_path: j.output_dir, backup_hash: j.package_hash, restore_target: target.value.trim() };
      if (notes.value.trim()) body.verification_notes = notes.value.trim();
      const d = await api.post('v1/drills', body, ctx.signal);
      clear(resultBox).append(h('p', { class: `note ${d.acceptance_status === 'passed' ? '' : 'fail'}`, id: 'drill-outcome', data: { status: d.acceptance_status } },
        t('ui.drills.outcome', d.drill_id, t(`ui.drill.${d.acceptance_status}`), duration(Date.now() - t0))),
      checkList(d.verification_report.checks, 'drill-checks'));
      await refresh();
    } catch (e) {
      clear(resultBox);
      if (e.status === 409) resultBox.append(h('p', { class: 'note warn', role: 'alert' }, t('ui.drills.busy', e.jobID || '?')));
      else if (e.status === 401) ctx.fail(e);
      else resultBox.append(h('p', { class: 'note fail break', role: 'alert' }, e.detail || e.message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
