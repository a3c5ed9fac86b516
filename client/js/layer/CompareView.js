/**
 * A second image to compare with the one on view: side by side (each in half of the window) or blinking (in the
 * same place, one after the other; see BlinkControl). Pan and zoom are locked both ways: through the sky (same
 * centre on the sky, same sky length per screen pixel) when both images have a usable WCS, else through pixels.
 * The second image shows with its default render settings. Fires 'open' and 'modechange'.
 */
import { CRS, Evented, Map as LeafletMap } from '../leaflet.js';
import { BlinkControl } from '../control/BlinkControl.js';
import { DisplaySettings } from '../core/DisplaySettings.js';
import { ImageLayer } from './ImageLayer.js';
import { PixelMapping } from '../core/PixelMapping.js';
import { SkyFrame } from '../wcs/SkyFrame.js';
import { WCS } from '../wcs/wcs.js';
import { el } from '../core/dom.js';
import { MosaicWcs } from '../wcs/MosaicWcs.js';

const ZOOM_RANGE = [-10, 30]; // the second map follows the first wherever its zoom leads (fractional zooms too)

/**
 * The view of a map (`to`) matching the view of another (`from`): {center: [x, y] FITS pixels, zoom, byWcs}.
 * Each side is {mapping, wcs, center: [x, y], zoom}.
 */
export function matchView(from, to) {
  const a = new SkyFrame(from.wcs);
  const b = new SkyFrame(to.wcs);
  const relative = from.zoom - from.mapping.nativeZoom;
  if (a.usable && b.usable) {
    const target = b.toPixel(...a.toSky(...from.center));
    const ratio = to.wcs.pixelScale(...target) / from.wcs.pixelScale(...from.center);
    if (target.every(Number.isFinite) && ratio > 0 && Number.isFinite(ratio)) {
      return { center: target, zoom: to.mapping.nativeZoom + relative + Math.log2(ratio), byWcs: true };
    }
  }
  return { center: from.center, zoom: to.mapping.nativeZoom + relative, byWcs: false };
}

export class CompareView extends Evented {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer) {
    super();
    this._viewer = viewer;
    this.image = null;
    this.info = null;
    this.mapping = null;
    this.wcs = null;
    this.mode = null; // null (off), 'side' or 'blink'
    this.locked = true;
    this.byWcs = false; // how the last lock was made
    this._layer = null;
    this._syncing = false;
    const mapElement = el('div', { class: 'ts-compare-map' });
    this._title = el('div', { class: 'ts-compare-title' });
    this.element = el('div', { class: 'ts-compare', hidden: true, 'aria-label': 'second image' }, mapElement,
      this._title);
    // First in the page: in blink mode the main map lies on top of it and lets it through when it is its turn.
    viewer.app.prepend(this.element);
    this.badge = el('div', { class: 'ts-blink-badge', hidden: true, role: 'status' });
    viewer.app.append(this.badge);
    this.map = new LeafletMap(mapElement, {
      crs: CRS.Simple, minZoom: ZOOM_RANGE[0], maxZoom: ZOOM_RANGE[1], zoomSnap: 0, zoomDelta: 1,
      zoomControl: false, attributionControl: false, fadeAnimation: false, keyboard: false,
    });
    this.blink = new BlinkControl();
    this.blink.on('flip', this._showBlink, this);
    viewer.map.on('move zoomend', () => this.sync('first'));
    this.map.on('move zoomend', () => this.mode === 'side' && this.sync('second'));
    viewer.on('imageopen', () => this.sync('first'));
    // Either map changes size when comparing starts or stops, or a panel opens: keep both views locked.
    new ResizeObserver(() => this._resized()).observe(viewer.map.getContainer());
    new ResizeObserver(() => this._resized()).observe(mapElement);
  }

  _resized() {
    this._viewer.map.invalidateSize({ animate: false });
    if (this.mode) {
      this.map.invalidateSize({ animate: false });
      this.sync('first');
    }
  }

  /** Show `image` as the second one (side by side unless already blinking); resolves once its INFO is in. */
  async open(image) {
    const info = await this._viewer.api.info(image);
    if (this._layer) this._layer.remove();
    this.image = image;
    this.info = info;
    this.mapping = PixelMapping.fromInfo(info);
    this.wcs = null;
    try {
      const wcs = new WCS(info.header || {});
      if (wcs.hasCelestial) this.wcs = MosaicWcs.of(wcs, info.images);
    } catch {
      this.wcs = null; // no usable WCS: locked by pixels
    }
    const params = new DisplaySettings(info).toParams();
    this._layer = new ImageLayer(this._viewer.api, info, { image, params, minZoom: ZOOM_RANGE[0],
      maxZoom: ZOOM_RANGE[1] }).addTo(this.map);
    this._title.textContent = image;
    this._showBlink();
    this.setMode(this.mode || 'side');
    this.fire('open', { image });
    return true;
  }

  /** 'side', 'blink' or null (stop comparing). */
  setMode(mode) {
    const app = this._viewer.app;
    if (mode !== 'blink') this.blink.stop();
    this.mode = this.info ? mode : null;
    app.classList.toggle('ts-compare-side', this.mode === 'side');
    app.classList.toggle('ts-compare-blink', this.mode === 'blink');
    this.element.hidden = this.mode === null;
    this.badge.hidden = this.mode !== 'blink';
    this._viewer.map.invalidateSize({ animate: false });
    if (this.mode) {
      this.map.invalidateSize({ animate: false });
      if (!this.map._loaded) this.map.setView([0, 0], 0, { animate: false }); // a view, before the first sync
      this.sync('first');
    }
    this.fire('modechange', { mode: this.mode });
    return this;
  }

  setLocked(locked) {
    this.locked = locked;
    if (locked) this.sync('first');
    return this;
  }

  /** Make one map follow the other ('first': the second follows the main map). */
  sync(leader) {
    const viewer = this._viewer;
    if (!this.mode || !this.locked || !this.info || !viewer.info || this._syncing) return;
    this._syncing = true;
    try {
      const main = { mapping: viewer.mapping, wcs: viewer.wcs, map: viewer.map };
      const second = { mapping: this.mapping, wcs: this.wcs, map: this.map };
      if (leader === 'second') {
        this._follow(second, main);
        // The main map snaps to whole zooms: the second one follows its final view.
      }
      this._follow(main, second);
    } finally {
      this._syncing = false;
    }
  }

  _follow(from, to) {
    const center = from.mapping.latLngToFits(from.map.getCenter());
    const view = matchView({ ...from, center, zoom: from.map.getZoom() }, { ...to, center: null, zoom: null });
    this.byWcs = view.byWcs;
    to.map.setView(to.mapping.fitsToLatLng(...view.center), view.zoom, { animate: false });
  }

  _showBlink() {
    const second = this.blink.showing === 'second';
    this._viewer.app.classList.toggle('ts-blink-second', second);
    this._viewer.app.dataset.blink = this.blink.showing;
    this.badge.textContent = second ? `B · ${this.image}` : `A · ${this._viewer.image}`;
  }
}
