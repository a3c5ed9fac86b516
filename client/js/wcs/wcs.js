/**
 * Celestial World Coordinate System of a FITS header (a flat {KEYWORD: value} object):
 * FITS pixel <-> (lon, lat) in degrees. Formulas and defaults follow Calabretta & Greisen
 * 2002, "Representations of celestial coordinates in FITS" (paper II); SIP and TPV
 * distortions follow their published conventions.
 */
import { invert2d } from './angles.js';
import { Cards, LATITUDE_OF, LONGITUDE_OF, frameOf, parseCelestial, parseCtype } from './header.js';
import { separation } from './rotation.js';

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
