/**
 * An overview of the whole image (the coarsest tile, under the current render settings) with the view's
 * rectangle on it; click or drag on it to move the view.
 */
import { Control, DomEvent } from '../leaflet.js';
import { el } from '../core/dom.js';

export class MiniMap extends Control {
  constructor(viewer, options = {}) {
    super({ position: 'bottomright', size: 160, ...options });
    this._viewer = viewer;
  }

  onAdd(map) {
    this._img = el('img', { class: 'ts-minimap-image', alt: 'overview', draggable: 'false' });
    this._rect = el('div', { class: 'ts-minimap-view' });
    this._frame = el('div', { class: 'ts-minimap-frame' }, this._img, this._rect);
    this._container = el('div', { class: 'ts-minimap leaflet-bar', title: 'Overview: click or drag to move' },
      this._frame);
    DomEvent.disableClickPropagation(this._container);
    DomEvent.disableScrollPropagation(this._container);
    this._frame.addEventListener('pointerdown', (e) => this._drag(e));
    map.on('move zoom resize', this._update, this);
    this._viewer.on('imageopen settingschange', this._refresh, this);
    return this._container;
  }

  get visible() {
    return !this._container.hidden;
  }

  toggle(show = !this.visible) {
    this._container.hidden = !show;
    return this;
  }

  /** New image or new render settings: reload the overview. */
  _refresh() {
    const v = this._viewer;
    if (!v.info) return;
    const [w, h] = v.mapping.levelSize(0);
    const k = this.options.size / Math.max(w, h);
    Object.assign(this._frame.style, { width: `${Math.round(w * k)}px`, height: `${Math.round(h * k)}px` });
    const url = v.api.tileUrl(v.image, v.settings.toParams(), v.info.cache_tag, 0, 0);
    if (this._img.getAttribute('src') !== url) this._img.src = url;
    this._update();
  }

  _update() {
    const v = this._viewer;
    if (!v.mapping || !v.map.getSize().x) return;
    const b = v.map.getBounds();
    const m = v.mapping;
    const [x0, y0] = m.latLngToFits(b.getNorthWest());
    const [x1, y1] = m.latLngToFits(b.getSouthEast());
    // Fractions of the image from its top-left corner, clipped to the overview.
    const fx = (x) => Math.min(1, Math.max(0, (x - 0.5) / m.width));
    const fy = (y) => Math.min(1, Math.max(0, (m.height + 0.5 - y) / m.height));
    Object.assign(this._rect.style, {
      left: `${fx(x0) * 100}%`, top: `${fy(y0) * 100}%`,
      width: `${(fx(x1) - fx(x0)) * 100}%`, height: `${(fy(y1) - fy(y0)) * 100}%`,
    });
  }

  _drag(event) {
    event.preventDefault();
    const frame = this._frame;
    frame.setPointerCapture(event.pointerId);
    const moveTo = (e) => {
      const box = frame.getBoundingClientRect();
      const m = this._viewer.mapping;
      const x = ((e.clientX - box.left) / box.width) * m.width + 0.5;
      const y = m.height + 0.5 - ((e.clientY - box.top) / box.height) * m.height;
      this._viewer.map.panTo(m.fitsToLatLng(x, y), { animate: false });
    };
    moveTo(event);
    const stop = () => {
      frame.removeEventListener('pointermove', moveTo);
      frame.removeEventListener('pointerup', stop);
      frame.removeEventListener('pointercancel', stop);
    };
    frame.addEventListener('pointermove', moveTo);
    frame.addEventListener('pointerup', stop);
    frame.addEventListener('pointercancel', stop);
  }
}
