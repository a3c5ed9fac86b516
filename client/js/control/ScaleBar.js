/**
 * A scale bar of a round sky length (arcsec, arcmin or degrees) measured by the WCS at the view centre,
 * or of a round number of image pixels when the image has no celestial WCS.
 */
import { Control } from '../leaflet.js';
import { el } from '../core/dom.js';
import { niceAngle, niceBelow } from '../wcs/units.js';

export class ScaleBar extends Control {
  constructor(viewer, options = {}) {
    super({ position: 'bottomleft', maxWidth: 140, ...options });
    this._viewer = viewer;
  }

  onAdd(map) {
    this._bar = el('div', { class: 'ts-scale-bar' });
    this._label = el('div', { class: 'ts-scale-label' });
    this._container = el('div', { class: 'ts-scale' }, this._label, this._bar);
    map.on('zoomend moveend', this.update, this);
    this._viewer.on('imageopen', this.update, this);
    return this._container;
  }

  update() {
    const viewer = this._viewer;
    if (!viewer.mapping) return;
    const map = viewer.map;
    // Screen pixels per image pixel, and the longest bar allowed, in image pixels.
    const zoomScale = viewer.mapping.zoomScale(map.getZoom());
    const maxPixels = this.options.maxWidth / zoomScale;
    let length;
    let label;
    const degPerPixel = viewer.wcs ? viewer.pixelScale(viewer.centerPixel()) : NaN;
    if (Number.isFinite(degPerPixel) && degPerPixel > 0) {
      const [degrees, text] = niceAngle(maxPixels * degPerPixel);
      length = degrees / degPerPixel;
      label = text;
    } else {
      length = niceBelow(maxPixels);
      label = `${length} px`;
    }
    this._bar.style.width = `${Math.round(length * zoomScale)}px`;
    this._label.textContent = label;
    this._container.dataset.pixels = String(length);
  }
}
