/**
 * The server's HTTP interface as seen by the viewer: INFO, VAL, PFL, tile and region URLs, the folder listing,
 * build progress.
 */
import { request, requestJson } from './request.js';

export { ApiError } from './request.js';

/** Query string of [name, value] pairs and {name: value|array|true} objects, with IIP flags spelt bare. */
export function query(...parts) {
  const q = new URLSearchParams();
  for (const part of parts) {
    const entries = Array.isArray(part) ? part : Object.entries(part);
    for (const [key, value] of entries) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item === null || item === undefined || item === false) continue;
        q.append(key, item === true ? '' : String(item));
      }
    }
  }
  return q.toString().replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%2F/gi, '/').replace(/=(&|$)/g, '$1');
}

export class Api {
  /** @param {{root: string, api: string}} config the page's configuration (URLs already carry the root path) */
  constructor(config) {
    this.root = config.root || '';
    this.api = config.api;
  }

  /** The image's INFO (the server builds its pyramid first if needed: this can take a while). */
  info(image) {
    return requestJson(`${this.api}?${query({ FIF: image, INFO: true })}`, `Cannot open ${image}`);
  }

  /** Values of every channel (null for NaN) at FITS pixel (x, y), 1-based. */
  async value(image, x, y) {
    const body = await requestJson(`${this.api}?${query({ FIF: image, VAL: `${x},${y}` })}`, 'Pixel value');
    return body.values;
  }

  /** Values along the line from FITS pixel (x1, y1) to (x2, y2): [{x, y, values: [per channel]}...]. */
  async profile(image, x1, y1, x2, y2) {
    const body = await requestJson(`${this.api}?${query({ FIF: image, PFL: `${x1},${y1}:${x2},${y2}` })}`,
      'Profile');
    return body.profile;
  }

  /**
   * URL of a region (full-resolution pixels x1..x2, rows y1..y2 counted from the top, 1-based, inclusive)
   * binned by `binning`, as `format` (jpeg, png, webp or fits), under render parameters `params`.
   */
  regionUrl(image, params, tag, [x1, y1, x2, y2], binning, format) {
    return `${this.api}?${query({ FIF: image }, params,
      { V: tag, RGN: `${x1},${y1}:${x2},${y2}`, BIN: binning, CVT: format })}`;
  }

  /** A file (a snapshot, a cutout) as a Blob; a refusal (413: too large...) throws the server's message. */
  async file(url, what) {
    return (await request(url, what)).blob();
  }

  /** URL of tile i of level z under render parameters `params`; the cache tag makes it immutable. */
  tileUrl(image, params, tag, z, i) {
    return `${this.api}?${query({ FIF: image }, params, { V: tag, JTL: `${z},${i}` })}`;
  }

  /** Every HDU's header: {hdus: [{index, name, type, cards: [[keyword, value, comment]...]}]}. */
  headers(image) {
    return requestJson(`${this.root}/analysis/header?${query({ FIF: image })}`, 'Header');
  }

  /** Statistics of channel `channel` inside a shape ("circle:x,y,r", "box:x1,y1,x2,y2"...), FITS pixels. */
  stats(image, shape, channel) {
    return requestJson(`${this.root}/analysis/stats?${query({ FIF: image, CHAN: channel, shape })}`,
      'Region statistics');
  }

  /** Contour lines of a channel at `levels`: {binning, contours: [{level, paths: [[[x, y]...]...]}]}. */
  contours(image, levels, channel) {
    return requestJson(`${this.root}/analysis/contours?${query({ FIF: image, CHAN: channel,
      levels: levels.join(',') })}`, 'Contours');
  }

  /** Values of a channel in the (2r+1)² pixels around FITS pixel (x, y): {x: [...], y: [...], values}. */
  pixels(image, x, y, r, channel) {
    return requestJson(`${this.root}/analysis/pixels?${query({ FIF: image, CHAN: channel, x, y, r })}`,
      'Pixel table');
  }

  /** URL of the colour scale (a 256 x 1 PNG) of a channel under render parameters `params`. */
  colorbarUrl(image, params, channel) {
    const { CHAN: _shown, ...rest } = params; // the scale's own channel, even in colour-mix mode
    return `${this.root}/analysis/colorbar?${query({ FIF: image }, rest, { CHAN: channel })}`;
  }

  /** Folders and images of a data sub-folder. */
  list(path) {
    return requestJson(`${this.root}/list?${query({ path })}`, `Cannot list ${path || 'the data folder'}`);
  }

  /** Build state of an image: {state: "building"|"ready"|"waiting", stage, fraction}. */
  progress(image) {
    return requestJson(`${this.root}/progress?${query({ FIF: image })}`, 'Progress');
  }
}
