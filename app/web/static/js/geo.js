// Positions for display: WGS-84 -> (GCJ-02 when the base map is drawn in it) -> Web Mercator.
//
// The GCJ-02 offset is a port of geofences/crs.py (_wgs_to_gcj): the same Krasovsky constants and
// polynomial, so the page shifts exactly as the service converts imports. Only display uses it; every
// value the page sends or shows as a number stays WGS-84.

const KRASOVSKY_A_M = 6378245.0;
const KRASOVSKY_E2 = 0.00669342162296594323;
const CHINA = { lonMin: 72.004, lonMax: 137.8347, latMin: 0.8293, latMax: 55.8271 };

function offsetLat(x, y) {
  let ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  ret += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
  ret += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
  ret += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320.0 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
  return ret;
}

function offsetLon(x, y) {
  let ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  ret += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
  ret += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
  ret += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
  return ret;
}

/** WGS-84 -> GCJ-02 (degrees); points outside China are returned unchanged, as the service does. */
export function wgs84ToGcj02(lonDeg, latDeg) {
  if (lonDeg < CHINA.lonMin || lonDeg > CHINA.lonMax || latDeg < CHINA.latMin || latDeg > CHINA.latMax) {
    return [lonDeg, latDeg];
  }
  const dLatM = offsetLat(lonDeg - 105.0, latDeg - 35.0);
  const dLonM = offsetLon(lonDeg - 105.0, latDeg - 35.0);
  const latRad = latDeg * Math.PI / 180;
  const w2 = 1.0 - KRASOVSKY_E2 * Math.sin(latRad) ** 2;
  const w = Math.sqrt(w2);
  const meridianRadiusM = KRASOVSKY_A_M * (1.0 - KRASOVSKY_E2) / (w2 * w);
  const parallelRadiusM = KRASOVSKY_A_M / w * Math.cos(latRad);
  return [lonDeg + (dLonM / parallelRadiusM) * 180 / Math.PI, latDeg + (dLatM / meridianRadiusM) * 180 / Math.PI];
}

/** Web Mercator "world" coordinates: the whole earth is 256 x 256 at zoom 0 (tile pixels). */
function mercator(lonDeg, latDeg) {
  const sin = Math.sin(Math.max(-85.05, Math.min(85.05, latDeg)) * Math.PI / 180);
  return [256 * (lonDeg + 180) / 360, 256 * (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI))];
}

export const LOCAL_ZOOM = 17;
const LOCAL_SCALE = 2 ** LOCAL_ZOOM;

/**
 * Projects WGS-84 positions into the map's local frame: world coordinates at zoom 17 relative to an
 * origin near the district. Small numbers keep SVG (single-precision in the browser) exact to the
 * centimetre when zoomed in; zoom 0 world coordinates would wobble by metres.
 */
export class Projector {
  constructor(tileCrs) {
    this.gcj = tileCrs === 'gcj02';
    this.origin = null;
  }

  setOrigin(lonDeg, latDeg) {
    const [x, y] = mercator(...this.display(lonDeg, latDeg));
    this.origin = [x, y];
  }

  /** The datum the base map is drawn in. */
  display(lonDeg, latDeg) { return this.gcj ? wgs84ToGcj02(lonDeg, latDeg) : [lonDeg, latDeg]; }

  project(lonDeg, latDeg) {
    const [x, y] = mercator(...this.display(lonDeg, latDeg));
    const [ox, oy] = this.origin || [x, y];
    return [(x - ox) * LOCAL_SCALE, (y - oy) * LOCAL_SCALE];
  }

  /** A tile's world rectangle (zoom z) in local units: [x, y, size]. */
  tileRect(tx, ty, z) {
    const size = 256 / 2 ** z;
    const [ox, oy] = this.origin;
    return [(tx * size - ox) * LOCAL_SCALE, (ty * size - oy) * LOCAL_SCALE, size * LOCAL_SCALE];
  }

  /** Local units -> world (zoom 0) coordinates, for picking tiles. */
  toWorld(lx, ly) { return [lx / LOCAL_SCALE + this.origin[0], ly / LOCAL_SCALE + this.origin[1]]; }

  /** Local units per metre at a latitude (Web Mercator stretches with 1 / cos(lat)). */
  unitsPerMetre(latDeg) {
    return (256 * LOCAL_SCALE) / (40075016.686 * Math.cos(latDeg * Math.PI / 180));
  }
}

/** Every [lon, lat] of a GeoJSON geometry, for bounds. */
export function coordsOf(geometry) {
  const out = [];
  const walk = (c) => { if (typeof c[0] === 'number') out.push(c); else c.forEach(walk); };
  if (geometry && geometry.coordinates) walk(geometry.coordinates);
  return out;
}
