/**
 * Catalogs as tables: {name, columns: [{name, unit, ucd}], rows: [[value...]]} read from CSV text, GeoJSON points
 * or the server's VOTable answer (tileserver/votables.py), the columns that hold positions and magnitudes guessed
 * from their names and UCDs, positions read as degrees or sexagesimal. Pure: no Leaflet, no DOM.
 */
import { parseCoordinates } from '../wcs/coords.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// Names of right ascension / declination columns, and of pixel positions (a leading _ allowed, as VizieR writes).
const names = (list) => new RegExp(`^_?(${list.join('|')})$`, 'i');
const RA_NAMES = names(['ra', 'raj2000', 'ra_?icrs', 'ra_?j2000', 'ra_?deg', 'radeg', 'ra_?d', 'ra2000',
  'alpha(_j2000|_icrs)?', 'right_?ascension']);
const DEC_NAMES = names(['dec?', 'dej2000', 'dec?_?icrs', 'dec?_?j2000', 'dec?_?deg', 'dec?deg', 'dec?_?d', 'dec2000',
  'delta(_j2000|_icrs)?', 'declination']);
const X_NAMES = names(['x', 'x_?image', 'xpos', 'x_?pix', 'xcentroid', 'xcenter']);
const Y_NAMES = names(['y', 'y_?image', 'ypos', 'y_?pix', 'ycentroid', 'ycenter']);
const MAG_NAME = /mag(?!e)/i; // Vmag, MAG_AUTO, phot_g_mean_mag, magnitude; not X_IMAGE

/** A CSV cell as a number when it reads as one, null when empty, else the text. */
function cell(text) {
  const t = text.trim();
  if (t === '') return null;
  return NUMBER.test(t) ? Number(t) : t;
}

/** Fields of one CSV line, quotes ("a, b" and "" for a quote) understood. */
function fields(lineText, delimiter) {
  if (delimiter === null) return lineText.trim().split(/\s+/);
  const out = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < lineText.length; i += 1) {
    const c = lineText[i];
    if (quoted) {
      if (c === '"' && lineText[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === delimiter) {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

/** Comma, tab, semicolon or bar, whichever the header line has most of; null for blank-separated columns. */
function delimiterOf(header) {
  const counts = [',', '\t', ';', '|'].map((d) => [d, header.split(d).length - 1]);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0][1] > 0 ? counts[0][0] : null;
}

/** A CSV (or TSV, or blank-separated) table with a header line; lines starting with # are comments. */
export function parseCsv(text, name = '') {
  const lines = text.split(/\r\n|\n|\r/).filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  if (lines.length === 0) throw new Error('the file is empty');
  const delimiter = delimiterOf(lines[0]);
  const columns = fields(lines[0], delimiter).map((n) => ({ name: n.trim(), unit: '', ucd: '' }));
  const rows = [];
  for (let i = 1; i < lines.length; i += 1) {
    const row = fields(lines[i], delimiter).map(cell);
    while (row.length < columns.length) row.push(null);
    rows.push(row.slice(0, columns.length));
  }
  return { name, columns, rows };
}

/** The Point features of a GeoJSON object as a table: lon and lat (RA, Dec in degrees), then the properties. */
export function fromGeoJson(data, name = '') {
  const features = data && data.type === 'FeatureCollection' ? data.features
    : data && data.type === 'Feature' ? [data] : null;
  if (!Array.isArray(features)) throw new Error('not a GeoJSON FeatureCollection');
  const points = features.filter((f) => f && f.geometry && f.geometry.type === 'Point');
  const keys = [];
  const seen = new Set(['ra', 'dec']);
  for (const f of points.slice(0, 1000)) {
    for (const key of Object.keys(f.properties || {})) {
      if (!seen.has(key)) {
        seen.add(key);
        keys.push(key);
      }
    }
  }
  const columns = ['ra', 'dec', ...keys].map((n) => ({ name: n, unit: '', ucd: '' }));
  const rows = points.map((f) => {
    const [lon, lat] = f.geometry.coordinates;
    const props = f.properties || {};
    return [((lon % 360) + 360) % 360, lat, ...keys.map((k) => (k in props ? props[k] : null))];
  });
  return { name, columns, rows, ignored: features.length - points.length };
}

/** The server's VOTable answer as a table. */
export function fromVoTable(data, name = '') {
  return { name: name || data.name, columns: data.columns, rows: data.rows };
}

function findColumn(columns, nameTest, ucdTest) {
  const byUcd = columns.findIndex((c) => c.ucd && ucdTest.test(c.ucd));
  if (byUcd >= 0) return byUcd;
  return columns.findIndex((c) => nameTest.test(c.name));
}

/** Indices of the position and magnitude columns: {kind: 'sky'|'pixel'|null, lon, lat, mag} (-1 when absent). */
export function guessColumns(table) {
  const cols = table.columns;
  const ra = findColumn(cols, RA_NAMES, /^pos\.eq\.ra(;meta\.main)?$/i);
  const dec = findColumn(cols, DEC_NAMES, /^pos\.eq\.dec(;meta\.main)?$/i);
  const numeric = (i) => table.rows.slice(0, 50).some((row) => typeof row[i] === 'number');
  const mag = cols.findIndex((c, i) => (/^phot\.mag/i.test(c.ucd) || MAG_NAME.test(c.name)) && numeric(i));
  if (ra >= 0 && dec >= 0) return { kind: 'sky', lon: ra, lat: dec, mag };
  const x = findColumn(cols, X_NAMES, /^pos\.cartesian\.x/i);
  const y = findColumn(cols, Y_NAMES, /^pos\.cartesian\.y/i);
  if (x >= 0 && y >= 0) return { kind: 'pixel', lon: x, lat: y, mag };
  return { kind: null, lon: -1, lat: -1, mag };
}

/**
 * Positions of every row as Float64Arrays [lon, lat]: numbers taken as degrees (or pixels), text as sexagesimal
 * ("10:00:12.3" hours, "+02:05:00" degrees). NaN where a row has none.
 */
export function positions(table, lonIndex, latIndex) {
  const n = table.rows.length;
  const lon = new Float64Array(n).fill(NaN);
  const lat = new Float64Array(n).fill(NaN);
  for (let i = 0; i < n; i += 1) {
    const a = table.rows[i][lonIndex];
    const b = table.rows[i][latIndex];
    if (typeof a === 'number' && typeof b === 'number') {
      [lon[i], lat[i]] = [a, b];
    } else if (a !== null && b !== null && a !== undefined && b !== undefined) {
      const parsed = parseCoordinates(`${a} ${b}`);
      if (parsed) [lon[i], lat[i]] = parsed;
    }
  }
  return [lon, lat];
}

/**
 * Marker radii in screen pixels from magnitudes: brighter is bigger, from `largest` at the 5th percentile of the
 * magnitudes down to `smallest` at the 95th; rows without one get `smallest`.
 */
export function markerRadii(table, magIndex, smallest = 2, largest = 8) {
  const n = table.rows.length;
  const radii = new Float32Array(n).fill(smallest);
  if (magIndex < 0) return radii.fill((smallest + largest) / 2);
  const mags = table.rows.map((row) => row[magIndex]).filter((m) => typeof m === 'number' && Number.isFinite(m));
  if (mags.length === 0) return radii;
  mags.sort((a, b) => a - b);
  const bright = mags[Math.floor(0.05 * (mags.length - 1))];
  const faint = mags[Math.ceil(0.95 * (mags.length - 1))];
  for (let i = 0; i < n; i += 1) {
    const m = table.rows[i][magIndex];
    if (typeof m !== 'number' || !Number.isFinite(m)) continue;
    const f = faint > bright ? (faint - m) / (faint - bright) : 0.5;
    radii[i] = smallest + (largest - smallest) * Math.min(1, Math.max(0, f));
  }
  return radii;
}
