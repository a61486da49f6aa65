// History: the backup jobs with status, duration, size (and, for a store
// backup, the bytes it added and reused), error, and each job's full log; a
// chart of pack sizes and durations over time.
import * as api from './api.js';
import { t, bytes, duration, when } from './i18n.js';
import { h, clear, badge, table, section } from './dom.js';
import { sizeDurationChart } from './chart.js';

export async function render(main, ctx) {
  const list = await api.get('v1/jobs?limit=100', ctx.signal);
  const jobs = list.jobs;
  main.append(h('h1', {}, t('ui.nav.history')));
  const done = jobs.filter((j) => j.status === 'completed' && j.started_at_ms && j.finished_at_ms).reverse();
  main.append(section(t('ui.history.chart'), done.length
    ? sizeDurationChart(done.map((j) => ({ at: j.finished_at_ms, size: j.bytes_done, ms: j.finished_at_ms - j.started_at_ms, id: j.id })))
    : h('p', { class: 'muted' }, t('ui.history.chart_empty'))));
  if (!jobs.length) {
    main.append(section(t('ui.history.jobs'), h('p', { id: 'no-jobs' }, t('ui.history.empty'))));
    return null;
  }
  const cols = [
    { label: t('ui.col.job'), cls: 'num' }, { label: t('ui.col.started') }, { label: t('ui.col.kind') },
    { label: t('ui.col.status') }, { label: t('ui.col.duration'), cls: 'num' }, { label: t('ui.col.size'), cls: 'num' },
    { label: t('ui.col.components') }, { label: t('ui.col.trigger') }, { label: t('ui.col.error') }, { label: t('ui.col.actions'), cls: 'actions' },
  ];
  const rows = jobs.map((j) => {
    const logRow = h('tr', { class: 'sub', id: `log-row-${j.id}`, hidden: true }, h('td', { colspan: String(cols.length) }));
    const btn = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': `log-row-${j.id}`, data: { job: j.id } },
      t('ui.history.show_log', j.id));
    btn.addEventListener('click', () => toggleLog(j, btn, logRow, ctx));
    const took = j.started_at_ms && j.finished_at_ms ? duration(j.finished_at_ms - j.started_at_ms) : '–';
    const err = j.error_code ? h('span', { class: 'break' }, h('code', {}, j.error_code), j.detail ? ` ${j.detail}` : '') : '';
    return {
      attrs: { id: `job-row-${j.id}`, data: { job: j.id, status: j.status, bytes: j.bytes_done } },
      cells: [String(j.id), when(j.started_at_ms || j.created_at_ms), t(`ui.kind.${j.kind}`), badge(j.status, t(`ui.status.${j.status}`)),
        took, sizeCell(j), (j.components || []).join(', '), j.trigger || '–', err, btn],
      after: logRow,
    };
  });
  main.append(section(t('ui.history.jobs'), table(t('ui.history.jobs'), cols, rows, { id: 'jobs-table' })));
  return null;
}

// sizeCell is a job's size and, when the job wrote into a pack store, what
// it added to the store (compressed) and what the store already held.
function sizeCell(j) {
  if (!j.bytes_done) return '–';
  if (!j.store) return bytes(j.bytes_done);
  let added = 0, reused = 0;
  for (const c of Object.values(j.store)) {
    added += c.new_bytes || 0;
    reused += c.reused_raw_bytes || 0;
  }
  return h('span', {}, bytes(j.bytes_done), h('br'),
    h('small', { class: 'muted store-bytes', data: { new: added, reused } }, t('ui.history.new_reused', bytes(added), bytes(reused))));
}

async function toggleLog(job, btn, row, ctx) {
  const open = btn.getAttribute('aria-expanded') === 'true';
  btn.setAttribute('aria-expanded', String(!open));
  btn.textContent = open ? t('ui.history.show_log', job.id) : t('ui.history.hide_log', job.id);
  row.hidden = open;
  if (open) return;
  const cell = clear(row.firstChild);
  cell.append(h('p', { class: 'muted' }, t('ui.loading')));
  try {
    const log = await api.get(`v1/jobs/${job.id}/log`, ctx.signal);
    const ol = h('ol', { class: 'log', id: `log-${job.id}`, 'aria-label': t('ui.history.log_of', job.id), tabindex: '0' });
    for (const l of log.lines) ol.append(h('li', { class: l.level }, `${when(l.at_ms)} ${l.level} ${l.message}`));
    if (!log.lines.length) ol.append(h('li', {}, t('ui.history.log_empty')));
    clear(cell).append(ol);
  } catch (e) {
    clear(cell);
    ctx.fail(e);
  }
}
