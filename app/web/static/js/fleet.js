// The fleet list (#drones) and the run controls (#run-controls) of the selected drone.

import { api } from './api.js';
import { confirmAction } from './dialog.js';
import { t } from './i18n.js';
import { ACTIVE_RUN_STATES, canFly } from './roles.js';
import { el, fmtDuration, fmtNum, syncList, toast } from './util.js';

const ACTIONS = ['start', 'pause', 'resume', 'abort', 'rtl', 'land'];

/** The run the controls act on: the drone's active run, else its latest one (shown, not controlled). */
export function runOf(ctx, droneId) {
  const runs = [...ctx.state.runs.values()].filter((r) => r.drone_id === droneId).sort((a, b) => b.id - a.id);
  return runs.find((r) => ACTIVE_RUN_STATES.has(r.state) || r.state === 'planned') || runs[0] || null;
}

function battClass(pct) {
  if (pct === null || pct === undefined) return '';
  return pct < 15 ? 'crit' : pct < 25 ? 'low' : '';
}

function runLine(run) {
  if (!run) return el('div', { class: 'runline', text: t('drone.norun') });
  const pct = run.progress && run.progress.share_done_pct;
  return el('div', {},
    el('div', { class: 'runline', text: `${t('drone.run')} #${run.id} · ${t(`run.state.${run.state}`)} · ${t('run.sortie')} ${run.sortie + 1}/${run.sortie_count}${pct !== null && pct !== undefined ? ` · ${pct.toFixed(0)}%` : ''}` }),
    el('div', { class: 'progress' }, el('i', { style: `width:${Math.max(0, Math.min(100, pct || 0))}%` })));
}

export function renderFleet(ctx) {
  const list = document.getElementById('drones');
  const drones = [...ctx.state.drones.values()].sort((a, b) => a.id - b.id);
  document.getElementById('drone-count').textContent = String(drones.length);
  if (!drones.length) {
    list.replaceChildren(el('li', { class: 'empty', text: t('drones.empty') }));
  } else {
    syncList(list, drones.map((d) => droneRow(ctx, d)));
  }
  renderRunPanel(ctx);
}

function droneRow(ctx, d) {
  const s = d.live || {};
  const online = d.online;
  const run = runOf(ctx, d.id);
  return el('li', {
    class: `drone-row${ctx.state.selectedDrone === d.id ? ' selected' : ''}`,
    dataset: { key: String(d.id), droneRow: String(d.id), online: String(online), armed: String(Boolean(s.armed)) },
    onclick: () => ctx.selectDrone(d.id),
  },
  el('div', { class: 'row1' },
    el('span', { class: 'name', text: d.name }),
    el('span', { class: 'mode', text: online ? (s.mode || '—') : t('drone.offline') })),
  el('div', { class: 'metrics' },
    el('span', {}, `${t('drone.alt')} `, el('b', { text: fmtNum(s.alt_rel_m, 0, ' m') })),
    el('span', {}, el('span', { class: `batt ${battClass(s.battery_pct)}` }, el('i', { style: `width:${Math.max(0, Math.min(100, s.battery_pct ?? 0))}%` })), el('b', { text: fmtNum(s.battery_pct, 0, '%') })),
    el('span', {}, `${t('drone.speed')} `, el('b', { text: fmtNum(s.groundspeed_mps, 1, ' m/s') }))),
  runLine(run));
}

/** Which controls make sense now; the service still decides (409 run_state, 403 for a tester's real drone). */
function enabled(action, drone, run) {
  const armed = Boolean(drone.live && drone.live.armed);
  const active = run && ACTIVE_RUN_STATES.has(run.state);
  switch (action) {
    case 'start': return Boolean(run && (run.state === 'planned' || run.state === 'waiting'));
    case 'pause': return Boolean(active ? run.state === 'running' : armed);
    case 'resume': return Boolean(active ? run.state === 'paused' : armed);
    case 'abort': return Boolean(active || armed);
    case 'rtl': return armed;
    case 'land': return Boolean(active || armed);
    default: return false;
  }
}

/** The request an action sends: the run's action when a run holds the drone, else a drone command. */
function request(action, drone, run) {
  const active = run && ACTIVE_RUN_STATES.has(run.state);
  if (action === 'start') return [`/runs/${run.id}/actions/${run.state === 'waiting' ? 'continue' : 'start'}`, {}];
  if (action === 'rtl') return [`/drones/${drone.id}/commands/return`, {}];
  if (active) return [`/runs/${run.id}/actions/${action}`, {}];
  const command = { pause: 'pause', resume: 'resume', abort: 'return', land: 'land' }[action];
  return [`/drones/${drone.id}/commands/${command}`, {}];
}

function renderRunPanel(ctx) {
  const panel = document.getElementById('run-panel');
  const summary = document.getElementById('run-summary');
  const drone = ctx.state.drones.get(ctx.state.selectedDrone);
  let controls = document.getElementById('run-controls');
  if (!drone) {
    summary.replaceChildren(t('drone.select'));
    controls?.remove();
    return;
  }
  const s = drone.live || {};
  const run = runOf(ctx, drone.id);
  summary.replaceChildren(el('dl', { class: 'kv' },
    el('dt', { text: drone.name }), el('dd', { text: drone.online ? t('drone.online') : t('drone.offline') }),
    el('dt', { text: t('drone.mode') }), el('dd', { text: `${s.mode || '—'}${s.armed ? ` · ${t('drone.armed')}` : ''}` }),
    el('dt', { text: t('drone.alt') }), el('dd', { text: fmtNum(s.alt_rel_m, 1, ' m') }),
    el('dt', { text: t('drone.battery') }), el('dd', { text: fmtNum(s.battery_pct, 0, '%') }),
    el('dt', { text: t('drone.run') }), el('dd', { text: run ? `#${run.id} ${t(`run.state.${run.state}`)}` : t('drone.norun') }),
    el('dt', { text: t('run.progress') }), el('dd', { text: run && run.progress && run.progress.share_done_pct !== null ? `${run.progress.share_done_pct.toFixed(0)}% · ${t('run.eta')} ${fmtDuration(run.progress.eta_s)}` : '—' })));
  if (!canFly(ctx.state.role)) {
    controls?.remove(); // not rendered at all for roles without flight permission
    return;
  }
  if (!controls) {
    controls = el('div', { id: 'run-controls' }, ...ACTIONS.map((action) => el('button', {
      type: 'button', dataset: { action }, text: t(`run.${action}`),
      onclick: () => act(ctx, action),
    })));
    panel.append(controls);
  }
  controls.dataset.droneId = String(drone.id);
  if (run) controls.dataset.runId = String(run.id);
  else delete controls.dataset.runId;
  for (const button of controls.querySelectorAll('button[data-action]')) {
    button.textContent = t(`run.${button.dataset.action}`);
    button.disabled = !enabled(button.dataset.action, drone, run);
  }
}

async function act(ctx, action) {
  const drone = ctx.state.drones.get(ctx.state.selectedDrone);
  if (!drone) return;
  const run = runOf(ctx, drone.id);
  if (!(await confirmAction(t('confirm.action', { action: t(`run.${action}`), drone: drone.name })))) return;
  const [path, body] = request(action, drone, run);
  try {
    await api(path, { method: 'POST', body });
    toast(`${drone.name}: ${t(`run.${action}`)} ✓`);
    await ctx.refreshRuns();
  } catch (err) {
    toast(err.message, true);
  }
}
