/**
 * A Leaflet tile layer over the tileserver /api (IIP JTL tiles) for a CRS.Simple map in which zoom z is tile
 * level z (see PixelMapping). Past full resolution Leaflet scales the finest tiles (over-zoom). Levels are
 * floor(size / 2^k) pixels like the server's, and edge tiles, which the server crops, are shown at their
 * natural size instead of being stretched to a full tile.
 */
import { TileLayer, Util } from '../leaflet.js';

export class ImageLayer extends TileLayer {
  /**
   * @param {import('../core/Api.js').Api} api the server
   * @param {object} info the image's INFO
   * @param {object} options TileLayer options, plus `image` (FIF path) and `params` (render parameters)
   */
  constructor(api, info, options = {}) {
    const maxNative = info.tile_levels - 1;
    super('', {
      tileSize: info.tile_size[0],
      minZoom: 0,
      minNativeZoom: 0,
      maxNativeZoom: maxNative,
      maxZoom: maxNative + 6,
      noWrap: true,
      keepBuffer: 2,
      className: 'ts-image-layer',
      ...options,
    });
    this._api = api;
    this._info = info;
    this._params = { ...(options.params || {}) };
    this.on('tileload', this._fitTile, this);
  }

  /** Render parameters (CNT, GAM, CMP...) replace the current ones; redraws unless noRedraw. */
  setParams(params, noRedraw = false) {
    this._params = { ...params };
    if (!noRedraw) this.redraw();
    return this;
  }

  getParams() {
    return { ...this._params };
  }

  /** Tile grid [columns, rows] of level z: floor(size / 2^k) pixels cut into tiles. */
  _grid(z) {
    const k = this._info.tile_levels - 1 - z;
    const [ts, th] = this._info.tile_size;
    const w = Math.max(1, Math.floor(this._info.full_size[0] / 2 ** k));
    const h = Math.max(1, Math.floor(this._info.full_size[1] / 2 ** k));
    return [Math.ceil(w / ts), Math.ceil(h / th)];
  }

  _isValidTile(coords) {
    const [cols, rows] = this._grid(coords.z);
    return coords.x >= 0 && coords.y >= 0 && coords.x < cols && coords.y < rows;
  }

  getTileUrl(coords) {
    const [cols] = this._grid(coords.z);
    return this._api.tileUrl(this.options.image, this._params, this._info.cache_tag, coords.z,
      coords.x + cols * coords.y);
  }

  /** Edge tiles are cropped by the server: show them at their natural size, not stretched to a full tile. */
  _fitTile(event) {
    const img = event.tile;
    const scale = this.getTileSize().x / this.options.tileSize;
    img.style.width = `${img.naturalWidth * scale}px`;
    img.style.height = `${img.naturalHeight * scale}px`;
  }
}

Util.extend(ImageLayer.prototype.options, { image: '' });
