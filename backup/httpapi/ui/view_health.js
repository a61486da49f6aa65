// Health: the doctor's report (every check's verdict, evidence and fix),
// run on the daemon on demand.
import * as api from './api.js';
import { t, when, bytes } from './i18n.js';
import { h, clear, badge, section } from './dom.js';
import { checkList } from './checks.js';

export async function render(main, ctx) {
  const out = h('div', { id: 'doctor', 'aria-busy': 'false' });
  const run = h('button', { type: 'button', class: 'primary', id: 'doctor-run' }, t('ui.health.run'));
  main.append(h('h1', {}, t('ui.nav.health')),
    section(t('ui.health.title'), h('p', { class: 'muted' }, t('ui.health.intro')), h('div', { class: 'row' }, run), out));

  async function refresh() {
    run.disabled = true;
    out.setAttribute('aria-busy', 'true');
    clear(out).append(h('p', { class: 'muted' }, t('ui.health.running')));
    try {
      const rep = await api.get(`v1/doctor?lang=${encodeURIComponent(ctx.lang)}`, ctx.signal);
      clear(out).append(
        h('p', { class: 'verdict', id: 'doctor-verdict', data: { verdict: rep.verdict } }, t('ui.health.verdict'), ' ',
          badge(rep.verdict, t(`ui.check.${rep.verdict}`)), ' ',
          h('span', { class: 'muted small' }, t('ui.health.at', rep.host, when(rep.at), rep.estimate_bytes ? bytes(rep.estimate_bytes) : '–'))),
        checkList(rep.checks, 'doctor-checks'));
      ctx.status(t('ui.health.done', when(rep.at)));
    } catch (e) {
      clear(out);
      ctx.fail(e);
    } finally {
      run.disabled = false;
      out.setAttribute('aria-busy', 'false');
    }
  }
  run.addEventListener('click', refresh);
  await refresh();
  return null;
}
