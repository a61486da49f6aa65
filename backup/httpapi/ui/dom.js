// Small DOM helpers: elements are built with properties and text nodes,
// never from HTML strings (nothing the daemon sends is parsed as markup).

// h builds an element: h('button', {class: 'primary', on: {click: f}}, 'Save').
// Props: class, id, text, on (event listeners), data (data-* attributes),
// any other key an attribute (true: present, false/null/undefined: absent).
export function h(tag, props = {}, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k === 'value' && 'value' in el && !tag.startsWith('svg:')) el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

// append adds children: nodes, strings (as text), arrays, skipping null.
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes an element's children and returns it.
export function clear(el) {
  el.replaceChildren();
  return el;
}

// badge is a status word with its colour class (the status stays a machine word).
export function badge(status, label) {
  return h('span', { class: `badge ${status}`, data: { status } }, label ?? status);
}

// table builds a table whose cells carry their column's label (shown
// beside the value when rows become cards on narrow screens).
// cols: [{label, cls}]; rows: [{cells: [node|string], attrs, after: <tr>}]
export function table(caption, cols, rows, props = {}) {
  const head = h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: c.cls }, c.label))));
  const body = h('tbody');
  for (const r of rows) {
    const tr = h('tr', r.attrs || {});
    r.cells.forEach((cell, i) => tr.append(h('td', { class: cols[i].cls, 'data-label': cols[i].label }, cell)));
    body.append(tr);
    if (r.after) body.append(r.after);
  }
  return h('div', { class: 'table-wrap' },
    h('table', props, caption ? h('caption', { class: 'visually-hidden' }, caption) : null, head, body));
}

// facts is a definition list of [label, value] pairs (empty values skipped).
export function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of pairs) {
    if (v === '' || v === null || v === undefined) continue;
    dl.append(h('dt', {}, k), h('dd', {}, v));
  }
  return dl;
}

// section is a panel with a heading (h2) labelling it.
let sectionSeq = 0;
export function section(title, ...children) {
  const id = `sec-${++sectionSeq}`;
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}
