/** The viewer: a Leaflet map in image-pixel coordinates with one ImageLayer. */
import { CRS, DomUtil, Map, latLng } from 'leaflet';
import { ImageLayer } from './ImageLayer.js';

export class Viewer {
  constructor(element, config) {
    this.element = element;
    this.config = config;
    this.map = null;
    this.layer = null;
    this.info = null;
  }

  /** Fetch INFO for `image` and show it. */
  async open(image) {
    if (!image) {
      this.showMessage('No image given: add ?image=path/to/file.fits to the URL.');
      return;
    }
    const url = `${this.config.api}?FIF=${encodeURIComponent(image)}&INFO`;
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) {
      const msg = body.detail && body.detail[0] ? body.detail[0].msg : response.statusText;
      throw new Error(`Cannot open ${image}: ${msg}`);
    }
    this.info = body;
    this._createMap(image, body);
  }

  /** Full-resolution pixel (x from the left, y from the top, 0-based) -> map LatLng, and back. */
  pixelToLatLng(x, y) {
    const s = 2 ** (this.info.tile_levels - 1);
    return latLng(-y / s, x / s);
  }

  latLngToPixel(ll) {
    const s = 2 ** (this.info.tile_levels - 1);
    return [ll.lng * s, -ll.lat * s];
  }

  _createMap(image, info) {
    const [w, h] = info.full_size;
    this.map = new Map(this.element, {
      crs: CRS.Simple,
      minZoom: 0,
      maxZoom: info.tile_levels - 1 + 5,
      zoomSnap: 1,
      attributionControl: false,
    });
    this.layer = new ImageLayer(this.config.api, info, { image });
    this.layer.addTo(this.map);
    const bounds = [this.pixelToLatLng(0, h), this.pixelToLatLng(w, 0)];
    this.map.fitBounds(bounds);
  }

  showMessage(text, kind = '') {
    const div = DomUtil.create('div', `ts-message ${kind}`, this.element);
    div.textContent = text;
    return div;
  }

  showError(text) { return this.showMessage(text, 'error'); }
}
