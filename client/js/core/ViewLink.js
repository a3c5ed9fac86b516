/**
 * The shareable URL of a view: image, centre (FITS pixel), zoom and every render setting, as
 * ?image=a.fits&x=300.5&y=200.5&zoom=2&CNT=1.5 (zoom: screen pixels per image pixel)&MINMAX=1:90,200 — render settings keep their API names.
 * The view's orientation (see ViewTransform) as DS9 names it: rotate=90|180|270 (clockwise on screen) and
 * flip=x|y|xy, both left out when the view is upright. Pure: no Leaflet, no DOM.
 */
import { PARAM_NAMES } from './DisplaySettings.js';

export class ViewLink {
  /**
   * @param {string} image FIF path
   * @param {number[]|null} center FITS [x, y] of the view centre, or null to fit the image
   * @param {number|null} zoom magnification: screen pixels per image pixel (1: full resolution)
   * @param {Array<[string, string]>} pairs render parameters (DisplaySettings.toPairs())
   * @param {{quarter: number, flipX: boolean, flipY: boolean}|null} orientation turn and flips, null: upright
   */
  constructor(image, center = null, zoom = null, pairs = [], orientation = null) {
    this.image = image;
    this.center = center;
    this.zoom = zoom;
    this.pairs = pairs;
    this.orientation = orientation;
  }

  /** The query string (no leading "?"). Centre to 1/100 pixel: finer than any over-zoomed screen pixel. */
  toSearch() {
    const q = new URLSearchParams();
    if (this.image) q.set('image', this.image);
    if (this.center) {
      q.set('x', String(Number(this.center[0].toFixed(2))));
      q.set('y', String(Number(this.center[1].toFixed(2))));
    }
    if (this.zoom !== null) q.set('zoom', String(Number(this.zoom.toPrecision(6))));
    const o = this.orientation;
    if (o) {
      const quarter = ((o.quarter % 4) + 4) % 4;
      if (quarter) q.set('rotate', String(quarter * 90));
      if (o.flipX || o.flipY) q.set('flip', `${o.flipX ? 'x' : ''}${o.flipY ? 'y' : ''}`);
    }
    for (const [key, value] of this.pairs) q.append(key, value);
    // Keep ':' ',' and '/' readable: they are legal in a query and make links easier to read and edit.
    return q.toString().replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%2F/gi, '/').replace(/=(&|$)/g, '$1');
  }

  /** Parse a query string (with or without "?"); `fallbackImage` when it names none. */
  static fromSearch(search, fallbackImage = '') {
    const q = new URLSearchParams(search);
    const number = (key) => {
      const text = q.get(key);
      const value = text === null || text.trim() === '' ? NaN : Number(text);
      return Number.isFinite(value) ? value : null;
    };
    const [x, y] = [number('x'), number('y')];
    const pairs = [...q.entries()].filter(([key]) => PARAM_NAMES.includes(key.toUpperCase()));
    return new ViewLink(q.get('image') || fallbackImage, x !== null && y !== null ? [x, y] : null, number('zoom'),
      pairs, ViewLink.orientationOf(number('rotate'), (q.get('flip') || '').toLowerCase()));
  }

  /** {quarter, flipX, flipY} of rotate= (degrees, a multiple of 90; others are ignored) and flip= (x, y, xy). */
  static orientationOf(degrees, flip) {
    const quarter = degrees !== null && degrees % 90 === 0 ? (((degrees / 90) % 4) + 4) % 4 : 0;
    return { quarter, flipX: flip.includes('x'), flipY: flip.includes('y') };
  }
}
