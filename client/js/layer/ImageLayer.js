/**
 * A Leaflet tile layer over the tileserver /api (IIP JTL tiles) for a CRS.Simple map in which zoom z is tile
 * level z (see PixelMapping). Past full resolution Leaflet scales the finest tiles (over-zoom). Levels are
 * floor(size / 2^k) pixels like the server's, and edge tiles, which the server crops, are shown at their
 * natural size instead of being stretched to a full tile.
 *
 * An image opened before its pyramid is built (INFO `final` false) shows its coarser levels from previews, under a
 * cache tag marked as such. When the server says the build is done (`finalize(info)`: the websocket's second
 * `ready`, or this layer's own INFO polling when there is no socket), each preview tile is swapped in place for its
 * final version once that has loaded: no blank, no flash. Fires 'final' {info}.
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
    this._finalTimer = null;
    this.on('tileload', this._fitTile, this);
    this.on('tileload', this._refreshStale, this);
  }

  onAdd(map) {
    super.onAdd(map);
    if (this._info.final === false) this._finalTimer = setTimeout(() => this._pollFinal(), POLL_FINAL_MS);
  }

  onRemove(map) {
    clearTimeout(this._finalTimer);
    super.onRemove(map);
  }

  /** The build is done: ask for final tiles from now on, and swap the preview tiles on view for final ones. */
  finalize(info) {
    if (!info.final || this._info.final !== false || baseTag(info.cache_tag) !== baseTag(this._info.cache_tag)) {
      return this;
    }
    clearTimeout(this._finalTimer);
    this._previewLevels = new Set(this._info.levels_final.flatMap((done, z) => (done ? [] : [z])));
    this._info = info;
    for (const tile of Object.values(this._tiles)) {
      if (tile.loaded) this._refreshStale({ tile: tile.el, coords: tile.coords });
    }
    this.fire('final', { info });
    return this;
  }

  /** Polling fallback (no websocket): INFO now and then until the build is final. */
  async _pollFinal() {
    try {
      this.finalize(await this._api.info(this.options.image));
    } catch {
      // the server is away for a moment: ask again later
    }
    if (this._map && this._info.final === false) this._finalTimer = setTimeout(() => this._pollFinal(), POLL_FINAL_MS);
  }

  /** A preview tile (loaded, or still coming, when the build finished) gives way to the final one once loaded. */
  _refreshStale(event) {
    const { tile, coords } = event;
    if (!this._previewLevels || !this._previewLevels.has(coords.z) || tile.dataset.final) return;
    const url = this.getTileUrl(coords);
    if (tile.src === new URL(url, document.baseURI).href) {
      tile.dataset.final = '1'; // asked for after the build: final already
      return;
    }
    const next = new Image();
    next.onload = () => {
      tile.dataset.final = '1';
      tile.dataset.swapping = '1'; // see _tileReady
      tile.src = url; // from the browser's cache now: swapped at once
    };
    next.src = url;
  }

  /** Leaflet would fade a tile in again when its new source loads: this is the same tile, only final. */
  _tileReady(coords, err, tile) {
    if (tile && tile.dataset.swapping) {
      delete tile.dataset.swapping;
      return;
    }
    super._tileReady(coords, err, tile);
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

const POLL_FINAL_MS = 1500;

/** The cache tag without its preview mark: the same image version, built or not. */
export function baseTag(tag) {
  return String(tag).replace(/-preview$/, '');
}
