/** A Leaflet tile layer over the tileserver /api (IIP JTL tiles), with exact edge tiles and over-zoom. */
import { TileLayer, Util } from 'leaflet';

export class ImageLayer extends TileLayer {
  /**
   * @param {string} api  URL of the API
   * @param {object} info the image's INFO
   * @param {object} options Leaflet TileLayer options, plus `image` (FIF) and `params` (render parameters)
   */
  constructor(api, info, options = {}) {
    const maxNative = info.tile_levels - 1;
    super('', {
      tileSize: info.tile_size[0],
      minZoom: 0,
      maxNativeZoom: maxNative,
      maxZoom: maxNative + 5,
      noWrap: true,
      keepBuffer: 2,
      ...options,
    });
    this._api = api;
    this._info = info;
    this._params = { ...(options.params || {}) };
    this.on('tileload', this._fitTile, this);
  }

  /** Render parameters (CNT, GAM, CMP...); setParams merges and redraws unless noRedraw. */
  setParams(params, noRedraw = false) {
    this._params = { ...this._params, ...params };
    for (const [k, v] of Object.entries(this._params)) {
      if (v === null || v === undefined || v === false) delete this._params[k];
    }
    if (!noRedraw) this.redraw();
    return this;
  }

  getParams() { return { ...this._params }; }

  /** Tile grid size (columns) at an IIP level: floor(size / 2^k), in tiles. */
  _columns(z) {
    const shift = this._info.tile_levels - 1 - z;
    const w = Math.max(1, Math.floor(this._info.full_size[0] / 2 ** shift));
    return Math.ceil(w / this._info.tile_size[0]);
  }

  _rows(z) {
    const shift = this._info.tile_levels - 1 - z;
    const h = Math.max(1, Math.floor(this._info.full_size[1] / 2 ** shift));
    return Math.ceil(h / this._info.tile_size[1]);
  }

  _isValidTile(coords) {
    const z = this._getZoomForUrl();
    return coords.x >= 0 && coords.y >= 0 && coords.x < this._columns(z) && coords.y < this._rows(z);
  }

  getTileUrl(coords) {
    const z = this._getZoomForUrl();
    const query = new URLSearchParams();
    query.set('FIF', this.options.image);
    for (const [k, v] of Object.entries(this._params)) {
      if (Array.isArray(v)) v.forEach((item) => query.append(k, item));
      else query.set(k, v === true ? '' : String(v));
    }
    query.set('V', this._info.cache_tag);
    query.set('JTL', `${z},${coords.x + this._columns(z) * coords.y}`);
    return `${this._api}?${query.toString().replace(/=(&|$)/g, '$1')}`;
  }

  /** Edge tiles are cropped by the server: show them at their natural size, not stretched to a full tile. */
  _fitTile(event) {
    const img = event.tile;
    const scale = this.getTileSize().x / this.options.tileSize;
    img.style.width = `${img.naturalWidth * scale}px`;
    img.style.height = `${img.naturalHeight * scale}px`;
    img.classList.toggle('ts-tile-pixelated', this._map && this._map.getZoom() > this.options.maxNativeZoom);
  }
}

Util.extend(ImageLayer.prototype.options, { image: '' });
