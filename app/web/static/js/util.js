// Small DOM and formatting helpers shared by the page's modules.

/** Build an element: el('li', {class: 'x', dataset: {id: 1}, onclick}, child, 'text'). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString(document.documentElement.lang, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtNum(value, digits = 0, unit = '') {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : `${Number(value).toFixed(digits)}${unit}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

let toastTimer = null;
/** A short message over the map: the outcome of an action, or an API error's message. */
export function toast(message, isError = false) {
  const box = document.getElementById('toast');
  box.textContent = message;
  box.classList.toggle('error', isError);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 6000 : 3000);
}

/**
 * Bring ``list``'s rows in line with ``rows`` (fresh elements, each with a unique ``data-key``) without
 * replacing a row that is still there: an unchanged row is left alone and a changed one takes the fresh
 * row's attributes and children in place. Rows keep their identity (and their click handler) while
 * live updates arrive several times a second, so a click never lands on a row that was just swapped.
 */
export function syncList(list, rows) {
  const existing = new Map([...list.children].filter((n) => n.dataset.key).map((n) => [n.dataset.key, n]));
  for (const n of [...list.children]) if (!n.dataset.key) n.remove();
  const wanted = new Set(rows.map((r) => r.dataset.key));
  for (const [key, n] of existing) if (!wanted.has(key)) n.remove();
  let cursor = list.firstElementChild;
  for (const fresh of rows) {
    let row = existing.get(fresh.dataset.key);
    if (!row) {
      row = fresh;
    } else if (row.outerHTML !== fresh.outerHTML) {
      for (const attr of [...row.attributes]) if (!fresh.hasAttribute(attr.name)) row.removeAttribute(attr.name);
      for (const attr of [...fresh.attributes]) if (row.getAttribute(attr.name) !== attr.value) row.setAttribute(attr.name, attr.value);
      row.replaceChildren(...fresh.childNodes);
    }
    if (row !== cursor) list.insertBefore(row, cursor);
    else cursor = cursor.nextElementSibling;
  }
}
