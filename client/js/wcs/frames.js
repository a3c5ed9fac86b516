/**
 * What each celestial frame is called and how its coordinates read: the frame's name, its axis names and the
 * unit its positions are written in (sexagesimal hours and degrees for equatorial frames, degrees for galactic,
 * ecliptic, supergalactic and heliographic ones, arcseconds for helioprojective ones, as sunpy writes them).
 * Longitudes that are angles from a centre (helioprojective, Stonyhurst) read in (-180, 180]. Pure.
 */
import { formatSexagesimal } from './coords.js';

/** @type {Record<string, {label: string, axes: [string, string], unit: 'hms'|'deg'|'arcsec', signed?: boolean}>} */
export const FRAMES = {
  icrs: { label: 'ICRS', axes: ['RA', 'Dec'], unit: 'hms' },
  fk5: { label: 'FK5', axes: ['RA', 'Dec'], unit: 'hms' },
  fk4: { label: 'FK4', axes: ['RA', 'Dec'], unit: 'hms' },
  galactic: { label: 'Galactic', axes: ['l', 'b'], unit: 'deg' },
  ecliptic: { label: 'Ecliptic', axes: ['λ', 'β'], unit: 'deg' },
  supergalactic: { label: 'Supergalactic', axes: ['SGL', 'SGB'], unit: 'deg' },
  helioprojective: { label: 'Helioprojective', axes: ['Tx', 'Ty'], unit: 'arcsec', signed: true },
  heliographic_stonyhurst: { label: 'Heliographic Stonyhurst', axes: ['lon', 'lat'], unit: 'deg', signed: true },
  heliographic_carrington: { label: 'Heliographic Carrington', axes: ['lon', 'lat'], unit: 'deg' },
};

/** An equatorial system the WCS does not name (RADESYS GAPPT...): still RA/Dec. */
const UNKNOWN_EQUATORIAL = { label: 'RA/Dec', axes: ['RA', 'Dec'], unit: 'hms' };

/** The description of a WCS's frame (see FRAMES); its label carries the equinox of FK4/FK5. */
export function frameOf(wcs) {
  const frame = FRAMES[wcs.frame] || UNKNOWN_EQUATORIAL;
  if ((wcs.frame === 'fk5' || wcs.frame === 'fk4') && wcs.equinox !== null) {
    const prefix = wcs.frame === 'fk5' ? 'J' : 'B';
    return { ...frame, label: `${frame.label} ${prefix}${wcs.equinox}` };
  }
  return frame;
}

/** True for frames whose positions are equatorial (RA/Dec): the ones typed positions and overlays use. */
export function isEquatorial(wcs) {
  return !(wcs.frame in FRAMES) || ['icrs', 'fk5', 'fk4'].includes(wcs.frame);
}

/** Longitude as the frame reads it: [0, 360), or (-180, 180] for a signed frame. */
export function frameLongitude(frame, lon) {
  return frame.signed && lon > 180 ? lon - 360 : lon;
}

/**
 * A position in the frame's own words: ["Tx -4.50″  Ty +2.90″"], ["l 121.1743  b -21.5733"] or, for RA/Dec,
 * ["00:42:44.33 +41:16:07.5", "10.684710  +41.268750"]. `digits`: decimals of arcseconds that resolve a tenth
 * of a pixel; degrees take 4 more, seconds of time 1 more.
 */
export function formatPosition(frame, lon, lat, digits) {
  const [a, b] = frame.axes;
  const sign = (v) => (v >= 0 ? '+' : '');
  const x = frameLongitude(frame, lon);
  if (frame.unit === 'arcsec') {
    return [`${a} ${sign(x)}${(x * 3600).toFixed(digits)}″  ${b} ${sign(lat)}${(lat * 3600).toFixed(digits)}″`];
  }
  const d = digits + 4;
  if (frame.unit === 'deg') return [`${a} ${x.toFixed(d)}  ${b} ${sign(lat)}${lat.toFixed(d)}`];
  const [hms, dms] = formatSexagesimal(lon, lat, digits + 1);
  return [`${hms} ${dms}`, `${x.toFixed(d)}  ${sign(lat)}${lat.toFixed(d)}`];
}
