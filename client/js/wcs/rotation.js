/**
 * From native spherical coordinates to celestial ones and back (paper II, section 2): the celestial pole from the
 * fiducial point and LONPOLE/LATPOLE, the rotation of the sphere, and the great-circle separation. Pure.
 */
import { R0, TOLERANCE, atan2d, cosd, sind, wrap180, wrap360 } from './angles.js';

/**
 * Celestial pole (lon, lat) from the fiducial point (lon0, lat0), the native latitude of the
 * fiducial point theta0, and LONPOLE/LATPOLE (paper II, section 2.4; phi0 = 0 for every projection here).
 */
export function celestialPole(lon0, lat0, theta0, lonPole, latPole) {
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
export class SphericalRotation {
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
export function separation(lon1, lat1, lon2, lat2) {
  const dlon = lon2 - lon1;
  const x = sind(lat1) * sind(lat2) + cosd(lat1) * cosd(lat2) * cosd(dlon);
  const y = Math.hypot(cosd(lat2) * sind(dlon), cosd(lat1) * sind(lat2) - sind(lat1) * cosd(lat2) * cosd(dlon));
  return atan2d(y, x);
}
