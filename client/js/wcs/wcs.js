/**
 * Celestial World Coordinate System of a FITS header (a flat {KEYWORD: value} object):
 * FITS pixel <-> (lon, lat) in degrees. Formulas and defaults follow Calabretta & Greisen
 * 2002, "Representations of celestial coordinates in FITS" (paper II); SIP and TPV
 * distortions follow their published conventions.
 */

const R0 = 180 / Math.PI;
const RAD = Math.PI / 180;
const TOLERANCE = 1e-10;
const NAN_PAIR = Object.freeze([NaN, NaN]);

/** Sine of degrees, exact at multiples of 90 so that poles and axes stay exact. */
function sind(angle) {
  if (angle % 90 === 0) return [0, 1, 0, -1][(((angle / 90) % 4) + 4) % 4];
  return Math.sin(angle * RAD);
}

/** Cosine of degrees, exact at multiples of 90. */
function cosd(angle) {
  if (angle % 90 === 0) return [1, 0, -1, 0][(((angle / 90) % 4) + 4) % 4];
  return Math.cos(angle * RAD);
}

/** atan2 in degrees. */
function atan2d(y, x) {
  return Math.atan2(y, x) * R0;
}

/** asin in degrees of a value clamped to [-1, 1] (callers have checked it is within rounding). */
function asind(value) {
  return Math.asin(Math.max(-1, Math.min(1, value))) * R0;
}

/** Angle wrapped into (-180, 180]. */
function wrap180(angle) {
  const wrapped = angle % 360;
  if (wrapped > 180) return wrapped - 360;
  return wrapped <= -180 ? wrapped + 360 : wrapped;
}

/** Angle wrapped into [0, 360). */
function wrap360(angle) {
  const wrapped = angle % 360;
  return wrapped < 0 ? wrapped + 360 : wrapped;
}

/** Root of a monotonic f in [lo, hi] by Newton steps kept inside a shrinking bracket. */
function solveMonotonic(f, derivative, lo, hi, tolerance = 1e-13) {
  const increasing = f(hi) > f(lo);
  let x = (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const value = f(x);
    if (value === 0) return x;
    if (value > 0 === increasing) hi = x;
    else lo = x;
    const slope = derivative(x);
    let next = x - value / slope;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) < tolerance) return next;
    x = next;
  }
  return x;
}

/** Solve forward(a, b) = target by Newton iteration with a finite-difference Jacobian. */
function invert2d(forward, target, start, step, tolerance) {
  let [a, b] = start;
  for (let i = 0; i < 50; i++) {
    const [fa, fb] = forward(a, b);
    const [fa1, fb1] = forward(a + step, b);
    const [fa2, fb2] = forward(a, b + step);
    const [j11, j12, j21, j22] = [(fa1 - fa) / step, (fa2 - fa) / step, (fb1 - fb) / step, (fb2 - fb) / step];
    const det = j11 * j22 - j12 * j21;
    const [ra, rb] = [fa - target[0], fb - target[1]];
    const da = (j22 * ra - j12 * rb) / det;
    const db = (j11 * rb - j21 * ra) / det;
    if (!Number.isFinite(da) || !Number.isFinite(db)) return NAN_PAIR;
    a -= da;
    b -= db;
    if (Math.hypot(da, db) < tolerance) return [a, b];
  }
  return NAN_PAIR;
}

// ---------------------------------------------------------------------------------------
// Projections: (x, y) intermediate world coordinates in degrees <-> native (phi, theta).
// Each factory takes pv (pv[m] = PVi_m of the latitude axis, or undefined) and returns
// {theta0, toPlane(phi, theta), toNative(x, y)}; off-projection points give [NaN, NaN].

/** Zenithal projection from its radius R(theta) and inverse theta(R) (paper II, section 5.1). */
function zenithal(radius, colatitude) {
  return {
    theta0: 90,
    toPlane(phi, theta) {
      const r = radius(theta);
      return Number.isFinite(r) ? [r * sind(phi), -r * cosd(phi)] : NAN_PAIR;
    },
    toNative(x, y) {
      const r = Math.hypot(x, y);
      const theta = colatitude(r);
      return Number.isFinite(theta) ? [r === 0 ? 0 : atan2d(x, -y), theta] : NAN_PAIR;
    },
  };
}

/** Cylindrical projection: x = phi, y = Y(theta) (paper II, section 5.2). */
function cylindrical(height, latitude) {
  return {
    theta0: 0,
    toPlane(phi, theta) {
      const y = height(theta);
      return Number.isFinite(y) ? [phi, y] : NAN_PAIR;
    },
    toNative(x, y) {
      const theta = latitude(y);
      return Number.isFinite(theta) && Math.abs(x) <= 180 + TOLERANCE ? [x, theta] : NAN_PAIR;
    },
  };
}

/** Slant orthographic SIN(xi, eta); NCP is SIN with eta = cot(CRVAL of latitude). */
function slantOrthographic(xi, eta) {
  if (xi === 0 && eta === 0) {
    return zenithal(
      (theta) => (theta >= 0 ? R0 * cosd(theta) : NaN),
      (r) => {
        const s = r / R0;
        return s <= 1 + TOLERANCE ? atan2d(Math.sqrt(Math.max(0, (1 - s) * (1 + s))), s) : NaN;
      },
    );
  }
  return {
    theta0: 90,
    toPlane(phi, theta) {
      // Hidden behind the limb: the projection ray (xi, eta, 1) would cross the sphere.
      if (theta < -atan2d(xi * sind(phi) - eta * cosd(phi), 1)) return NAN_PAIR;
      const t = 1 - sind(theta);
      return [R0 * (cosd(theta) * sind(phi) + xi * t), -R0 * (cosd(theta) * cosd(phi) - eta * t)];
    },
    toNative(x, y) {
      const [dx, dy] = [x / R0 - xi, y / R0 - eta];
      // sin(theta) solves a*s^2 + 2*b*s + c = 0; take the root nearer the native pole.
      const a = 1 + xi * xi + eta * eta;
      const b = xi * dx + eta * dy;
      const c = dx * dx + dy * dy - 1;
      const discriminant = b * b - a * c;
      if (discriminant < 0) return NAN_PAIR;
      const roots = [(-b + Math.sqrt(discriminant)) / a, (-b - Math.sqrt(discriminant)) / a];
      const valid = roots.filter((s) => Math.abs(s) <= 1 + TOLERANCE);
      if (valid.length === 0) return NAN_PAIR;
      const s = Math.max(...valid);
      return [atan2d(dx + xi * s, -(dy + eta * s)), asind(s)];
    },
  };
}

/** Zenithal/azimuthal perspective AZP(mu, gamma) (paper II, section 5.1). */
function azimuthalPerspective(mu, gamma) {
  if (mu === -1) throw new Error('AZP: PV2_1 (mu) must not be -1');
  const [cosGamma, sinGamma, tanGamma] = [cosd(gamma), sind(gamma), Math.tan(gamma * RAD)];
  /** True when the point is seen from the projection source (not beyond its limb). */
  const visible = (theta) => 1 + mu * sind(theta) >= -TOLERANCE;
  return {
    theta0: 90,
    toPlane(phi, theta) {
      const denominator = mu + sind(theta) + cosd(theta) * cosd(phi) * tanGamma;
      if (!(denominator > 0) || !visible(theta)) return NAN_PAIR;
      const r = (R0 * (mu + 1) * cosd(theta)) / denominator;
      return [r * sind(phi), (-r * cosd(phi)) / cosGamma];
    },
    toNative(x, y) {
      const r = Math.hypot(x, y * cosGamma);
      if (r === 0) return [0, 90];
      const rho = r / (R0 * (mu + 1) + y * sinGamma);
      const psi = atan2d(1, rho);
      const sinOmega = (rho * mu) / Math.sqrt(rho * rho + 1);
      if (Math.abs(sinOmega) > 1 + TOLERANCE) return NAN_PAIR;
      const omega = asind(sinOmega);
      const candidates = [wrap180(psi - omega), wrap180(psi + omega + 180)]
        .filter((theta) => Math.abs(theta) <= 90 + TOLERANCE && visible(theta));
      if (candidates.length === 0) return NAN_PAIR;
      return [atan2d(x, -y * cosGamma), Math.min(90, Math.max(...candidates))];
    },
  };
}

/** Zenithal polynomial ZPN: R = R0 * sum(pv[m] * zeta^m), zeta the native colatitude in radians. */
function zenithalPolynomial(pv) {
  const coefficients = Array.from({ length: 30 }, (_, m) => pv[m] ?? 0);
  while (coefficients.length > 1 && coefficients[coefficients.length - 1] === 0) coefficients.pop();
  if (coefficients.length < 2) throw new Error('ZPN: needs a nonzero PV2_m with m >= 1');
  const poly = (zeta) => coefficients.reduceRight((sum, c) => sum * zeta + c, 0);
  const slope = (zeta) => coefficients.reduceRight((sum, c, m) => (m === 0 ? sum : sum * zeta + m * c), 0);
  // The projection is used up to its first turning point (or the antipode), where R is one-to-one.
  let zetaMax = Math.PI;
  for (let step = 1; step <= 1800; step++) {
    const [lo, hi] = [((step - 1) * Math.PI) / 1800, (step * Math.PI) / 1800];
    if (slope(lo) * slope(hi) < 0) {
      zetaMax = solveMonotonic(slope, (z) => (slope(z + 1e-7) - slope(z - 1e-7)) / 2e-7, lo, hi);
      break;
    }
    if (slope(hi) === 0) {
      zetaMax = hi;
      break;
    }
  }
  const [rhoStart, rhoEnd] = [poly(0), poly(zetaMax)];
  return zenithal(
    (theta) => {
      const zeta = (90 - theta) * RAD;
      return zeta <= zetaMax + TOLERANCE ? R0 * poly(zeta) : NaN;
    },
    (r) => {
      const rho = r / R0;
      if (rho < Math.min(rhoStart, rhoEnd) - TOLERANCE || rho > Math.max(rhoStart, rhoEnd) + TOLERANCE) return NaN;
      const zeta = solveMonotonic((z) => poly(z) - rho, slope, 0, zetaMax);
      return 90 - zeta * R0;
    },
  );
}

/** Sanson-Flamsteed SFL: x = phi cos(theta), y = theta. */
function sansonFlamsteed() {
  return {
    theta0: 0,
    toPlane: (phi, theta) => [phi * cosd(theta), theta],
    toNative(x, y) {
      if (Math.abs(y) > 90 + TOLERANCE) return NAN_PAIR;
      const cosTheta = cosd(y);
      const phi = cosTheta === 0 ? 0 : x / cosTheta;
      return Math.abs(phi) <= 180 + TOLERANCE ? [phi, Math.max(-90, Math.min(90, y))] : NAN_PAIR;
    },
  };
}

/** Hammer-Aitoff AIT (paper II, section 5.3). */
function hammerAitoff() {
  return {
    theta0: 0,
    toPlane(phi, theta) {
      const gamma = R0 * Math.sqrt(2 / (1 + cosd(theta) * cosd(phi / 2)));
      return [2 * gamma * cosd(theta) * sind(phi / 2), gamma * sind(theta)];
    },
    toNative(x, y) {
      const [u, v] = [(x * RAD) / 4, (y * RAD) / 2];
      const z2 = 1 - u * u - v * v;
      if (z2 < 0.5 - TOLERANCE) return NAN_PAIR;
      const z = Math.sqrt(Math.max(z2, 0.5));
      return [2 * atan2d(z * u * 2, 2 * z * z - 1), asind(2 * v * z)];
    },
  };
}

/** Mollweide MOL (paper II, section 5.3). */
function mollweide() {
  const scale = Math.SQRT2 * R0;
  return {
    theta0: 0,
    toPlane(phi, theta) {
      // Solve 2g + sin 2g = pi sin(theta) for the auxiliary angle g.
      const target = Math.PI * sind(theta);
      const twoGamma = solveMonotonic((u) => u + Math.sin(u) - target, (u) => 1 + Math.cos(u), -Math.PI, Math.PI);
      return [((2 * Math.SQRT2) / Math.PI) * phi * Math.cos(twoGamma / 2), scale * Math.sin(twoGamma / 2)];
    },
    toNative(x, y) {
      const s = y / scale;
      if (Math.abs(s) > 1 + TOLERANCE) return NAN_PAIR;
      const sinGamma = Math.max(-1, Math.min(1, s));
      const cosGamma = Math.sqrt((1 - sinGamma) * (1 + sinGamma));
      const phi = cosGamma === 0 ? 0 : (Math.PI * x) / (2 * Math.SQRT2 * cosGamma);
      const sinTheta = (2 * Math.asin(sinGamma) + 2 * sinGamma * cosGamma) / Math.PI;
      if (Math.abs(phi) > 180 + TOLERANCE || Math.abs(sinTheta) > 1 + TOLERANCE) return NAN_PAIR;
      return [phi, asind(sinTheta)];
    },
  };
}

/** Conic equal area COE(theta_a, eta) (paper II, section 5.4). */
function conicEqualArea(thetaA, eta) {
  if (thetaA === undefined) throw new Error('COE: PV2_1 (theta_a) is required');
  const [sin1, sin2] = [sind(thetaA - eta), sind(thetaA + eta)];
  const gamma = sin1 + sin2;
  if (gamma === 0) throw new Error('COE: PV2_1 and PV2_2 give a degenerate cone');
  const c = gamma / 2;
  const radius = (theta) => ((2 * R0) / gamma) * Math.sqrt(1 + sin1 * sin2 - gamma * sind(theta));
  const y0 = radius(thetaA);
  return {
    theta0: thetaA,
    toPlane(phi, theta) {
      const r = radius(theta);
      return [r * sind(c * phi), y0 - r * cosd(c * phi)];
    },
    toNative(x, y) {
      const dy = y0 - y;
      const r = Math.sign(thetaA) * Math.hypot(x, dy);
      const phi = r === 0 ? 0 : atan2d(x / r, dy / r) / c;
      const sinTheta = (1 + sin1 * sin2) / gamma - (r * r * gamma) / (4 * R0 * R0);
      if (Math.abs(sinTheta) > 1 + TOLERANCE) return NAN_PAIR;
      return [phi, asind(sinTheta)];
    },
  };
}

/** Projection factories by FITS code; each takes (pv, latitude of CRVAL). */
const PROJECTIONS = {
  TAN: () => zenithal((theta) => (theta > 0 ? (R0 * cosd(theta)) / sind(theta) : NaN), (r) => atan2d(R0, r)),
  SIN: (pv) => slantOrthographic(pv[1] ?? 0, pv[2] ?? 0),
  NCP: (pv, lat0) => {
    if (lat0 === 0) throw new Error('NCP: undefined for a reference point on the equator');
    return slantOrthographic(0, cosd(lat0) / sind(lat0));
  },
  ZEA: () => zenithal(
    (theta) => 2 * R0 * sind((90 - theta) / 2),
    (r) => (r <= 2 * R0 + TOLERANCE ? 90 - 2 * asind(r / (2 * R0)) : NaN),
  ),
  ARC: () => zenithal((theta) => 90 - theta, (r) => (r <= 180 ? 90 - r : NaN)),
  STG: () => zenithal(
    (theta) => (theta > -90 ? (2 * R0 * cosd(theta)) / (1 + sind(theta)) : NaN),
    (r) => 90 - 2 * atan2d(r, 2 * R0),
  ),
  ZPN: (pv) => zenithalPolynomial(pv),
  AZP: (pv) => azimuthalPerspective(pv[1] ?? 0, pv[2] ?? 0),
  CAR: () => cylindrical((theta) => theta, (y) => (Math.abs(y) <= 90 + TOLERANCE ? Math.max(-90, Math.min(90, y)) : NaN)),
  CEA: (pv) => {
    const lambda = pv[1] ?? 1;
    if (!(lambda > 0 && lambda <= 1)) throw new Error(`CEA: PV2_1 (lambda) must be in (0, 1], got ${lambda}`);
    return cylindrical(
      (theta) => (R0 * sind(theta)) / lambda,
      (y) => (Math.abs((lambda * y) / R0) <= 1 + TOLERANCE ? asind((lambda * y) / R0) : NaN),
    );
  },
  MER: () => cylindrical(
    (theta) => (Math.abs(theta) < 90 ? R0 * Math.log(Math.tan(((90 + theta) / 2) * RAD)) : NaN),
    (y) => 2 * Math.atan(Math.exp(y / R0)) * R0 - 90,
  ),
  SFL: () => sansonFlamsteed(),
  AIT: () => hammerAitoff(),
  MOL: () => mollweide(),
  COE: (pv) => conicEqualArea(pv[1], pv[2] ?? 0),
};

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
class Cards {
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

const LATITUDE_OF = {
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
const LONGITUDE_OF = Object.fromEntries(Object.entries(LATITUDE_OF).map(([lon, lat]) => [lat, lon]));

/** {name, code, suffix} of a celestial CTYPE such as "RA---TAN-SIP", or null for any other axis. */
function parseCtype(ctype) {
  if (ctype.length < 8 || ctype[4] !== '-') return null;
  const name = ctype.slice(0, 4).replace(/-+$/, '');
  if (!(name in LATITUDE_OF) && !(name in LONGITUDE_OF)) return null;
  return { name, code: ctype.slice(5, 8), suffix: ctype.slice(8) };
}

/** Frame name from the axis type and RADESYS/EQUINOX (paper II, section 3.1 defaults). */
function frameOf(cards, lonName) {
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

/**
 * Celestial pole (lon, lat) from the fiducial point (lon0, lat0), the native latitude of the
 * fiducial point theta0, and LONPOLE/LATPOLE (paper II, section 2.4; phi0 = 0 for every projection here).
 */
function celestialPole(lon0, lat0, theta0, lonPole, latPole) {
  if (theta0 === 90) return [lon0, lat0];
  const [sinLat0, cosLat0] = [sind(lat0), cosd(lat0)];
  const [sinTheta0, cosTheta0] = [sind(theta0), cosd(theta0)];
  const [sinPhiP, cosPhiP] = [sind(lonPole), cosd(lonPole)];
  const x = cosTheta0 * cosPhiP;
  const z = Math.hypot(x, sinTheta0);
  let latP;
  if (z === 0) {
    if (sinLat0 !== 0) throw new Error('WCS: no celestial pole satisfies CRVAL, LONPOLE and the projection');
    latP = latPole;
  } else {
    const ratio = sinLat0 / z;
    if (Math.abs(ratio) > 1 + TOLERANCE) throw new Error('WCS: no celestial pole satisfies CRVAL and LONPOLE');
    const u = atan2d(sinTheta0, x);
    const v = Math.acos(Math.max(-1, Math.min(1, ratio))) * R0;
    const solutions = [wrap180(u + v), wrap180(u - v)].filter((lat) => Math.abs(lat) <= 90 + TOLERANCE);
    if (solutions.length === 0) throw new Error('WCS: no celestial pole satisfies CRVAL and LONPOLE');
    solutions.sort((a, b) => Math.abs(a - latPole) - Math.abs(b - latPole));
    latP = Math.max(-90, Math.min(90, solutions[0]));
  }
  const denominator = cosd(latP) * cosLat0;
  if (Math.abs(denominator) < TOLERANCE) {
    if (Math.abs(cosLat0) < TOLERANCE) return [lon0, latP];
    // A celestial pole sits at the native pole.
    return [latP > 0 ? lon0 + lonPole - 180 : lon0 - lonPole, latP];
  }
  const lonP = lon0 - atan2d((sinPhiP * cosTheta0) / cosLat0, (sinTheta0 - sind(latP) * sinLat0) / denominator);
  return [lonP, latP];
}

/** Rotation of the sphere taking native (phi, theta) to celestial (lon, lat) and back (paper II, eqs. 2 and 5). */
class SphericalRotation {
  constructor(poleLon, poleLat, lonPole) {
    this._poleLon = poleLon;
    this._lonPole = lonPole;
    this._sinPole = sind(poleLat);
    this._cosPole = cosd(poleLat);
  }

  /** Rotate (a, b) about the pole: returns [angle measured from the pole meridian, latitude]. */
  _rotate(a, b, origin) {
    const [sinB, cosB] = [sind(b), cosd(b)];
    const da = a - origin;
    const x = sinB * this._cosPole - cosB * this._sinPole * cosd(da);
    const y = -cosB * sind(da);
    const z = sinB * this._sinPole + cosB * this._cosPole * cosd(da);
    return [atan2d(y, x), atan2d(z, Math.hypot(x, y))];
  }

  /** Native (phi, theta) -> celestial [lon in [0, 360), lat]. */
  toCelestial(phi, theta) {
    const [angle, lat] = this._rotate(phi, theta, this._lonPole);
    return [wrap360(this._poleLon + angle), lat];
  }

  /** Celestial (lon, lat) -> native [phi in (-180, 180], theta]. */
  toNative(lon, lat) {
    const [angle, theta] = this._rotate(lon, lat, this._poleLon);
    return [wrap180(this._lonPole + angle), theta];
  }
}

/** Great-circle distance between two points, degrees (Vincenty's formula, exact at all separations). */
function separation(lon1, lat1, lon2, lat2) {
  const dlon = lon2 - lon1;
  const x = sind(lat1) * sind(lat2) + cosd(lat1) * cosd(lat2) * cosd(dlon);
  const y = Math.hypot(cosd(lat2) * sind(dlon), cosd(lat1) * sind(lat2) - sind(lat1) * cosd(lat2) * cosd(dlon));
  return atan2d(y, x);
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
function parseCelestial(cards, axis, latAxis) {
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

// ---------------------------------------------------------------------------------------

/** Celestial WCS of a FITS header: pixel (1-based) <-> (lon, lat) degrees. */
export class WCS {
  /** Parse a flat FITS header object; throws an Error naming the first unsupported feature. */
  constructor(header) {
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw new Error('WCS: the header must be an object of FITS keywords');
    }
    const cards = new Cards(header);
    const ctypes = [cards.string('CTYPE1', ''), cards.string('CTYPE2', '')];
    const axes = ctypes.map(parseCtype);
    this._celestial = null;
    this._frame = null;
    if (axes[0] === null || axes[1] === null) return;
    const latAxis = axes[0].name in LONGITUDE_OF ? 0 : 1;
    const [lon, lat] = [axes[1 - latAxis], axes[latAxis]];
    if (!(lon.name in LATITUDE_OF) || LATITUDE_OF[lon.name] !== lat.name) {
      throw new Error(`WCS: CTYPE1 '${ctypes[0]}' and CTYPE2 '${ctypes[1]}' are not a longitude/latitude pair`);
    }
    if (lon.code !== lat.code || lon.suffix !== lat.suffix) {
      throw new Error(`WCS: CTYPE1 '${ctypes[0]}' and CTYPE2 '${ctypes[1]}' use different projections`);
    }
    this._frame = frameOf(cards, lon.name);
    this._equinox = cards.number('EQUINOX') ?? cards.number('EPOCH') ?? null;
    this._celestial = parseCelestial(cards, lon, latAxis);
  }

  /** False when the header has no celestial pair of axes (pixel coordinates only). */
  get hasCelestial() {
    return this._celestial !== null;
  }

  /**
   * 'icrs' | 'fk5' | 'fk4' | 'galactic' | 'ecliptic' | 'supergalactic' | 'helioprojective' |
   * 'heliographic_stonyhurst' | 'heliographic_carrington' | null (an equatorial system it does not know).
   */
  get frame() {
    return this._frame;
  }

  /** EQUINOX (or EPOCH) of an equatorial frame, null when the header gives none. */
  get equinox() {
    return this._equinox ?? null;
  }

  /** The parsed celestial description, or a thrown Error for a pixel-only header. */
  _require() {
    if (this._celestial === null) throw new Error('WCS: this header has no celestial coordinates');
    return this._celestial;
  }

  /** FITS 1-based pixel -> [lon in [0, 360), lat] degrees; [NaN, NaN] off the projection. */
  pixelToWorld(x, y) {
    const wcs = this._require();
    let [u, v] = [x - wcs.crpix[0], y - wcs.crpix[1]];
    if (wcs.sip) [u, v] = [u + wcs.sip.a(u, v), v + wcs.sip.b(u, v)];
    let world = [wcs.matrix[0][0] * u + wcs.matrix[0][1] * v, wcs.matrix[1][0] * u + wcs.matrix[1][1] * v];
    if (wcs.tpv) world = [wcs.tpv[0](world[0], world[1]), wcs.tpv[1](world[1], world[0])];
    const [phi, theta] = wcs.projection.toNative(world[wcs.lonAxis], world[wcs.latAxis]);
    if (Number.isNaN(phi) || Number.isNaN(theta)) return [NaN, NaN];
    return wcs.rotation.toCelestial(phi, theta);
  }

  /** [lon, lat] degrees -> FITS 1-based [x, y]; [NaN, NaN] when the point is not on the projection. */
  worldToPixel(lon, lat) {
    const wcs = this._require();
    const [phi, theta] = wcs.rotation.toNative(lon, lat);
    const [px, py] = wcs.projection.toPlane(phi, theta);
    if (Number.isNaN(px) || Number.isNaN(py)) return [NaN, NaN];
    let world = wcs.lonAxis === 0 ? [px, py] : [py, px];
    if (wcs.tpv) {
      const distort = (a, b) => [wcs.tpv[0](a, b), wcs.tpv[1](b, a)];
      world = invert2d(distort, world, world, 1e-7, 1e-13);
    }
    let [u, v] = [
      wcs.inverse[0][0] * world[0] + wcs.inverse[0][1] * world[1],
      wcs.inverse[1][0] * world[0] + wcs.inverse[1][1] * world[1],
    ];
    if (wcs.sip) {
      const { a, b, ap, bp } = wcs.sip;
      // AP/BP only approximate the inverse: use them as the first guess, then solve exactly.
      const start = ap ? [u + ap(u, v), v + bp(u, v)] : [u, v];
      [u, v] = invert2d((s, t) => [s + a(s, t), t + b(s, t)], [u, v], start, 1e-3, 1e-10);
    }
    return [u + wcs.crpix[0], v + wcs.crpix[1]];
  }

  /** Local scale at a pixel in degrees/pixel: geometric mean of the sky lengths of the two pixel axes. */
  pixelScale(x, y) {
    const [left, right] = [this.pixelToWorld(x - 0.5, y), this.pixelToWorld(x + 0.5, y)];
    const [down, up] = [this.pixelToWorld(x, y - 0.5), this.pixelToWorld(x, y + 0.5)];
    return Math.sqrt(separation(...left, ...right) * separation(...down, ...up));
  }
}
