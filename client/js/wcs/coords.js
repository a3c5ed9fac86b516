/**
 * Sky coordinate helpers for the viewer: sexagesimal formatting and parsing,
 * and ICRS <-> Galactic conversion. All angles are in degrees.
 */

const DEG = Math.PI / 180;

/** Longitude wrapped into [0, 360). */
export function wrapLongitude(lon) {
  const wrapped = lon % 360;
  return wrapped < 0 ? wrapped + 360 : wrapped;
}

/** "dd:mm:ss[.s...]" of |value| in units (hours or degrees), rounded once so that seconds never read 60. */
function sexagesimal(value, decimals) {
  const perSecond = 10 ** decimals;
  const ticks = Math.round(Math.abs(value) * 3600 * perSecond);
  const units = Math.floor(ticks / (3600 * perSecond));
  const minutes = Math.floor(ticks / (60 * perSecond)) % 60;
  const secondTicks = ticks % (60 * perSecond);
  const seconds = String(Math.floor(secondTicks / perSecond)).padStart(2, '0');
  const fraction = decimals > 0 ? '.' + String(secondTicks % perSecond).padStart(decimals, '0') : '';
  return [units, `${String(minutes).padStart(2, '0')}:${seconds}${fraction}`];
}

/**
 * Format a position as ["hh:mm:ss.ss", "+dd:mm:ss.s"]: `precision` decimals on the
 * right ascension seconds, one fewer on the declination (the same angle on the sky).
 */
export function formatSexagesimal(lon, lat, precision = 2) {
  if (!Number.isFinite(lon) || !Number.isFinite(lat)) {
    throw new RangeError(`cannot format non-finite coordinates (${lon}, ${lat})`);
  }
  if (!Number.isInteger(precision) || precision < 0 || precision > 9) {
    throw new RangeError(`precision must be an integer in [0, 9], got ${precision}`);
  }
  const [hours, raRest] = sexagesimal(wrapLongitude(lon) / 15, precision);
  // Rounding 23:59:59.999 up gives 24h, which is 0h on the sky.
  const ra = `${String(hours % 24).padStart(2, '0')}:${raRest}`;
  const [degrees, decRest] = sexagesimal(lat, Math.max(precision - 1, 0));
  const dec = `${lat < 0 ? '-' : '+'}${String(degrees).padStart(2, '0')}:${decRest}`;
  return [ra, dec];
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const UNSIGNED = /^(\d+\.?\d*|\.\d+)$/;

/** Degrees-or-hours value of [units, minutes, seconds] tokens, or NaN when malformed or out of range. */
function fromSexagesimal(tokens) {
  const [head, ...rest] = tokens;
  if (!NUMBER.test(head) || !rest.every((token) => UNSIGNED.test(token))) return NaN;
  const [minutes = 0, seconds = 0] = rest.map(Number);
  if (minutes >= 60 || seconds >= 60 || (rest.length === 2 && !Number.isInteger(minutes))) return NaN;
  const magnitude = Math.abs(Number(head)) + minutes / 60 + seconds / 3600;
  return head.startsWith('-') ? -magnitude : magnitude;
}

/**
 * Parse "10.68 41.27" (degrees), "00:42:44.3 +41:16:09", "00h42m44.3s +41d16m09s"
 * or "00 42 44.3 +41 16 09" (hours, degrees) into [raDeg, decDeg]; null if not understood.
 */
export function parseCoordinates(text) {
  if (typeof text !== 'string') return null;
  const cleaned = text.trim().replace(/[hHdDmMsS:°'"′″,]/g, ' ');
  const tokens = cleaned.split(/\s+/).filter((token) => token.length > 0);
  const hourMarked = /^\s*[+-]?[\d.]+\s*[hH:]/.test(text);
  let ra;
  let dec;
  if (tokens.length === 2 && !hourMarked) {
    if (!tokens.every((token) => NUMBER.test(token))) return null;
    [ra, dec] = tokens.map(Number);
  } else if (tokens.length === 4 || tokens.length === 6) {
    const half = tokens.length / 2;
    ra = fromSexagesimal(tokens.slice(0, half)) * 15;
    dec = fromSexagesimal(tokens.slice(half));
  } else if (tokens.length === 2) {
    ra = fromSexagesimal(tokens.slice(0, 1)) * 15;
    dec = fromSexagesimal(tokens.slice(1));
  } else {
    return null;
  }
  if (!(ra >= 0 && ra < 360 && dec >= -90 && dec <= 90)) return null;
  return [ra, dec];
}

/** Unit vector of a (lon, lat) direction. */
function toVector(lon, lat) {
  const cosLat = Math.cos(lat * DEG);
  return [cosLat * Math.cos(lon * DEG), cosLat * Math.sin(lon * DEG), Math.sin(lat * DEG)];
}

/** (lon in [0, 360), lat) of a vector. */
function fromVector([x, y, z]) {
  return [wrapLongitude(Math.atan2(y, x) / DEG), Math.atan2(z, Math.hypot(x, y)) / DEG];
}

/** Matrix product a @ b of 3x3 matrices. */
function multiply(a, b) {
  return a.map((row) => [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j]));
}

/** Frame rotation by `angle` degrees about coordinate axis 0, 1 or 2 (the IAU R1, R2, R3). */
function rotation(angle, axis) {
  const c = Math.cos(angle * DEG);
  const s = Math.sin(angle * DEG);
  const [i, j] = [(axis + 1) % 3, (axis + 2) % 3];
  const matrix = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  matrix[axis][axis] = 1;
  matrix[i][i] = c;
  matrix[j][j] = c;
  matrix[i][j] = s;
  matrix[j][i] = -s;
  return matrix;
}

const MAS = 1 / 3600000;
// ICRS -> FK5 J2000 frame bias (USNO Circular 179): eta0 = -19.9 mas, xi0 = 9.1 mas, da0 = -22.9 mas.
const ICRS_TO_FK5 = multiply(multiply(rotation(19.9 * MAS, 0), rotation(9.1 * MAS, 1)), rotation(-22.9 * MAS, 2));
// FK5 J2000 -> Galactic: the IAU 1958 definition (B1950 pole 192.25, +27.4, l of the NCP 123)
// carried to FK5 J2000, to the digits astropy uses so that both libraries agree to 1e-9 deg.
const NGP_RA = 192.8594812065348;
const NGP_DEC = 27.12825118085622;
const NCP_LON = 122.9319185680026;
const FK5_TO_GALACTIC = multiply(multiply(rotation(180 - NCP_LON, 2), rotation(90 - NGP_DEC, 1)), rotation(NGP_RA, 2));
const ICRS_TO_GALACTIC = multiply(FK5_TO_GALACTIC, ICRS_TO_FK5);

/** Apply matrix m (or its transpose) to a vector. */
function apply(m, v, transpose = false) {
  return [0, 1, 2].map((i) => [0, 1, 2].reduce((sum, j) => sum + (transpose ? m[j][i] : m[i][j]) * v[j], 0));
}

/** ICRS (ra, dec) -> Galactic [l, b], degrees. */
export function equatorialToGalactic(ra, dec) {
  return fromVector(apply(ICRS_TO_GALACTIC, toVector(ra, dec)));
}

/** Galactic (l, b) -> ICRS [ra, dec], degrees. */
export function galacticToEquatorial(l, b) {
  return fromVector(apply(ICRS_TO_GALACTIC, toVector(l, b), true));
}
