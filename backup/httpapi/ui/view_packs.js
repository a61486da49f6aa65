// Packs: the packs of the target with status, size, contents and age;
// verify one (a background run with progress) and see what restoring it
// would do (the restore itself stays a deliberate CLI action).
import * as api from './api.js';
import { t, bytes, when, ago } from './i18n.js';
import { h, clear, badge, table, section } from './dom.js';
import { verifyCard } from './verify_card.js';
import { planForm } from './plan.js';

export async function render(main, ctx) {
  const st = { alive: true, follow: '' };
  const [settings, list, vlist] = await Promise.all([
    api.get('v1/settings', ctx.signal),
    api.get('v1/packs', ctx.signal).catch((e) => ({ error: e })),
    api.get('v1/verifications', ctx.signal).catch(() => ({ verifications: [] })),
  ]);
  const verifyBox = h('div', { id: 'verify-box' }, h('p', { class: 'muted' }, t('ui.packs.verify_none')));
  const planBox = h('div', { id: 'plan-box' }, h('p', { class: 'muted' }, t('ui.packs.plan_none')));
  const target = settings.local_backup_target_path || settings.target_local_dir;
  main.append(h('h1', {}, t('ui.nav.packs')));
  const packsSection = section(t('ui.packs.target', target || '–'));
  main.append(packsSection, section(t('ui.packs.verification'), verifyBox), section(t('ui.packs.plan'), planBox));
  if (list.error) {
    packsSection.append(h('p', { class: 'note fail', id: 'packs-error' }, list.error.detail || list.error.message));
  } else if (!list.packs.length) {
    packsSection.append(h('p', { id: 'no-packs' }, t('ui.packs.empty')));
  } else {
    packsSection.append(packsTable(list.packs, { verify, plan }));
  }

  async function verify(p) {
    try {
      const v = await api.post(`v1/packs/${encodeURIComponent(p.name)}/verify`, { lang: ctx.lang }, ctx.signal);
      ctx.status(t('ui.packs.verify_started', p.name));
      follow(v);
    } catch (e) {
      if (e.status === 409) {
        clear(verifyBox).append(h('p', { class: 'note warn', role: 'alert', id: 'verify-busy' }, t('ui.packs.verify_busy', e.jobID, e.detail)));
        return;
      }
      ctx.fail(e);
    }
  }

  async function follow(v) {
    st.follow = v.id;
    const card = verifyCard(v, { onCancel: cancel });
    clear(verifyBox).append(card.el);
    while (st.alive && st.follow === v.id && active(card.v)) {
      try {
        await api.stream(`v1/verifications/${v.id}/events`, (_name, data) => {
          if (st.follow === v.id) card.update(data);
        }, ctx.signal);
      } catch (e) {
        if (e.name === 'AbortError') return;
        ctx.fail(e);
        return;
      }
    }
    if (st.alive && st.follow === v.id) {
      try {
        card.update(await api.get(`v1/verifications/${v.id}`, ctx.signal)); // with its log and checks
      } catch (e) {
        ctx.fail(e);
      }
    }
  }

  async function cancel(v) {
    try {
      await api.post(`v1/verifications/${v.id}/cancel`, { reason: 'canceled from the admin page' }, ctx.signal);
    } catch (e) {
      ctx.fail(e);
    }
  }

  function plan(p) {
    clear(planBox).append(planForm(p, ctx));
    planBox.querySelector('h3')?.focus();
  }

  const latest = vlist.verifications[0];
  if (latest) {
    if (active(latest)) follow(latest);
    else api.get(`v1/verifications/${latest.id}`, ctx.signal).then((v) => {
      if (!st.follow) clear(verifyBox).append(verifyCard(v, { onCancel: cancel }).el);
    }).catch(() => {});
  }
  return () => {
    st.alive = false;
  };
}

function active(v) {
  return v.status === 'running' || v.status === 'canceling';
}

function packsTable(packs, { verify, plan }) {
  const cols = [
    { label: t('ui.col.pack') }, { label: t('ui.col.created') }, { label: t('ui.col.status') }, { label: t('ui.col.size'), cls: 'num' },
    { label: t('ui.col.contents') }, { label: t('ui.col.project') }, { label: t('ui.col.actions'), cls: 'actions' },
  ];
  const rows = packs.map((p) => {
    const canAct = p.status !== 'partial';
    const vb = h('button', { type: 'button', class: 'verify', data: { pack: p.name }, 'aria-label': t('ui.packs.verify_label', p.name) },
      t('ui.packs.verify'));
    const pb = h('button', { type: 'button', class: 'plan', data: { pack: p.name }, 'aria-label': t('ui.packs.plan_label', p.name) },
      t('ui.packs.plan_button'));
    vb.addEventListener('click', () => verify(p));
    pb.addEventListener('click', () => plan(p));
    const created = p.created_at && !p.created_at.startsWith('0001') ? `${when(p.created_at)} (${ago(Date.parse(p.created_at))})` : '–';
    const status = h('span', {}, badge(p.status, t(`ui.pack.${p.status}`)), p.problem ? h('span', { class: 'hint break' }, ` ${p.problem}`) : '');
    return {
      attrs: { data: { pack: p.name, status: p.status } },
      cells: [h('span', { class: 'mono break' }, p.name), created, status, bytes(p.size), (p.contents || []).join(', ') || '–',
        p.project || '–', canAct ? [vb, pb] : h('span', { class: 'muted' }, t('ui.packs.partial_hint'))],
    };
  });
  return table(t('ui.nav.packs'), cols, rows, { id: 'packs-table' });
}
