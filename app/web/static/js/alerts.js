// The alert feed (#alerts): newest first, live through /ws/live, acknowledge for roles allowed to.

import { api } from './api.js';
import { t, tOr } from './i18n.js';
import { canAck } from './roles.js';
import { el, fmtTime, syncList, toast } from './util.js';

const FEED_MAX = 200;

/** open | acknowledged | cleared, as the page contract names them. */
export function alertState(alert) {
  if (alert.state === 'cleared') return 'cleared';
  return alert.ack ? 'acknowledged' : 'open';
}

export function renderAlerts(ctx) {
  const list = document.getElementById('alerts');
  const alerts = [...ctx.state.alerts.values()].sort((a, b) => b.id - a.id).slice(0, FEED_MAX);
  const openCount = alerts.filter((a) => a.state === 'open').length;
  document.getElementById('alert-count').textContent = String(openCount);
  if (!alerts.length) {
    list.replaceChildren(el('li', { class: 'empty', text: t('alerts.empty') }));
    return;
  }
  syncList(list, alerts.map((a) => alertItem(ctx, a)));
}

function alertItem(ctx, a) {
  const state = alertState(a);
  const drone = ctx.state.drones.get(a.drone_id);
  const li = el('li', {
    dataset: { key: String(a.id), alertId: String(a.id), kind: a.type, state, severity: a.severity },
    onclick: () => ctx.focusAlert(a),
  },
  el('div', { class: 'alert-head' },
    el('span', { class: 'type', text: tOr(`alert.type.${a.type}`, a.type) }),
    el('span', { class: `pill ${a.severity}`, text: t(`severity.${a.severity}`) })),
  el('div', { class: 'alert-meta', text: `${drone ? drone.name : `#${a.drone_id}`} · ${a.grid_code || '—'} · ${fmtTime(a.opened_at)}` }),
  el('div', { class: 'alert-msg', text: a.message }));
  const foot = el('div', { class: 'alert-foot' }, el('span', { class: `pill ${state}`, text: t(`alert.state.${state}`) }));
  if (a.ack) foot.append(el('span', { class: 'muted', text: t('alerts.acked_by', { by: a.ack.by || '' }) }));
  else if (canAck(ctx.state.role)) {
    foot.append(el('button', { type: 'button', class: 'ack', text: t('alerts.ack'), onclick: (e) => { e.stopPropagation(); acknowledge(ctx, a.id); } }));
  }
  li.append(foot);
  return li;
}

async function acknowledge(ctx, id) {
  try {
    const alert = await api(`/alerts/${id}/ack`, { method: 'POST' });
    ctx.upsertAlert(alert);
  } catch (err) {
    toast(err.message, true);
  }
}
