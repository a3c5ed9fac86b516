/**
 * The image on the map under changing render settings. A change builds a new ImageLayer over the current one
 * and drops the old one once the new tiles are in, so that a new contrast or channel never blanks the view.
 * A change arriving while one is still loading replaces it.
 */
import { ImageLayer } from './ImageLayer.js';

export class RenderedImage {
  /**
   * @param {import('leaflet').Map} map
   * @param {import('../core/Api.js').Api} api
   * @param {object} info the image's INFO
   * @param {string} image FIF path
   * @param {object} params render parameters
   */
  constructor(map, api, info, image, params) {
    this._map = map;
    this._api = api;
    this._info = info;
    this._image = image;
    this._params = params;
    this._current = this._layer(params);
    this._pending = null;
    this._resolve = null;
  }

  _layer(params) {
    const layer = new ImageLayer(this._api, this._info, { image: this._image, params });
    layer.on('final', (event) => this.finalize(event.info));
    return layer.addTo(this._map);
  }

  /** The image's build is done (websocket or polling): its layers swap their preview tiles for final ones. */
  finalize(info) {
    if (this._info === info) return; // each layer reports it too
    this._info = info;
    this._current.finalize(info);
    if (this._pending) this._pending.finalize(info);
    if (this.onfinal) this.onfinal(info);
  }

  get params() {
    return this._params;
  }

  /** True while tiles of the image on view, or of a change, are still coming. */
  get loading() {
    return this._pending !== null || this._current.isLoading();
  }

  /** Show the image under new parameters; resolves true once its tiles are loaded, false if superseded. */
  setParams(params) {
    if (JSON.stringify(params) === JSON.stringify(this._params)) return Promise.resolve(true);
    this._params = params;
    this._dropPending(false);
    const layer = this._layer(params);
    this._pending = layer;
    return new Promise((resolve) => {
      this._resolve = resolve;
      const swap = () => {
        if (this._pending !== layer) return;
        this._current.remove();
        this._current = layer;
        this._pending = null;
        this._resolve = null;
        resolve(true);
      };
      // No tile in view (the image is panned away): Leaflet fires no 'load', so swap at once.
      if (layer.isLoading()) layer.once('load', swap);
      else swap();
    });
  }

  _dropPending(value) {
    if (this._pending) {
      this._pending.remove();
      this._pending = null;
    }
    if (this._resolve) {
      this._resolve(value);
      this._resolve = null;
    }
  }

  /** Take the image off the map. */
  remove() {
    this._dropPending(false);
    this._current.remove();
  }
}
