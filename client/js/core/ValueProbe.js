/**
 * Pixel values under a moving point, asked of the server (VAL) at most once per `interval` ms with one
 * request in flight: the latest position wins, stale answers are dropped, and recent pixels are remembered.
 */
export class ValueProbe {
  /**
   * @param {import('./Api.js').Api} api
   * @param {(values: Array<number|null>|null, pixel: number[]) => void} onValues called with the values of
   *   every channel (null for NaN), or null when the request failed
   * @param {number} interval milliseconds between two requests
   */
  constructor(api, onValues, interval = 100) {
    this._api = api;
    this._onValues = onValues;
    this._interval = interval;
    this._image = null;
    this._wanted = null;
    this._busy = false;
    this._last = 0;
    this._timer = null;
    this._memory = new Map();
  }

  /** Forget everything (a new image). */
  reset(image) {
    this._image = image;
    this._wanted = null;
    this._memory.clear();
    clearTimeout(this._timer);
    this._timer = null;
  }

  /** Ask for the values at FITS pixel [x, y] (whole numbers); null cancels. */
  request(pixel) {
    this._wanted = this._image ? pixel : null;
    if (this._wanted === null) return;
    const known = this._memory.get(`${pixel[0]},${pixel[1]}`);
    if (known) {
      this._wanted = null;
      this._onValues(known, pixel);
      return;
    }
    this._schedule();
  }

  _schedule() {
    if (this._busy || this._timer !== null || this._wanted === null) return;
    const wait = this._interval - (performance.now() - this._last);
    if (wait > 0) {
      this._timer = setTimeout(() => {
        this._timer = null;
        this._schedule();
      }, wait);
      return;
    }
    this._send(this._wanted);
  }

  async _send(pixel) {
    const image = this._image;
    this._busy = true;
    this._last = performance.now();
    let values = null;
    try {
      values = await this._api.value(image, pixel[0], pixel[1]);
    } catch {
      values = null;
    }
    this._busy = false;
    if (image !== this._image) return;
    const key = `${pixel[0]},${pixel[1]}`;
    if (values) {
      if (this._memory.size > 256) this._memory.clear();
      this._memory.set(key, values);
    }
    const wanted = this._wanted;
    if (wanted && wanted[0] === pixel[0] && wanted[1] === pixel[1]) {
      this._wanted = null;
      this._onValues(values, pixel);
    }
    this._schedule();
  }
}
