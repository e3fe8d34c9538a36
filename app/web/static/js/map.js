// The map: the district's grids, zones, drones, routes, tracks and unseen parts drawn in SVG from the
// API's GeoJSON, over an optional raster base map from the operator's tile server.
//
// Two layers of coordinates: `viewport` holds geometry in the projector's local units and is scaled
// as a whole (strokes keep their width with vector-effect); `overlay` holds markers and labels in
// screen pixels, re-placed on every view change so they keep their size.

import { LOCAL_ZOOM, Projector, coordsOf } from './geo.js';

const NS = 'http://www.w3.org/2000/svg';
const MAX_TILES = 80;
const TRACK_MAX_POINTS = 5000;

function node(tag, attrs = {}) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

export class MapView {
  constructor(svg, config, handlers) {
    this.svg = svg;
    this.proj = new Projector(config.tile_crs);
    this.tileUrl = config.tile_url;
    this.handlers = handlers;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.drones = new Map();
    this.labels = [];
    this.tracks = new Map();
    this.gridBounds = null;
    this.dragged = false;
    this.build();
    this.bindEvents();
  }

  build() {
    const defs = node('defs');
    defs.innerHTML = `
      <pattern id="hatch-red" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
        <rect width="6" height="6" fill="#ef4444" fill-opacity="0.10"/><line x1="0" y1="0" x2="0" y2="6" stroke="#f87171" stroke-width="1.5" stroke-opacity="0.6"/></pattern>
      <pattern id="hatch-white" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">
        <line x1="0" y1="0" x2="0" y2="5" stroke="#f8fafc" stroke-width="1.2" stroke-opacity="0.7"/></pattern>`;
    this.svg.append(defs);
    this.viewport = node('g', { class: 'viewport' });
    this.layer = {};
    for (const name of ['tiles', 'grids', 'zones', 'unseen', 'routes', 'tracks']) {
      this.layer[name] = node('g', { class: `layer-${name}` });
      this.viewport.append(this.layer[name]);
    }
    this.overlay = node('g', { class: 'overlay' });
    for (const name of ['labels', 'drones']) {
      this.layer[name] = node('g', { class: `layer-${name}` });
      this.overlay.append(this.layer[name]);
    }
    this.svg.append(this.viewport, this.overlay);
  }

  bindEvents() {
    let start = null;
    this.svg.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      start = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty };
      this.dragged = false;
    });
    window.addEventListener('pointermove', (e) => {
      if (!start) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (!this.dragged && Math.hypot(dx, dy) < 4) return;
      this.dragged = true;
      this.svg.classList.add('dragging');
      this.tx = start.tx + dx;
      this.ty = start.ty + dy;
      this.render();
    });
    window.addEventListener('pointerup', () => { start = null; this.svg.classList.remove('dragging'); });
    this.svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      const rect = this.svg.getBoundingClientRect();
      this.zoomAt(e.clientX - rect.left, e.clientY - rect.top, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
    new ResizeObserver(() => this.render()).observe(this.svg);
  }

  size() {
    const r = this.svg.getBoundingClientRect();
    return [r.width || 800, r.height || 600];
  }

  zoomAt(cx, cy, factor) {
    const next = Math.min(64, Math.max(1 / 256, this.scale * factor));
    const f = next / this.scale;
    this.tx = cx - (cx - this.tx) * f;
    this.ty = cy - (cy - this.ty) * f;
    this.scale = next;
    this.render();
  }

  zoomBy(factor) {
    const [w, h] = this.size();
    this.zoomAt(w / 2, h / 2, factor);
  }

  toScreen(lon, lat) {
    const [x, y] = this.proj.project(lon, lat);
    return [x * this.scale + this.tx, y * this.scale + this.ty];
  }

  pathD(geometry) {
    const ring = (coords, close) => coords.map(([lon, lat], i) => {
      const [x, y] = this.proj.project(lon, lat);
      return `${i ? 'L' : 'M'}${x.toFixed(2)} ${y.toFixed(2)}`;
    }).join('') + (close ? 'Z' : '');
    switch (geometry.type) {
      case 'Polygon': return geometry.coordinates.map((r) => ring(r, true)).join('');
      case 'MultiPolygon': return geometry.coordinates.map((p) => p.map((r) => ring(r, true)).join('')).join('');
      case 'LineString': return ring(geometry.coordinates, false);
      case 'MultiLineString': return geometry.coordinates.map((l) => ring(l, false)).join('');
      default: return '';
    }
  }

  /** Draw the grids (first call also fixes the projection origin and fits the view). */
  setGrids(features) {
    const all = features.flatMap((f) => coordsOf(f.geometry));
    if (!all.length) return;
    const lons = all.map((c) => c[0]);
    const lats = all.map((c) => c[1]);
    this.gridBounds = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
    const first = !this.proj.origin;
    if (first) this.proj.setOrigin((this.gridBounds[0] + this.gridBounds[2]) / 2, (this.gridBounds[1] + this.gridBounds[3]) / 2);
    const states = new Map([...this.layer.grids.children].map((p) => [p.dataset.gridCode, p.dataset.state]));
    this.layer.grids.replaceChildren();
    this.layer.labels.replaceChildren();
    this.labels = [];
    for (const f of features) {
      const code = f.properties.code;
      const path = node('path', { d: this.pathD(f.geometry), class: 'grid', 'vector-effect': 'non-scaling-stroke' });
      path.dataset.gridCode = code;
      path.dataset.state = states.get(code) || 'idle';
      const title = node('title');
      title.textContent = `${code} ${f.properties.name || ''}`;
      path.append(title);
      path.addEventListener('click', () => { if (!this.dragged) this.handlers.onGridClick(code); });
      this.layer.grids.append(path);
      const outer = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
      const xs = outer.map((c) => c[0]);
      const ys = outer.map((c) => c[1]);
      const label = node('text', { class: 'grid-label' });
      label.textContent = code;
      this.layer.labels.append(label);
      this.labels.push({ label, lon: (Math.min(...xs) + Math.max(...xs)) / 2, lat: (Math.min(...ys) + Math.max(...ys)) / 2,
        spanLon: Math.max(...xs) - Math.min(...xs), spanLat: Math.max(...ys) - Math.min(...ys) });
    }
    if (first) this.fit();
    else this.render();
  }

  fit() {
    if (!this.gridBounds) return;
    const [w, h] = this.size();
    const [x0, y0] = this.proj.project(this.gridBounds[0], this.gridBounds[3]);
    const [x1, y1] = this.proj.project(this.gridBounds[2], this.gridBounds[1]);
    this.scale = Math.min(w / Math.max(1, x1 - x0), h / Math.max(1, y1 - y0)) * 0.9;
    this.tx = w / 2 - ((x0 + x1) / 2) * this.scale;
    this.ty = h / 2 - ((y0 + y1) / 2) * this.scale;
    this.render();
  }

  setGridState(code, state) {
    const path = this.layer.grids.querySelector(`[data-grid-code="${CSS.escape(code)}"]`);
    if (path && path.dataset.state !== state) path.dataset.state = state;
  }

  selectGrid(code) {
    for (const p of this.layer.grids.querySelectorAll('.selected')) p.classList.remove('selected');
    if (code) this.layer.grids.querySelector(`[data-grid-code="${CSS.escape(code)}"]`)?.classList.add('selected');
  }

  setZones(features) {
    this.layer.zones.replaceChildren();
    for (const f of features) {
      const kind = f.properties.kind;
      let shape;
      if (f.geometry.type === 'Point') {
        const [lon, lat] = f.geometry.coordinates;
        const [cx, cy] = this.proj.project(lon, lat);
        shape = node('circle', { cx, cy, r: (f.properties.radius_m || 0) * this.proj.unitsPerMetre(lat) });
      } else {
        shape = node('path', { d: this.pathD(f.geometry) });
      }
      shape.setAttribute('class', `zone ${kind}`);
      shape.setAttribute('vector-effect', 'non-scaling-stroke');
      shape.dataset.zoneCode = f.properties.code;
      const title = node('title');
      title.textContent = `${f.properties.name || f.properties.code} (${kind})`;
      shape.append(title);
      this.layer.zones.append(shape);
    }
  }

  /** The unseen part of a grid's latest patrol (hatched); null clears it. */
  setUnseen(code, geometry) {
    this.layer.unseen.replaceChildren();
    if (!code || !geometry) return;
    const path = node('path', { d: this.pathD(geometry), class: 'unseen', 'vector-effect': 'non-scaling-stroke' });
    path.dataset.unseenGridCode = code;
    this.layer.unseen.append(path);
  }

  /** A drone's planned route ([lon, lat] list), or null to remove it. */
  setRoute(droneId, coords) {
    let path = this.layer.routes.querySelector(`[data-route-drone-id="${droneId}"]`);
    if (!coords || coords.length < 2) { path?.remove(); return; }
    if (!path) {
      path = node('path', { class: 'route', 'vector-effect': 'non-scaling-stroke' });
      path.dataset.routeDroneId = String(droneId);
      this.layer.routes.append(path);
    }
    path.setAttribute('d', this.pathD({ type: 'LineString', coordinates: coords }));
  }

  setTrack(droneId, coords) {
    this.tracks.set(droneId, coords.slice(-TRACK_MAX_POINTS));
    this.drawTrack(droneId);
  }

  appendTrack(droneId, lon, lat) {
    const coords = this.tracks.get(droneId) || [];
    const last = coords[coords.length - 1];
    if (last && Math.abs(last[0] - lon) < 1e-7 && Math.abs(last[1] - lat) < 1e-7) return;
    coords.push([lon, lat]);
    if (coords.length > TRACK_MAX_POINTS) coords.splice(0, coords.length - TRACK_MAX_POINTS);
    this.tracks.set(droneId, coords);
    this.drawTrack(droneId);
  }

  drawTrack(droneId) {
    const coords = this.tracks.get(droneId) || [];
    let path = this.layer.tracks.querySelector(`[data-track-drone-id="${droneId}"]`);
    if (!path) {
      path = node('path', { class: 'track', 'vector-effect': 'non-scaling-stroke' });
      path.dataset.trackDroneId = String(droneId);
      this.layer.tracks.append(path);
    }
    path.setAttribute('d', coords.length >= 2 ? this.pathD({ type: 'LineString', coordinates: coords }) : '');
  }

  /** Create or move a drone's marker; ``s`` carries WGS-84 position, heading, altitude, battery, mode. */
  upsertDrone(id, s) {
    let entry = this.drones.get(id);
    if (!entry) {
      const g = node('g', { class: 'drone' });
      g.dataset.droneId = String(id);
      const rot = node('g');
      rot.append(node('circle', { class: 'ring', r: 14 }), node('path', { class: 'body', d: 'M0,-12 L8,9 L0,4 L-8,9 Z' }));
      const label = node('text', { x: 13, y: -9 });
      g.append(rot, label);
      g.addEventListener('click', (e) => { e.stopPropagation(); this.handlers.onDroneClick(id); });
      this.layer.drones.append(g);
      entry = { g, rot, label };
      this.drones.set(id, entry);
    }
    Object.assign(entry, { lon: s.lon, lat: s.lat });
    const d = entry.g.dataset;
    d.lat = s.lat.toFixed(7);
    d.lon = s.lon.toFixed(7);
    d.headingDeg = (s.heading_deg ?? 0).toFixed(1);
    d.altM = (s.alt_m ?? 0).toFixed(1);
    d.batteryPct = s.battery_pct === null || s.battery_pct === undefined ? '' : String(Math.round(s.battery_pct));
    d.mode = s.mode || '';
    d.armed = String(Boolean(s.armed));
    d.online = String(s.online !== false);
    entry.rot.setAttribute('transform', `rotate(${s.heading_deg ?? 0})`);
    entry.label.textContent = `${s.name || id} · ${Math.round(s.alt_m ?? 0)} m`;
    this.placeDrone(entry);
  }

  setDroneFlags(id, { selected, alerting }) {
    const entry = this.drones.get(id);
    if (!entry) return;
    entry.g.classList.toggle('selected', Boolean(selected));
    entry.g.classList.toggle('alerting', Boolean(alerting));
  }

  placeDrone(entry) {
    const [x, y] = this.toScreen(entry.lon, entry.lat);
    entry.g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
  }

  render() {
    if (!this.proj.origin) return;
    this.viewport.setAttribute('transform', `matrix(${this.scale},0,0,${this.scale},${this.tx},${this.ty})`);
    for (const entry of this.drones.values()) this.placeDrone(entry);
    for (const l of this.labels) {
      const [x, y] = this.toScreen(l.lon, l.lat);
      const [x2, y2] = this.toScreen(l.lon + l.spanLon, l.lat + l.spanLat);
      const visible = Math.abs(x2 - x) > 46 && Math.abs(y2 - y) > 24;
      l.label.setAttribute('visibility', visible ? 'visible' : 'hidden');
      l.label.setAttribute('x', x.toFixed(1));
      l.label.setAttribute('y', y.toFixed(1));
    }
    this.renderTiles();
  }

  renderTiles() {
    if (!this.tileUrl) return;
    const [w, h] = this.size();
    const z = Math.max(1, Math.min(19, Math.round(LOCAL_ZOOM + Math.log2(this.scale))));
    const [wx0, wy0] = this.proj.toWorld(-this.tx / this.scale, -this.ty / this.scale);
    const [wx1, wy1] = this.proj.toWorld((w - this.tx) / this.scale, (h - this.ty) / this.scale);
    const n = 2 ** z;
    const tile = 256 / n;
    const xs = [Math.max(0, Math.floor(wx0 / tile)), Math.min(n - 1, Math.floor(wx1 / tile))];
    const ys = [Math.max(0, Math.floor(wy0 / tile)), Math.min(n - 1, Math.floor(wy1 / tile))];
    if ((xs[1] - xs[0] + 1) * (ys[1] - ys[0] + 1) > MAX_TILES) return;
    const wanted = new Set();
    for (let tx = xs[0]; tx <= xs[1]; tx++) {
      for (let ty = ys[0]; ty <= ys[1]; ty++) {
        const key = `${z}/${tx}/${ty}`;
        wanted.add(key);
        if (this.layer.tiles.querySelector(`[data-tile="${key}"]`)) continue;
        const [x, y, size] = this.proj.tileRect(tx, ty, z);
        const img = node('image', { x, y, width: size, height: size, class: 'tile', preserveAspectRatio: 'none' });
        img.dataset.tile = key;
        img.setAttribute('href', this.tileUrl.replace('{z}', z).replace('{x}', tx).replace('{y}', ty));
        this.layer.tiles.append(img);
      }
    }
    for (const img of [...this.layer.tiles.children]) if (!wanted.has(img.dataset.tile)) img.remove();
  }
}
