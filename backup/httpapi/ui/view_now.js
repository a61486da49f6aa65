// Now: the running backup with live progress (the job's event stream read
// with fetch), cancel, start incremental/full, and the lock holder.
import * as api from './api.js';
import { t, bytes, duration, when, ago } from './i18n.js';
import { h, clear, badge, facts, section } from './dom.js';
import { jobCard } from './job_card.js';

export async function render(main, ctx) {
  const st = { settings: null, card: null, follow: 0, timer: 0, alive: true };
  const busy = h('p', { id: 'busy', class: 'note warn', role: 'alert', hidden: true });
  const incBtn = h('button', { type: 'button', class: 'primary', id: 'start-incremental' }, t('ui.now.start_incremental'));
  const fullBtn = h('button', { type: 'button', id: 'start-full' }, t('ui.now.start_full'));
  const fullHint = h('p', { class: 'hint', id: 'start-hint' });
  const jobBox = h('div', { id: 'job-box' });
  const lockBox = h('div', { id: 'lock-box' });
  main.append(h('h1', {}, t('ui.nav.now')),
    section(t('ui.now.start'), h('div', { class: 'row' }, incBtn, fullBtn), fullHint, busy),
    section(t('ui.now.job'), jobBox),
    section(t('ui.now.lock'), lockBox));

  st.settings = await api.get('v1/settings', ctx.signal);
  const full = fullComponents(st.settings);
  fullHint.textContent = t('ui.now.start_hint', incComponents(st.settings).join(', '), full.join(', '));

  async function startBackup(body) {
    busy.hidden = true;
    try {
      const job = await api.post('v1/backups', body, ctx.signal);
      ctx.status(t('ui.now.started', job.id));
      follow(job);
    } catch (err) {
      if (err.status === 409) await showBusy(err);
      else ctx.fail(err);
    }
  }
  incBtn.addEventListener('click', () => startBackup({}));
  fullBtn.addEventListener('click', () => startBackup({ components: full }));

  // showBusy says who holds the lock, and follows that job.
  async function showBusy(err) {
    let lock = null;
    try {
      lock = await api.get('v1/lock', ctx.signal);
    } catch (e) {
      ctx.fail(e);
    }
    const list = await api.get('v1/verifications', ctx.signal).catch(() => ({ verifications: [] }));
    const v = list.verifications.find((x) => isActive(x));
    if (lock && lock.held && v) busy.textContent = t('ui.now.busy_verify', v.pack, lock.host, lock.pid, when(lock.acquired_at));
    else if (lock && lock.held) busy.textContent = t('ui.now.busy', err.jobID || lock.job_id, lock.host, lock.pid, when(lock.acquired_at));
    else busy.textContent = t('ui.now.busy_unknown', err.detail);
    busy.hidden = false;
    await refreshLock();
    if (err.jobID) {
      try {
        const job = await api.get(`v1/jobs/${err.jobID}`, ctx.signal);
        if (isActive(job)) follow(job);
      } catch (e) {
        ctx.fail(e);
      }
    }
  }

  // follow shows a job and reads its event stream until its final event.
  async function follow(job) {
    if (st.follow === job.id && st.card) return;
    st.follow = job.id;
    st.card = jobCard(job, { onCancel: cancel });
    clear(jobBox).append(st.card.el);
    refreshLock(); // the job holds it now
    try {
      const log = await api.get(`v1/jobs/${job.id}/log`, ctx.signal);
      st.card.setLog(log.lines);
    } catch (e) {
      if (e.status !== 404) ctx.fail(e);
    }
    while (st.alive && st.follow === job.id && isActive(st.card.job)) {
      try {
        await api.stream(`v1/jobs/${job.id}/events`, (name, ev) => {
          if (st.follow !== job.id) return;
          if (name === 'log' && ev.log) st.card.addLog(ev.log);
          else st.card.update(ev.job, ev.progress);
        }, ctx.signal);
      } catch (e) {
        if (e.name === 'AbortError') return;
        ctx.fail(e);
      }
      if (isActive(st.card.job)) await sleep(1000, ctx.signal); // the stream dropped: read it again
    }
    refreshLock();
  }

  async function cancel(job) {
    try {
      const j = await api.post(`v1/jobs/${job.id}/cancel`, { reason: 'canceled from the admin page' }, ctx.signal);
      st.card.update(j);
      ctx.status(t('ui.now.cancel_requested', job.id));
    } catch (e) {
      ctx.fail(e);
    }
  }

  async function refreshLock() {
    try {
      const lock = await api.get('v1/lock', ctx.signal);
      renderLock(lockBox, lock);
      if (lock.held && !(st.card && isActive(st.card.job))) await showVerification();
    } catch (e) {
      ctx.fail(e);
    }
  }

  // showVerification names a running verification holding the lock.
  async function showVerification() {
    const list = await api.get('v1/verifications', ctx.signal).catch(() => ({ verifications: [] }));
    const v = list.verifications.find((x) => isActive(x));
    if (v) lockBox.append(h('p', { class: 'note' }, t('ui.now.lock_verification', v.pack, v.progress)));
  }

  // refresh finds a job started elsewhere (schedule, API) while idle.
  async function refresh() {
    if (st.card && isActive(st.card.job)) return;
    try {
      const list = await api.get('v1/jobs?limit=1', ctx.signal);
      const last = list.jobs[0];
      if (last && isActive(last)) follow(last);
      else if (!st.card) showIdle(jobBox, last);
      await refreshLock();
    } catch (e) {
      ctx.fail(e);
    }
  }

  await refresh();
  st.timer = setInterval(refresh, 3000);
  return () => {
    st.alive = false;
    clearInterval(st.timer);
  };
}

// renderLock shows the lock: free, held (by which job, host and process,
// since when) or stale.
function renderLock(box, lock) {
  clear(box);
  if (!lock || (!lock.held && !lock.stale)) {
    box.append(h('p', { id: 'lock-state', data: { held: 'false' } }, t('ui.now.lock_free')));
    return;
  }
  box.append(h('p', { id: 'lock-state', data: { held: String(lock.held) } },
    lock.held ? t('ui.now.lock_held', lock.job_id) : t('ui.now.lock_stale', lock.job_id)),
  facts([[t('ui.now.lock_host'), lock.host], [t('ui.now.lock_pid'), String(lock.pid)],
    [t('ui.now.lock_since'), `${when(lock.acquired_at)} (${ago(Date.parse(lock.acquired_at))})`],
    [t('ui.now.lock_expires'), when(lock.expires_at)], [t('ui.now.lock_reason'), lock.stale_reason || '']]));
}

// showIdle says no backup runs, and how the last one ended.
function showIdle(box, last) {
  clear(box).append(h('p', { id: 'idle' }, t('ui.now.idle')));
  if (last) {
    const took = last.finished_at_ms && last.started_at_ms ? duration(last.finished_at_ms - last.started_at_ms) : '–';
    box.append(h('p', { class: 'muted' }, t('ui.now.last', last.id), ' ', badge(last.status, t(`ui.status.${last.status}`)),
      ' ', t('ui.now.last_detail', when(last.finished_at_ms || last.created_at_ms), took, bytes(last.bytes_done))));
  }
}

export function isActive(j) {
  return j && (j.status === 'queued' || j.status === 'running' || j.status === 'canceling');
}

function incComponents(s) {
  return s.auth_db_path ? ['db', 'volumes'] : ['volumes'];
}

function fullComponents(s) {
  const c = incComponents(s);
  return s.full_backup_include_images ? [...c, 'images'] : c;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const id = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(id);
      resolve();
    }, { once: true });
  });
}
