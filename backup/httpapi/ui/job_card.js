// A job's live card: status, step, a progress bar that never goes back,
// bytes, rate, ETA, the log, cancel. Built once per job and updated in
// place (the cancel button keeps its focus while events arrive).
import { t, bytes, duration, when } from './i18n.js';
import { h, clear, badge } from './dom.js';

const RATE_WINDOW_MS = 10000;

const ended = (j) => j.status === 'completed' || j.status === 'failed' || j.status === 'canceled';

export function jobCard(job, { onCancel }) {
  const c = { job: { ...job }, shown: 0, samples: [] };
  const title = h('h3', { id: 'job-title' });
  const status = h('span', { id: 'job-status' });
  const meta = h('p', { class: 'muted small', id: 'job-meta' });
  const step = h('p', { id: 'job-step' });
  const bar = h('progress', { id: 'now-progress', max: '100', value: '0', 'aria-labelledby': 'job-progress-label' });
  const pct = h('span', { id: 'now-percent', class: 'percent', 'aria-hidden': 'true' });
  const label = h('span', { id: 'job-progress-label', class: 'visually-hidden' });
  const numbers = h('p', { id: 'job-numbers', class: 'small' });
  const detail = h('p', { id: 'job-detail', class: 'note fail break', hidden: true });
  const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel-job' }, t('ui.now.cancel'));
  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    onCancel(c.job);
  });
  const logList = h('ol', { class: 'log', id: 'job-log', 'aria-label': t('ui.now.log'), tabindex: '0' });
  c.el = h('article', { class: 'job', id: `job-${job.id}`, data: { job: job.id } },
    h('div', { class: 'spread' }, title, status), meta, step,
    h('div', { class: 'progress' }, label, bar, pct), numbers, detail,
    h('div', { class: 'row' }, cancel),
    h('h3', { class: 'small muted' }, t('ui.now.log')), logList);

  c.update = (j, p) => {
    // An ended job never comes back: a late answer (the cancel request's,
    // sent before the final event) must not show it active again.
    if (ended(c.job) && ((j && !ended(j)) || (!j && p))) return;
    if (j) Object.assign(c.job, j);
    const cur = c.job;
    if (p) {
      cur.bytes_done = Math.max(cur.bytes_done || 0, p.bytes_done || 0);
      if (p.bytes_total > 0) cur.bytes_total = p.bytes_total;
      if (p.step) cur.step = p.step;
      if (p.message) cur.message = p.message;
    }
    let percent = Math.max(cur.progress || 0, p ? p.percent || 0 : 0);
    if (cur.status === 'completed') percent = 100;
    c.shown = Math.max(c.shown, percent); // what the page shows never goes back
    render();
  };

  function rate() {
    const now = Date.now();
    c.samples.push([now, c.job.bytes_done || 0]);
    while (c.samples.length > 2 && now - c.samples[0][0] > RATE_WINDOW_MS) c.samples.shift();
    const [t0, b0] = c.samples[0];
    const dt = (now - t0) / 1000;
    return dt >= 1 ? Math.max(0, ((c.job.bytes_done || 0) - b0) / dt) : 0;
  }

  function render() {
    const j = c.job;
    const active = j.status === 'queued' || j.status === 'running' || j.status === 'canceling';
    title.textContent = t('ui.job.title', j.id, t(`ui.kind.${j.kind}`));
    clear(status).append(badge(j.status, t(`ui.status.${j.status}`)));
    c.el.dataset.status = j.status;
    meta.textContent = t('ui.job.meta', when(j.started_at_ms || j.created_at_ms), j.trigger || '-', (j.components || []).join(', '));
    step.textContent = j.step ? t('ui.job.step', t(`ui.step.${j.step}`), j.message || '') : (j.message || '');
    bar.value = c.shown;
    pct.textContent = `${c.shown} %`;
    pct.dataset.percent = String(c.shown);
    label.textContent = t('ui.job.progress', c.shown);
    const r = active ? rate() : 0;
    const parts = [t('ui.job.bytes', bytes(j.bytes_done || 0), j.bytes_total ? bytes(j.bytes_total) : '?')];
    if (active && r > 0) {
      parts.push(t('ui.job.rate', bytes(r)));
      if (j.bytes_total > j.bytes_done) parts.push(t('ui.job.eta', duration(((j.bytes_total - j.bytes_done) / r) * 1000)));
    }
    if (!active && j.finished_at_ms && j.started_at_ms) parts.push(t('ui.job.took', duration(j.finished_at_ms - j.started_at_ms)));
    numbers.textContent = parts.join(' · ');
    const problem = j.error_code ? `${j.error_code}: ${j.detail || ''}` : '';
    detail.textContent = problem;
    detail.hidden = !problem;
    cancel.hidden = !active;
    cancel.disabled = j.status === 'canceling';
  }

  c.setLog = (lines) => {
    clear(logList);
    for (const l of lines || []) c.addLog(l);
  };
  c.addLog = (l) => {
    logList.append(h('li', { class: l.level }, `${new Date(l.at_ms).toLocaleTimeString()} ${l.message}`));
    while (logList.children.length > 300) logList.firstChild.remove();
    logList.scrollTop = logList.scrollHeight;
  };
  c.update(job);
  return c;
}
