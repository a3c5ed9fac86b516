/**
 * What a FITS header says of its celestial axes: typed keyword access, axis types and frames, angle units, the
 * linear matrix (CD, PC + CDELT or CROTA), SIP and TPV distortions, and the whole description the transformations
 * of wcs.js need (parseCelestial). Pure.
 */
import { R0, cosd, sind } from './angles.js';
import { PROJECTIONS } from './projections.js';
import { SphericalRotation, celestialPole } from './rotation.js';

// ---------------------------------------------------------------------------------------
// Distortions.

/** The 40 TPV terms [power of x, power of y, power of r], in PVi_k order. */
const TPV_TERMS = (() => {
  const terms = [];
  for (let degree = 0; degree <= 7; degree++) {
    for (let py = 0; py <= degree; py++) terms.push([degree - py, py, 0]);
    if (degree % 2 === 1) terms.push([0, 0, degree]);
  }
  return terms;
})();

/** TPV polynomial of one axis: f(own coordinate, other coordinate), both in degrees. */
function tpvPolynomial(coefficients) {
  const used = coefficients.map((c, k) => [c, ...TPV_TERMS[k]]).filter(([c]) => c !== 0);
  return (x, y) => {
    const r = Math.hypot(x, y);
    return used.reduce((sum, [c, px, py, pr]) => sum + c * x ** px * y ** py * r ** pr, 0);
  };
}

/** SIP polynomial sum(c_p_q u^p v^q) from NAME_p_q keywords up to NAME_ORDER. */
function sipPolynomial(cards, name) {
  const order = cards.number(`${name}_ORDER`);
  if (order === undefined) return null;
  const terms = [];
  for (let p = 0; p <= order; p++) {
    for (let q = 0; p + q <= order; q++) {
      const c = cards.number(`${name}_${p}_${q}`, 0);
      if (c !== 0) terms.push([c, p, q]);
    }
  }
  return (u, v) => terms.reduce((sum, [c, p, q]) => sum + c * u ** p * v ** q, 0);
}

// ---------------------------------------------------------------------------------------
// Header access and axis types.

/** Typed access to the header keywords; COMMENT/HISTORY and anything unasked for is ignored. */
export class Cards {
  constructor(header) {
    this._header = header;
  }

  /** Numeric keyword, fallback when absent; throws on a non-numeric value. */
  number(key, fallback = undefined) {
    const value = this._header[key];
    if (value === undefined || value === null || value === '') return fallback;
    const parsed = typeof value === 'string' ? Number(value.trim()) : value;
    if (typeof parsed !== 'number' || !Number.isFinite(parsed)) {
      throw new Error(`FITS keyword ${key} must be a number, got ${JSON.stringify(value)}`);
    }
    return parsed;
  }

  /** Trimmed upper-case string keyword, fallback when absent. */
  string(key, fallback = undefined) {
    const value = this._header[key];
    return typeof value === 'string' ? value.trim().toUpperCase() : fallback;
  }

  /** True when any keyword matches the pattern. */
  hasAny(pattern) {
    return Object.keys(this._header).some((key) => pattern.test(key));
  }
}

export const LATITUDE_OF = {
  RA: 'DEC', GLON: 'GLAT', ELON: 'ELAT', SLON: 'SLAT', HLON: 'HLAT', HPLN: 'HPLT', HGLN: 'HGLT', CRLN: 'CRLT',
};
// Frames named by their longitude axis (paper II, section 3; Thompson 2006 for the solar ones). HLON/HLAT
// (helioecliptic) has no frame here: its readout says so rather than guess.
const FRAME_OF_AXIS = {
  GLON: 'galactic', ELON: 'ecliptic', SLON: 'supergalactic', HPLN: 'helioprojective',
  HGLN: 'heliographic_stonyhurst', CRLN: 'heliographic_carrington',
};
// CUNITi of a celestial axis -> degrees per unit (wcslib's unitfix accepts these spellings).
const ANGLE_UNITS = {
  '': 1, DEG: 1, DEGREE: 1, DEGREES: 1, ARCMIN: 1 / 60, ARCSEC: 1 / 3600, MAS: 1 / 3.6e6, RAD: R0,
};

/** Degrees per unit of CUNITi (1 when absent); throws on a unit that is not an angle. */
function angleUnit(cards, axis) {
  const unit = cards.string(`CUNIT${axis + 1}`, '');
  if (!(unit in ANGLE_UNITS)) throw new Error(`WCS: CUNIT${axis + 1} '${unit}' is not an angle unit`);
  return ANGLE_UNITS[unit];
}
export const LONGITUDE_OF = Object.fromEntries(Object.entries(LATITUDE_OF).map(([lon, lat]) => [lat, lon]));

/** {name, code, suffix} of a celestial CTYPE such as "RA---TAN-SIP", or null for any other axis. */
export function parseCtype(ctype) {
  if (ctype.length < 8 || ctype[4] !== '-') return null;
  const name = ctype.slice(0, 4).replace(/-+$/, '');
  if (!(name in LATITUDE_OF) && !(name in LONGITUDE_OF)) return null;
  return { name, code: ctype.slice(5, 8), suffix: ctype.slice(8) };
}

/** Frame name from the axis type and RADESYS/EQUINOX (paper II, section 3.1 defaults). */
export function frameOf(cards, lonName) {
  if (lonName in FRAME_OF_AXIS) return FRAME_OF_AXIS[lonName];
  if (lonName !== 'RA') return null;
  const system = cards.string('RADESYS') ?? cards.string('RADECSYS');
  if (system !== undefined) return { ICRS: 'icrs', FK5: 'fk5', FK4: 'fk4', 'FK4-NO-E': 'fk4' }[system] ?? null;
  const equinox = cards.number('EQUINOX') ?? cards.number('EPOCH');
  if (equinox === undefined) return 'icrs';
  return equinox < 1984 ? 'fk4' : 'fk5';
}

/** 2x2 matrix from pixel offsets to intermediate world coordinates: CD, PC + CDELT, or CDELT + CROTA. */
function linearMatrix(cards, latAxis) {
  const cdelt = [cards.number('CDELT1', 1), cards.number('CDELT2', 1)];
  if (cards.hasAny(/^CD[12]_[12]$/)) {
    return [[cards.number('CD1_1', 0), cards.number('CD1_2', 0)], [cards.number('CD2_1', 0), cards.number('CD2_2', 0)]];
  }
  if (cards.hasAny(/^PC[12]_[12]$/)) {
    const pc = [[cards.number('PC1_1', 1), cards.number('PC1_2', 0)], [cards.number('PC2_1', 0), cards.number('PC2_2', 1)]];
    return pc.map((row, i) => row.map((value) => value * cdelt[i]));
  }
  // The AIPS convention: CROTA rotates the latitude axis (paper II, section 6.1).
  const rotation = cards.number(`CROTA${latAxis + 1}`) ?? cards.number(`CROTA${2 - latAxis}`, 0);
  const [c, s] = [cosd(rotation), sind(rotation)];
  const lonAxis = 1 - latAxis;
  const matrix = [[cdelt[0], 0], [0, cdelt[1]]];
  matrix[lonAxis][latAxis] = -s * cdelt[latAxis];
  matrix[latAxis][lonAxis] = s * cdelt[lonAxis];
  matrix[lonAxis][lonAxis] = c * cdelt[lonAxis];
  matrix[latAxis][latAxis] = c * cdelt[latAxis];
  return matrix;
}
/** SIP forward polynomials A, B and, when given, the approximate inverse AP, BP (pixel offsets). */
function parseSip(cards) {
  const [a, b] = [sipPolynomial(cards, 'A'), sipPolynomial(cards, 'B')];
  if (a === null || b === null) throw new Error('WCS: a -SIP CTYPE needs A_ORDER and B_ORDER');
  const [ap, bp] = [sipPolynomial(cards, 'AP'), sipPolynomial(cards, 'BP')];
  return { a, b, ap: ap && bp ? ap : null, bp: ap && bp ? bp : null };
}

/** TPV polynomials of both axes; an axis without PVi_k keywords is left undistorted. */
function parseTpv(cards) {
  return [1, 2].map((axis) => {
    const coefficients = TPV_TERMS.map((_, k) => cards.number(`PV${axis}_${k}`));
    if (coefficients.every((c) => c === undefined)) return (x) => x;
    return tpvPolynomial(coefficients.map((c) => c ?? 0));
  });
}

/** Everything the transformations need, from a header with a celestial pair of axes. */
export function parseCelestial(cards, axis, latAxis) {
  const lonAxis = 1 - latAxis;
  const isSip = axis.suffix === '-SIP';
  // SCAMP writes TPV distortions under a plain TAN, as wcslib and astropy read them;
  // with SIP, the PV keywords are leftovers and SIP wins (as in astropy).
  const isTpv = axis.code === 'TPV' || (axis.code === 'TAN' && !isSip && cards.hasAny(/^PV[12]_\d+$/));
  const code = axis.code === 'TPV' ? 'TAN' : axis.code;
  if (!(code in PROJECTIONS)) {
    throw new Error(`WCS: unsupported projection '${axis.code}' (supported: ${Object.keys(PROJECTIONS).join(', ')}, TPV)`);
  }
  if (axis.suffix !== '' && !(isSip && code === 'TAN' && axis.code !== 'TPV')) {
    throw new Error(`WCS: unsupported CTYPE suffix '${axis.suffix}' (only TAN-SIP is supported)`);
  }
  // CRVAL and the linear matrix are in CUNIT: everything below works in degrees.
  const units = [angleUnit(cards, 0), angleUnit(cards, 1)];
  const crval = [cards.number('CRVAL1', 0) * units[0], cards.number('CRVAL2', 0) * units[1]];
  const [lon0, lat0] = [crval[lonAxis], crval[latAxis]];
  if (Math.abs(lat0) > 90) throw new Error(`WCS: CRVAL${latAxis + 1} = ${lat0}° is not a latitude`);
  const usesPv = !isTpv && !isSip;
  if (usesPv && [1, 2].some((m) => cards.number(`PV${lonAxis + 1}_${m}`, 0) !== 0)) {
    throw new Error('WCS: a fiducial point offset (PVi_1, PVi_2 on the longitude axis) is not supported');
  }
  const pvLat = usesPv ? Array.from({ length: 30 }, (_, m) => cards.number(`PV${latAxis + 1}_${m}`)) : [];
  const projection = PROJECTIONS[code](pvLat, lat0);
  const matrix = linearMatrix(cards, latAxis).map((row, i) => row.map((value) => value * units[i]));
  const det = matrix[0][0] * matrix[1][1] - matrix[0][1] * matrix[1][0];
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) throw new Error('WCS: the CD/PC/CDELT matrix is singular');
  const lonPole = cards.number('LONPOLE', lat0 >= projection.theta0 ? 0 : 180);
  const latPole = cards.number('LATPOLE', 90);
  const [poleLon, poleLat] = celestialPole(lon0, lat0, projection.theta0, lonPole, latPole);
  return {
    lonAxis,
    latAxis,
    crpix: [cards.number('CRPIX1', 0), cards.number('CRPIX2', 0)],
    matrix,
    inverse: [[matrix[1][1] / det, -matrix[0][1] / det], [-matrix[1][0] / det, matrix[0][0] / det]],
    projection,
    rotation: new SphericalRotation(poleLon, poleLat, lonPole),
    sip: isSip ? parseSip(cards) : null,
    tpv: isTpv ? parseTpv(cards) : null,
  };
}
