// A grid's detail (#grid-detail): worker, last patrol, camera coverage with the unseen part drawn on
// the map, open alerts and work orders, and the schedules whose missions cover it.

import { api } from './api.js';
import { t, tOr } from './i18n.js';
import { ACTIVE_WORKORDER_STATES } from './roles.js';
import { el, fmtNum, fmtTime, toast } from './util.js';
import { openWorkOrder } from './workorders.js';

export async function openGrid(ctx, code) {
  const grid = ctx.state.grids.get(code);
  if (!grid) return;
  ctx.state.selectedGrid = code;
  ctx.map.selectGrid(code);
  const drawer = document.getElementById('grid-detail');
  drawer.dataset.gridCode = code;
  document.getElementById('grid-detail-code').textContent = code;
  const body = document.getElementById('grid-detail-body');
  body.replaceChildren(summary(grid, null));
  drawer.hidden = false;
  try {
    const [coverage, schedules, missions] = await Promise.all([
      api(`/grids/${encodeURIComponent(code)}/coverage`),
      api('/schedules'),
      api('/missions?limit=500').catch(() => []),
    ]);
    if (ctx.state.selectedGrid !== code) return;
    ctx.state.coverage.set(code, coverage);
    ctx.updateGridState(code);
    ctx.map.setUnseen(code, coverage.unseen);
    const missionGrids = new Map(missions.map((m) => [m.id, m.grid_codes || []]));
    const covering = schedules.filter((s) => (missionGrids.get(s.mission_id) || []).includes(code));
    body.replaceChildren(summary(grid, coverage), ...lists(ctx, code), scheduleList(covering, missions));
  } catch (err) {
    toast(err.message, true);
  }
}

export function closeGrid(ctx) {
  ctx.state.selectedGrid = null;
  ctx.map.selectGrid(null);
  ctx.map.setUnseen(null, null);
  document.getElementById('grid-detail').hidden = true;
}

function summary(grid, coverage) {
  const p = grid.properties;
  const share = coverage && coverage.seen_share;
  return el('section', {},
    el('div', { class: 'muted', text: p.name }),
    el('dl', { class: 'kv' },
      el('dt', { text: t('grid.community') }), el('dd', { text: `${p.community_name || ''} (${p.community_code})` }),
      el('dt', { text: t('grid.worker') }), el('dd', { text: p.worker_name ? `${p.worker_name}${p.worker_phone ? ` · ${p.worker_phone}` : ''}` : '—' }),
      el('dt', { text: t('grid.area') }), el('dd', { text: fmtNum(p.area_m2, 0, ' m²') }),
      el('dt', { text: t('grid.last_patrol') }), el('dd', { dataset: { field: 'last-patrol' }, text: coverage ? (coverage.last_patrolled_at ? fmtTime(coverage.last_patrolled_at) : t('grid.never')) : '…' }),
      el('dt', { text: t('grid.coverage') }), el('dd', { dataset: { field: 'coverage' }, text: share === null || share === undefined ? '—' : `${(share * 100).toFixed(1)}%` })),
    coverage ? el('div', { class: 'meter' }, el('i', { style: `width:${((share || 0) * 100).toFixed(1)}%` })) : null,
    coverage ? el('p', { class: 'muted', text: t('grid.unseen') }) : null);
}

function lists(ctx, code) {
  const alerts = [...ctx.state.alerts.values()].filter((a) => a.grid_code === code && a.state === 'open');
  const orders = [...ctx.state.workorders.values()].filter((o) => o.grid_code === code && ACTIVE_WORKORDER_STATES.has(o.state));
  return [
    el('section', {}, el('h3', { text: `${t('grid.open_alerts')} (${alerts.length})` }),
      alerts.length ? el('ul', {}, ...alerts.map((a) => el('li', { text: `${tOr(`alert.type.${a.type}`, a.type)} · ${a.message}` })))
        : el('p', { class: 'muted', text: t('grid.none') })),
    el('section', {}, el('h3', { text: `${t('grid.open_orders')} (${orders.length})` }),
      orders.length ? el('ul', {}, ...orders.map((o) => el('li', {},
        el('a', { href: '#', onclick: (e) => { e.preventDefault(); openWorkOrder(ctx, o.id); }, text: `#${o.id} ${o.title}` }),
        ` · ${t(`wo.state.${o.state}`)}`)))
        : el('p', { class: 'muted', text: t('grid.none') })),
  ];
}

function scheduleList(schedules, missions) {
  const names = new Map(missions.map((m) => [m.id, m.name]));
  return el('section', {}, el('h3', { text: `${t('grid.schedules')} (${schedules.length})` }),
    schedules.length ? el('ul', {}, ...schedules.map((s) => el('li', {
      text: `${s.name} · ${names.get(s.mission_id) || `#${s.mission_id}`} · ${s.rrule || fmtTime(s.start_at)}${s.enabled === false ? ' (off)' : ''}`,
    }))) : el('p', { class: 'muted', text: t('grid.none') }));
}
