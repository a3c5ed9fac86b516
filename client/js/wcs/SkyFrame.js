/**
 * ICRS positions <-> FITS pixels of an image, through its WCS (wcs.js) in the WCS's own frame: overlays
 * (catalogs, region files) are ICRS, an image may be galactic. FK5 is taken as ICRS (they differ by tens of
 * milliarcseconds); FK4, ecliptic, supergalactic and solar images are refused rather than shown wrong by up to a degree.
 * Also the local linear map from sky offsets (degrees east, north) to pixel offsets, the one astropy's `regions`
 * uses to draw sky circles, ellipses and boxes on an image. Pure: no Leaflet, no DOM.
 */
import { equatorialToGalactic, galacticToEquatorial } from './coords.js';
import { frameOf, isEquatorial } from './frames.js';

const DEG = Math.PI / 180;

/** The point `distance` degrees from (ra, dec) at position angle `pa` (degrees east of north): [ra, dec]. */
export function offsetBy(ra, dec, pa, distance) {
  const [d, p, dec0] = [distance * DEG, pa * DEG, dec * DEG];
  const sinDec = Math.sin(dec0) * Math.cos(d) + Math.cos(dec0) * Math.sin(d) * Math.cos(p);
  const dra = Math.atan2(Math.sin(p) * Math.sin(d) * Math.cos(dec0), Math.cos(d) - Math.sin(dec0) * sinDec);
  const lon = (ra + dra / DEG) % 360;
  return [lon < 0 ? lon + 360 : lon, Math.asin(Math.max(-1, Math.min(1, sinDec))) / DEG];
}

export class SkyFrame {
  /** @param {import('./wcs.js').WCS|null} wcs the image's celestial WCS, or null */
  constructor(wcs) {
    this.wcs = wcs;
    this.galactic = Boolean(wcs) && wcs.frame === 'galactic';
    this.problem = '';
    if (!wcs) this.problem = 'the image has no sky coordinates';
    else if (!(this.galactic || (isEquatorial(wcs) && wcs.frame !== 'fk4'))) {
      this.problem = `sky overlays are not converted to the image's ${frameOf(wcs).label} frame`;
    }
  }

  get usable() {
    return this.problem === '';
  }

  /** ICRS degrees -> FITS pixel [x, y] (NaN off the projection). */
  toPixel(ra, dec) {
    const [lon, lat] = this.galactic ? equatorialToGalactic(ra, dec) : [ra, dec];
    return this.wcs.worldToPixel(lon, lat);
  }

  /** FITS pixel -> ICRS [ra, dec] degrees. */
  toSky(x, y) {
    const [lon, lat] = this.wcs.pixelToWorld(x, y);
    return this.galactic ? galacticToEquatorial(lon, lat) : [lon, lat];
  }

  /**
   * Pixels per degree at (ra, dec), as [[dx/dEast, dx/dNorth], [dy/dEast, dy/dNorth]]: central differences over
   * a pixel's length in each direction, valid at the poles and across RA 0h.
   */
  jacobian(ra, dec) {
    const [x, y] = this.toPixel(ra, dec);
    const step = this.wcs.pixelScale(x, y);
    const column = (pa) => {
      const [x1, y1] = this.toPixel(...offsetBy(ra, dec, pa, step));
      const [x0, y0] = this.toPixel(...offsetBy(ra, dec, pa + 180, step));
      return [(x1 - x0) / (2 * step), (y1 - y0) / (2 * step)];
    };
    const [east, north] = [column(90), column(0)];
    return [[east[0], north[0]], [east[1], north[1]]];
  }
}
