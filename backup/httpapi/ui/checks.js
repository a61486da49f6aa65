// A list of checks (check.Check: the one verdict shape of the doctor, a
// verification and a drill): each with its status, summary, fix and evidence.
import { t } from './i18n.js';
import { h, badge, facts } from './dom.js';

export function checkList(checks, id) {
  const ul = h('ul', { class: 'checks', id });
  for (const c of checks) {
    const li = h('li', { data: { name: c.name, status: c.status, code: c.code || '' } },
      h('div', { class: 'spread' },
        h('span', { class: 'break' }, h('strong', {}, c.title || c.name), c.path ? h('span', { class: 'mono muted' }, ` ${c.path}`) : ''),
        badge(c.status, t(`ui.check.${c.status}`))));
    if (c.summary) li.append(h('p', { class: 'summary break' }, c.summary));
    if (c.expected || c.actual) li.append(h('p', { class: 'small break' }, t('ui.check.differs', c.expected || '–', c.actual || '–')));
    if (c.fix) li.append(h('p', { class: 'fix break' }, h('strong', {}, t('ui.check.fix')), ' ', c.fix));
    const ev = (c.evidence || []).map((e) => [e.label || e.key, e.value]);
    if (c.detail && c.status !== 'ok' && c.status !== 'skip') ev.push([t('ui.check.detail'), c.detail]);
    if (ev.length) {
      li.append(h('details', {}, h('summary', {}, t('ui.check.evidence', c.title || c.name)), facts(ev)));
    }
    ul.append(li);
  }
  return ul;
}
