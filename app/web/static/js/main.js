// The command center: sign-in, then the district, the fleet, alerts, work orders and runs, kept
// current by /ws/live (positions, alerts, progress, run transitions) and by light polling for what the
// stream does not carry (run progress, work orders, patrol coverage).

import { renderAlerts } from './alerts.js';
import { api, eachLimited, onUnauthorized, setToken } from './api.js';
import { renderFleet, runOf } from './fleet.js';
import { closeGrid, openGrid } from './griddetail.js';
import { loadI18n, t, toggleLang } from './i18n.js';
import { LiveLink } from './live.js';
import { MapView } from './map.js';
import { ACTIVE_WORKORDER_STATES } from './roles.js';
import { toast } from './util.js';
import { renderWorkOrders } from './workorders.js';

const TOKEN_KEY = 'aerogrid.token';
const SIGNOUT_REASON_KEY = 'aerogrid.signout_reason';
const OFFLINE_AFTER_MS = 6000;
const ROUTE_STATES = new Set(['uploading', 'ready', 'running', 'paused', 'returning']);

const state = {
  config: null, role: null, me: null,
  drones: new Map(), grids: new Map(), communities: [],
  alerts: new Map(), workorders: new Map(), runs: new Map(), coverage: new Map(), missions: new Map(),
  selectedDrone: null, selectedGrid: null, selectedOrder: null,
};
let map = null;
let live = null;
let renderPending = false;

const ctx = {
  state,
  get map() { return map; },
  selectDrone, focusAlert, upsertAlert, updateGridState, refreshRuns,
  onWorkOrdersChanged() { renderWorkOrders(ctx); updateAllGridStates(); },
};

function byId(id) { return document.getElementById(id); }

async function boot() {
  await loadI18n();
  state.config = await (await fetch('/ui/config')).json();
  byId('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(byId('signin-token').value.trim());
  });
  byId('signout').addEventListener('click', signOut);
  byId('lang-toggle').addEventListener('click', () => { toggleLang(); renderAll(); setConnStatus(byId('conn-status').dataset.state); });
  byId('zoom-in').addEventListener('click', () => map && map.zoomBy(1.6));
  byId('zoom-out').addEventListener('click', () => map && map.zoomBy(1 / 1.6));
  byId('zoom-fit').addEventListener('click', () => map && map.fit());
  for (const button of document.querySelectorAll('[data-close]')) {
    button.addEventListener('click', () => {
      if (button.dataset.close === 'grid-detail') closeGrid(ctx);
      else { byId(button.dataset.close).hidden = true; state.selectedOrder = null; renderWorkOrders(ctx); }
    });
  }
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || byId('confirm-dialog').open) return; // the dialog handles its own Escape
    const open = ['workorder-detail', 'grid-detail'].find((id) => !byId(id).hidden);
    if (open) byId(open).querySelector('[data-close]').click();
  });
  if (state.config.tile_url && state.config.tile_attribution) {
    byId('attribution').textContent = state.config.tile_attribution;
    byId('attribution').hidden = false;
  }
  onUnauthorized((err) => {
    sessionStorage.setItem(SIGNOUT_REASON_KEY, err.message);
    signOut();
  });
  const reason = sessionStorage.getItem(SIGNOUT_REASON_KEY);
  sessionStorage.removeItem(SIGNOUT_REASON_KEY);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) await signIn(saved);
  else showSignin(reason);
}

function showSignin(reason = null) {
  if (reason) {
    byId('signin-error').textContent = reason;
    byId('signin-error').hidden = false;
  }
  byId('app').hidden = true;
  byId('signin').hidden = false;
  byId('signin-token').focus();
}

async function signIn(token) {
  const error = byId('signin-error');
  error.hidden = true;
  setToken(token);
  let me;
  try {
    me = await api('/tokens/me');
  } catch (err) {
    setToken(null);
    sessionStorage.removeItem(TOKEN_KEY);
    error.textContent = err.message;
    error.hidden = false;
    showSignin();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.me = me;
  state.role = me.role;
  document.body.dataset.role = me.role;
  byId('whoami-name').textContent = me.name;
  byId('role-badge').dataset.i18n = `role.${me.role}`;
  byId('role-badge').textContent = t(`role.${me.role}`);
  byId('signin').hidden = true;
  byId('app').hidden = false;
  await start(token);
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  if (live) live.stop();
  location.reload();
}

function setConnStatus(value) {
  const box = byId('conn-status');
  box.dataset.state = value;
  box.querySelector('.conn-label').textContent = t(`conn.${value}`);
}

async function start(token) {
  map = new MapView(byId('map'), state.config, {
    onGridClick: (code) => openGrid(ctx, code),
    onDroneClick: (id) => selectDrone(id),
  });
  const [grids, zones, communities] = await Promise.all([api('/grids'), api('/geofences'), api('/communities')]);
  for (const f of grids.features) state.grids.set(f.properties.code, f);
  state.communities = communities.map((c) => c.code);
  map.setGrids(grids.features);
  map.setZones(zones.features);
  await loadDrones();
  live = new LiveLink({
    token,
    subscription: () => ({ drones: [...state.drones.keys()], communities: state.communities }),
    onMessage: onLive,
    onStatus: setConnStatus,
  });
  live.start();
  await Promise.all([loadAlerts(), loadWorkOrders(), refreshRuns()]);
  renderAll();
  loadTracks();
  loadCoverage();
  setInterval(refreshRuns, 3000);
  setInterval(loadWorkOrders, 10000);
  setInterval(loadAlerts, 30000);
  setInterval(reloadDrones, 30000);
  setInterval(loadCoverage, 600000); // new patrols come with completed runs (below); this catches manual flights
  setInterval(updateAllGridStates, 60000); // patrolled turns overdue with time alone
  setInterval(markOffline, 2000);
}

function droneView(d) {
  const s = d.live || {};
  return {
    name: d.name,
    lat: s.lat_deg ?? d.home.lat_deg,
    lon: s.lon_deg ?? d.home.lon_deg,
    heading_deg: s.heading_deg,
    alt_m: s.alt_rel_m,
    battery_pct: s.battery_pct,
    mode: d.online ? s.mode : 'OFFLINE',
    armed: s.armed,
    online: d.online,
  };
}

async function loadDrones() {
  const drones = await api('/drones');
  const seen = new Set();
  for (const d of drones) {
    seen.add(d.id);
    const known = state.drones.get(d.id);
    state.drones.set(d.id, { ...d, live: known ? known.live : null, online: known ? known.online : false, lastSeenMs: known ? known.lastSeenMs : 0 });
  }
  for (const id of [...state.drones.keys()]) if (!seen.has(id)) state.drones.delete(id);
  await eachLimited([...state.drones.values()].filter((d) => !d.live), 4, async (d) => {
    const s = await api(`/drones/${d.id}/state`);
    if (s.lat_deg !== null && s.lat_deg !== undefined && !d.live) {
      d.live = { ...s, alt_rel_m: s.alt_rel_m };
      d.online = Boolean(s.online);
      if (d.online) d.lastSeenMs = Date.now();
    }
  });
  for (const d of state.drones.values()) map.upsertDrone(d.id, droneView(d));
}

async function reloadDrones() {
  const before = state.drones.size;
  await loadDrones();
  if (state.drones.size !== before && live) live.resubscribe();
  scheduleRender();
}

function markOffline() {
  const now = Date.now();
  for (const d of state.drones.values()) {
    if (d.online && now - d.lastSeenMs > OFFLINE_AFTER_MS) {
      d.online = false;
      map.upsertDrone(d.id, droneView(d));
      scheduleRender();
    }
  }
}

function onLive(msg) {
  switch (msg.type) {
    case 'state':
      for (const s of msg.states) {
        const d = state.drones.get(s.drone_id);
        if (!d) { reloadDrones(); continue; }
        d.live = { ...(d.live || {}), ...s };
        d.online = true;
        d.lastSeenMs = Date.now();
        map.upsertDrone(d.id, droneView(d));
        if (s.armed) map.appendTrack(d.id, s.lon_deg, s.lat_deg);
      }
      scheduleRender();
      break;
    case 'alert':
      upsertAlert(msg.alert);
      break;
    case 'progress': {
      const d = state.drones.get(msg.drone_id);
      if (d && d.live) {
        Object.assign(d.live, { mode: msg.mode, armed: msg.armed, mission_seq: msg.mission_seq });
        map.upsertDrone(d.id, droneView(d));
        scheduleRender();
      }
      break;
    }
    case 'run':
      refreshRuns().then(() => {
        if (msg.run && msg.run.to_state === 'completed') refreshCoverageForRun(msg.run.run_id);
      });
      break;
    case 'error':
      toast(msg.message, true);
      break;
    default:
      break;
  }
}

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => { renderPending = false; renderFleet(ctx); markAlertingDrones(); }, 300);
}

function renderAll() {
  renderFleet(ctx);
  renderAlerts(ctx);
  renderWorkOrders(ctx);
  markAlertingDrones();
}

function markAlertingDrones() {
  const alerting = new Set([...state.alerts.values()].filter((a) => a.state === 'open' && a.severity !== 'info').map((a) => a.drone_id));
  for (const id of state.drones.keys()) map.setDroneFlags(id, { selected: id === state.selectedDrone, alerting: alerting.has(id) });
}

function selectDrone(id) {
  state.selectedDrone = id;
  renderFleet(ctx);
  markAlertingDrones();
}

function focusAlert(alert) {
  if (state.drones.has(alert.drone_id)) selectDrone(alert.drone_id);
  if (alert.grid_code && state.grids.has(alert.grid_code)) openGrid(ctx, alert.grid_code);
}

function upsertAlert(alert) {
  const known = state.alerts.get(alert.id);
  const merged = known && alert.truncated ? { ...known, ...alert, evidence: known.evidence } : alert;
  state.alerts.set(alert.id, merged);
  renderAlerts(ctx);
  markAlertingDrones();
  if (alert.grid_code) updateGridState(alert.grid_code);
}

async function loadAlerts() {
  try {
    const alerts = await api('/alerts?limit=200');
    state.alerts = new Map(alerts.map((a) => [a.id, a]));
    renderAlerts(ctx);
    markAlertingDrones();
    updateAllGridStates();
  } catch (err) {
    toast(err.message, true);
  }
}

async function loadWorkOrders() {
  try {
    const orders = await api('/work-orders?limit=200');
    state.workorders = new Map(orders.map((o) => [o.id, o]));
    renderWorkOrders(ctx);
    updateAllGridStates();
  } catch (err) {
    toast(err.message, true);
  }
}

let runsInFlight = null;
/** Runs (state and progress) and, for each drone flying one, its sortie's planned route. */
function refreshRuns() {
  if (!runsInFlight) {
    runsInFlight = (async () => {
      try {
        const runs = await api('/runs?limit=200');
        state.runs = new Map(runs.map((r) => [r.id, r]));
        await drawRoutes();
        scheduleRender();
      } catch (err) {
        toast(err.message, true);
      } finally {
        runsInFlight = null;
      }
    })();
  }
  return runsInFlight;
}

async function missionOf(id) {
  if (!state.missions.has(id)) state.missions.set(id, await api(`/missions/${id}`));
  return state.missions.get(id);
}

async function drawRoutes() {
  for (const d of state.drones.values()) {
    const run = runOf(ctx, d.id);
    if (!run || !ROUTE_STATES.has(run.state)) { map.setRoute(d.id, null); continue; }
    const mission = await missionOf(run.mission_id);
    const route = mission.geojson.features.find((f) => f.properties.kind === 'route' && f.properties.sortie === run.sortie);
    map.setRoute(d.id, route ? route.geometry.coordinates.map((c) => [c[0], c[1]]) : null);
  }
}

async function loadTracks() {
  await eachLimited([...state.drones.keys()], 2, async (id) => {
    const track = await api(`/drones/${id}/track?max_points=500`);
    map.setTrack(id, track.geometry.coordinates.map((c) => [c[0], c[1]]));
  });
}

/** Every grid's latest patrol in one request; the unseen part is read per grid by the grid detail only.
 * Patrols are computed on read, a bounded number per request: while some are left, read again soon. */
async function loadCoverage() {
  try {
    const states = await api('/patrols/grid-states');
    for (const g of states.grids) state.coverage.set(g.grid_code, g);
    updateAllGridStates();
    if (states.pending_patrols > 0) setTimeout(loadCoverage, 5000);
  } catch (err) {
    toast(err.message, true);
  }
}

async function refreshCoverageForRun(runId) {
  if (state.runs.has(runId)) await loadCoverage();
}

/** alert > work order > overdue / patrolled (by the latest patrol's age) > idle (never patrolled). */
function gridState(code) {
  for (const a of state.alerts.values()) if (a.grid_code === code && a.state === 'open') return 'alert';
  for (const o of state.workorders.values()) if (o.grid_code === code && ACTIVE_WORKORDER_STATES.has(o.state)) return 'workorder';
  const coverage = state.coverage.get(code);
  if (!coverage || !coverage.last_patrolled_at) return 'idle';
  const ageH = (Date.now() - new Date(coverage.last_patrolled_at).getTime()) / 3.6e6;
  return ageH <= state.config.patrol_fresh_h ? 'patrolled' : 'overdue';
}

function updateGridState(code) {
  if (map) map.setGridState(code, gridState(code));
}

function updateAllGridStates() {
  for (const code of state.grids.keys()) updateGridState(code);
}

boot();
