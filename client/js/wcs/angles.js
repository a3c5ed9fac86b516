/**
 * Angles in degrees for the WCS (Calabretta & Greisen 2002, paper II): trigonometry exact at multiples of 90° so
 * that poles and axes stay exact, wrapping, and the solvers the projections and distortions invert with. Pure.
 */

export const R0 = 180 / Math.PI;
export const RAD = Math.PI / 180;
export const TOLERANCE = 1e-10;
export const NAN_PAIR = Object.freeze([NaN, NaN]);

/** Sine of degrees, exact at multiples of 90 so that poles and axes stay exact. */
export function sind(angle) {
  if (angle % 90 === 0) return [0, 1, 0, -1][(((angle / 90) % 4) + 4) % 4];
  return Math.sin(angle * RAD);
}

/** Cosine of degrees, exact at multiples of 90. */
export function cosd(angle) {
  if (angle % 90 === 0) return [1, 0, -1, 0][(((angle / 90) % 4) + 4) % 4];
  return Math.cos(angle * RAD);
}

/** atan2 in degrees. */
export function atan2d(y, x) {
  return Math.atan2(y, x) * R0;
}

/** asin in degrees of a value clamped to [-1, 1] (callers have checked it is within rounding). */
export function asind(value) {
  return Math.asin(Math.max(-1, Math.min(1, value))) * R0;
}

/** Angle wrapped into (-180, 180]. */
export function wrap180(angle) {
  const wrapped = angle % 360;
  if (wrapped > 180) return wrapped - 360;
  return wrapped <= -180 ? wrapped + 360 : wrapped;
}

/** Angle wrapped into [0, 360). */
export function wrap360(angle) {
  const wrapped = angle % 360;
  return wrapped < 0 ? wrapped + 360 : wrapped;
}

/** Root of a monotonic f in [lo, hi] by Newton steps kept inside a shrinking bracket. */
export function solveMonotonic(f, derivative, lo, hi, tolerance = 1e-13) {
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
export function invert2d(forward, target, start, step, tolerance) {
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
