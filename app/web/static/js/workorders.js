// Work orders (#workorders) and one order's detail (#workorder-detail): history, photos, feedback and
// the transitions its state accepts, shown only to roles that may make them.

import { api } from './api.js';
import { confirmAction } from './dialog.js';
import { t } from './i18n.js';
import { ACTIVE_WORKORDER_STATES, TRANSITIONS, canTransition } from './roles.js';
import { el, fmtTime, syncList, toast } from './util.js';

const LIST_MAX = 200;

export function isOverdue(order) {
  return ACTIVE_WORKORDER_STATES.has(order.state) && order.state !== 'resolved' && order.due_at && new Date(order.due_at) < new Date();
}

export function renderWorkOrders(ctx) {
  const list = document.getElementById('workorders');
  const orders = [...ctx.state.workorders.values()].sort((a, b) => b.id - a.id).slice(0, LIST_MAX);
  document.getElementById('workorder-count').textContent = String(orders.filter((o) => ACTIVE_WORKORDER_STATES.has(o.state)).length);
  if (!orders.length) {
    list.replaceChildren(el('li', { class: 'empty', text: t('workorders.empty') }));
    return;
  }
  syncList(list, orders.map((o) => el('li', {
    class: `wo-row${isOverdue(o) ? ' overdue' : ''}${ctx.state.selectedOrder === o.id ? ' selected' : ''}`,
    dataset: { key: String(o.id), workorderId: String(o.id), state: o.state },
    onclick: () => openWorkOrder(ctx, o.id),
  },
  el('div', { class: 'wo-head' },
    el('span', { class: 'title', text: `#${o.id} ${o.title}` }),
    el('span', { class: `pill ${o.state}`, text: t(`wo.state.${o.state}`) })),
  el('div', { class: 'wo-meta' },
    `${o.grid_code || '—'} · ${o.assignee ? o.assignee.name : t('wo.none')} · `,
    el('span', { class: 'due', text: `${t('wo.due')} ${fmtTime(o.due_at)}${isOverdue(o) ? ` (${t('wo.overdue')})` : ''}` })))));
}

export async function openWorkOrder(ctx, id) {
  ctx.state.selectedOrder = id;
  renderWorkOrders(ctx);
  const drawer = document.getElementById('workorder-detail');
  try {
    const order = await api(`/work-orders/${id}`);
    ctx.state.workorders.set(order.id, order);
    drawer.dataset.workorderId = String(order.id);
    drawer.dataset.state = order.state;
    document.getElementById('workorder-detail-id').textContent = `#${order.id}`;
    document.getElementById('workorder-detail-body').replaceChildren(...detail(ctx, order));
    drawer.hidden = false;
    renderWorkOrders(ctx);
  } catch (err) {
    toast(err.message, true);
  }
}

function detail(ctx, o) {
  const parts = [
    el('div', {},
      el('div', { class: 'wo-head' }, el('strong', { text: o.title }), el('span', { class: `pill ${o.state}`, text: t(`wo.state.${o.state}`) })),
      o.description ? el('p', { class: 'muted', text: o.description }) : null),
    el('dl', { class: 'kv' },
      el('dt', { text: t('wo.grid') }), el('dd', { text: o.grid_code || '—' }),
      el('dt', { text: t('wo.channel') }), el('dd', { text: o.channel }),
      el('dt', { text: t('wo.assignee') }), el('dd', { text: o.assignee ? `${o.assignee.name}${o.assignee.phone ? ` (${o.assignee.phone})` : ''}` : t('wo.none') }),
      el('dt', { text: t('wo.due') }), el('dd', { text: `${fmtTime(o.due_at)}${isOverdue(o) ? ` (${t('wo.overdue')})` : ''}` })),
    el('section', {}, el('h3', { text: t('wo.feedback') }), el('p', { text: o.feedback || t('wo.none') })),
    el('section', {}, el('h3', { text: t('wo.photos') }),
      o.feedback_photos && o.feedback_photos.length
        ? el('div', { class: 'photos' }, ...o.feedback_photos.map((url) => el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: url })))
        : el('p', { class: 'muted', text: t('wo.none') })),
    el('section', {}, el('h3', { text: t('wo.history') }),
      el('ul', { class: 'history' }, ...(o.history || []).map((h) => el('li', {},
        el('span', { class: 'muted', text: `${fmtTime(h.at)} ` }),
        `${h.action}: ${h.from_state || '∅'} → ${h.to_state} · ${h.by}${h.reason ? ` · ${h.reason}` : ''}`)))),
  ];
  if (canTransition(ctx.state.role)) {
    const actions = TRANSITIONS[o.state] || [];
    const form = el('div', { class: 'transition-form', hidden: true });
    parts.push(el('section', {}, el('div', { class: 'transitions' }, ...actions.map((action) => el('button', {
      type: 'button', dataset: { transition: action }, text: t(`wo.action.${action}`),
      onclick: () => startTransition(ctx, o, action, form),
    }))), form));
  }
  return parts;
}

/** The inputs an action needs (docs/workorders.md); none for start and close. */
function fieldsFor(action) {
  switch (action) {
    case 'assign': return [['name', 'wo.input.assignee', 'input'], ['phone', 'wo.input.phone', 'input']];
    case 'resolve': return [['feedback', 'wo.input.feedback', 'textarea'], ['photos', 'wo.input.photos', 'textarea']];
    case 'reopen':
    case 'cancel': return [['reason', 'wo.input.reason', 'textarea']];
    default: return [];
  }
}

function bodyFor(action, values) {
  switch (action) {
    case 'assign': return { assignee: { kind: 'worker', name: values.name, phone: values.phone || null } };
    case 'resolve': return { feedback: values.feedback, photos: (values.photos || '').split('\n').map((s) => s.trim()).filter(Boolean) };
    case 'reopen':
    case 'cancel': return { reason: values.reason };
    default: return {};
  }
}

function startTransition(ctx, order, action, form) {
  const fields = fieldsFor(action);
  if (!fields.length) {
    submitTransition(ctx, order, action, {});
    return;
  }
  const inputs = fields.map(([name, label, tag]) => [name, el(tag, { name, placeholder: t(label), 'aria-label': t(label) })]);
  form.replaceChildren(...inputs.map(([, input]) => input), el('button', {
    type: 'button', class: 'primary', dataset: { submitTransition: action }, text: `${t(`wo.action.${action}`)} · ${t('wo.input.submit')}`,
    onclick: () => submitTransition(ctx, order, action, Object.fromEntries(inputs.map(([n, input]) => [n, input.value.trim()]))),
  }));
  form.hidden = false;
  inputs[0][1].focus();
}

async function submitTransition(ctx, order, action, values) {
  if (!(await confirmAction(t('confirm.transition', { action: t(`wo.action.${action}`), id: order.id })))) return;
  try {
    const updated = await api(`/work-orders/${order.id}/${action}`, { method: 'POST', body: bodyFor(action, values) });
    ctx.state.workorders.set(updated.id, updated);
    toast(`#${order.id}: ${t(`wo.state.${updated.state}`)}`);
    ctx.onWorkOrdersChanged();
    await openWorkOrder(ctx, order.id);
  } catch (err) {
    toast(err.message, true);
  }
}
