/**
 * The projections of paper II (Calabretta & Greisen 2002): (x, y) intermediate world coordinates in degrees <->
 * native (phi, theta). Each factory takes pv (pv[m] = PVi_m of the latitude axis, or undefined) and returns
 * {theta0, toPlane(phi, theta), toNative(x, y)}; off-projection points give [NaN, NaN]. Pure.
 */
import { NAN_PAIR, R0, RAD, TOLERANCE, asind, atan2d, cosd, sind, solveMonotonic, wrap180 } from './angles.js';

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
export const PROJECTIONS = {
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
