/** Distances and directions on the sky: great-circle separation, position angle, readable angles. Pure. */

const DEG = Math.PI / 180;

/** Great-circle distance between two (lon, lat) points, degrees (Vincenty's formula: exact at any distance). */
export function separation(lon1, lat1, lon2, lat2) {
  const dl = (lon2 - lon1) * DEG;
  const [s1, c1] = [Math.sin(lat1 * DEG), Math.cos(lat1 * DEG)];
  const [s2, c2] = [Math.sin(lat2 * DEG), Math.cos(lat2 * DEG)];
  const across = Math.hypot(c2 * Math.sin(dl), c1 * s2 - s1 * c2 * Math.cos(dl));
  return Math.atan2(across, s1 * s2 + c1 * c2 * Math.cos(dl)) / DEG;
}

/** Direction of point 2 seen from point 1, east of north, degrees in [0, 360). */
export function positionAngle(lon1, lat1, lon2, lat2) {
  const dl = (lon2 - lon1) * DEG;
  const [p1, p2] = [lat1 * DEG, lat2 * DEG];
  const east = Math.sin(dl) * Math.cos(p2);
  const north = Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl);
  const angle = Math.atan2(east, north) / DEG;
  return angle < 0 ? angle + 360 : angle;
}

/** An angle in the unit that reads best: arcseconds under 1′, arcminutes under 1°, else degrees. */
export function formatAngle(degrees) {
  if (!Number.isFinite(degrees)) return '—';
  if (degrees < 1 / 60) return `${(degrees * 3600).toFixed(degrees * 3600 < 1 ? 4 : 2)}″`;
  if (degrees < 1) return `${(degrees * 60).toFixed(3)}′`;
  return `${degrees.toFixed(4)}°`;
}
