// A small SVG chart, no library: pack sizes (bars, left axis) and backup
// durations (line, right axis) of completed jobs, oldest left.
import { t, bytes, duration, when } from './i18n.js';
import { h } from './dom.js';

const W = 640;
const H = 220;
const M = { top: 12, right: 64, bottom: 36, left: 72 };

export function sizeDurationChart(points) {
  const pts = points.slice(-30);
  const maxSize = Math.max(1, ...pts.map((p) => p.size || 0));
  const maxMs = Math.max(1, ...pts.map((p) => p.ms || 0));
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const step = iw / pts.length;
  const x = (i) => M.left + step * i + step / 2;
  const ySize = (v) => M.top + ih - (ih * v) / maxSize;
  const yMs = (v) => M.top + ih - (ih * v) / maxMs;
  const titleID = 'chart-title';
  const descID = 'chart-desc';
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleID} ${descID}`, id: 'history-chart' },
    h('svg:title', { id: titleID }, t('ui.chart.title', pts.length)),
    h('svg:desc', { id: descID }, t('ui.chart.desc', bytes(maxSize), duration(maxMs))));
  svg.append(h('svg:line', { class: 'axis', x1: M.left, y1: M.top + ih, x2: M.left + iw, y2: M.top + ih }));
  for (const f of [0, 0.5, 1]) {
    const y = M.top + ih - ih * f;
    svg.append(h('svg:line', { class: 'axis', x1: M.left, y1: y, x2: M.left + iw, y2: y, 'stroke-dasharray': '2 4' }),
      h('svg:text', { x: M.left - 6, y: y + 4, 'text-anchor': 'end' }, bytes(maxSize * f)),
      h('svg:text', { x: M.left + iw + 6, y: y + 4 }, duration(maxMs * f)));
  }
  const bw = Math.max(2, Math.min(32, step * 0.6));
  pts.forEach((p, i) => {
    const y = ySize(p.size || 0);
    svg.append(h('svg:rect', { class: 'bar', x: x(i) - bw / 2, y, width: bw, height: Math.max(0, M.top + ih - y) },
      h('svg:title', {}, t('ui.chart.point', p.id, bytes(p.size || 0), duration(p.ms || 0), when(p.at)))));
  });
  if (pts.length > 1) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${yMs(p.ms || 0).toFixed(1)}`).join(' ');
    svg.append(h('svg:path', { class: 'line', d }));
  }
  pts.forEach((p, i) => svg.append(h('svg:circle', { class: 'dot', cx: x(i), cy: yMs(p.ms || 0), r: 3 })));
  const first = pts[0];
  const last = pts[pts.length - 1];
  svg.append(h('svg:text', { x: M.left, y: H - 10 }, when(first.at)));
  if (pts.length > 1) svg.append(h('svg:text', { x: M.left + iw, y: H - 10, 'text-anchor': 'end' }, when(last.at)));
  return h('figure', { class: 'chart' }, svg,
    h('figcaption', { class: 'legend' },
      h('span', {}, h('span', { class: 'key size' }), t('ui.chart.size')),
      h('span', {}, h('span', { class: 'key dur' }), t('ui.chart.duration'))));
}
