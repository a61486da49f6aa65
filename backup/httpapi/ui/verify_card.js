// A verification's card: progress (never going back), then the verdict
// and every check with its summary.
import { t, bytes, duration, when } from './i18n.js';
import { h, clear, badge } from './dom.js';
import { checkList } from './checks.js';

export function verifyCard(v, { onCancel }) {
  const c = { v: { ...v }, shown: 0 };
  const title = h('h3', { id: 'verify-title', class: 'break' });
  const status = h('span', { id: 'verify-status' });
  const msg = h('p', { id: 'verify-message', class: 'break' });
  const bar = h('progress', { id: 'verify-progress', max: '100', value: '0', 'aria-labelledby': 'verify-progress-label' });
  const pct = h('span', { id: 'verify-percent', class: 'percent', 'aria-hidden': 'true' });
  const label = h('span', { id: 'verify-progress-label', class: 'visually-hidden' });
  const numbers = h('p', { class: 'small', id: 'verify-numbers' });
  const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel-verify' }, t('ui.packs.verify_cancel'));
  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    onCancel(c.v);
  });
  const result = h('div', { id: 'verify-result' });
  c.el = h('article', { id: `verification-${v.id}`, data: { verification: v.id } },
    h('div', { class: 'spread' }, title, status), msg, h('div', { class: 'progress' }, label, bar, pct), numbers,
    h('div', { class: 'row' }, cancel), result);

  c.update = (nv) => {
    const ended = (x) => x.status === 'completed' || x.status === 'failed' || x.status === 'canceled';
    if (nv && ended(c.v) && !ended(nv)) return; // a late answer never makes an ended verification active again
    if (nv) Object.assign(c.v, nv);
    const x = c.v;
    const active = x.status === 'running' || x.status === 'canceling';
    c.shown = Math.max(c.shown, x.progress || 0);
    title.textContent = t('ui.verify.title', x.pack);
    clear(status).append(badge(x.status, t(`ui.vstatus.${x.status}`)));
    c.el.dataset.status = x.status;
    msg.textContent = x.message || '';
    bar.value = c.shown;
    pct.textContent = `${c.shown} %`;
    pct.dataset.percent = String(c.shown);
    label.textContent = t('ui.job.progress', c.shown);
    const parts = [t('ui.job.bytes', bytes(x.bytes_done || 0), x.bytes_total ? bytes(x.bytes_total) : '?'), t('ui.verify.started', when(x.started_at_ms))];
    if (x.finished_at_ms) parts.push(t('ui.job.took', duration(x.finished_at_ms - x.started_at_ms)));
    numbers.textContent = parts.join(' · ');
    cancel.hidden = !active;
    cancel.disabled = x.status === 'canceling';
    clear(result);
    if (active) return;
    if (x.ok === true) result.append(h('p', { class: 'note', id: 'verify-verdict', data: { ok: 'true' } }, t('ui.verify.passed')));
    else if (x.ok === false) result.append(h('p', { class: 'note fail', id: 'verify-verdict', data: { ok: 'false' } }, t('ui.verify.failed')));
    else if (x.detail) result.append(h('p', { class: 'note warn break', id: 'verify-verdict' }, x.detail));
    if (x.result && x.result.checks) result.append(checkList(x.result.checks, 'verify-checks'));
  };
  c.update();
  return c;
}
