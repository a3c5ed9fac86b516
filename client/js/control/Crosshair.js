/**
 * Pinning the cursor readout, and DS9's crosshair mode. A click on the image pins the readout's cursor row at that
 * point (marked by a ring); another click lets it follow the cursor again. In crosshair mode two lines across the
 * view cross at the pinned point, every click (or drag) moves it, and the readout stays on it. Clicks that a
 * drawing tool takes (the map's dragging is off then) pin nothing. Lines are drawn in screen pixels: the view's
 * turns by quarters and flips keep them horizontal and vertical.
 */
import { DomEvent } from '../leaflet.js';
import { el } from '../core/dom.js';

export class Crosshair {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer) {
    this._viewer = viewer;
    this.mode = false;
    const map = viewer.map;
    this._ring = el('div', { class: 'ts-pin-ring', hidden: true });
    this._lines = [el('div', { class: 'ts-crosshair-h', hidden: true }), el('div', { class: 'ts-crosshair-v', hidden: true })];
    this.element = el('div', { class: 'ts-crosshair', 'aria-hidden': 'true' }, ...this._lines, this._ring);
    map.getContainer().append(this.element);
    map.on('click', this._clicked, this);
    map.on('move zoom viewreset viewtransform resize', this._draw, this);
    map.on('zoomanim', () => this.element.classList.add('ts-hidden-while-zooming'));
    map.on('zoomend', () => this.element.classList.remove('ts-hidden-while-zooming'));
    // In crosshair mode a drag with Shift moves the crosshair instead of the view.
    DomEvent.on(map.getContainer(), 'mousemove', (e) => {
      if (this.mode && e.buttons === 1 && e.shiftKey) this.pinAt(map.mouseEventToLatLng(e));
    });
    viewer.on('imageopen imageclose', () => this._draw());
  }

  get readout() {
    return this._viewer.readout;
  }

  /** A click on the image (not on a control; not one a drawing tool takes). */
  _clicked(e) {
    const target = e.originalEvent && e.originalEvent.target;
    if (!this._viewer.info || (target instanceof Element && target.closest('.leaflet-control'))) return;
    if (!this._viewer.map.dragging.enabled()) return;
    if (this.mode || !this.readout.pinned) this.pinAt(e.latlng);
    else this.unpin();
  }

  pinAt(latlng) {
    this.readout.pin(latlng);
    this._draw();
  }

  unpin() {
    this.readout.unpin();
    this._draw();
  }

  /** Pin at the view centre (keys), or unpin. */
  togglePin() {
    if (this.readout.pinned) this.unpin();
    else this.pinAt(this._viewer.map.getCenter());
  }

  /** Crosshair mode on or off; on, it starts at the pinned point or the view centre. */
  toggleMode(on = !this.mode) {
    this.mode = on;
    this._viewer.map.getContainer().classList.toggle('ts-crosshair-mode', on);
    this._viewer.toolbar.setPressed('crosshair', on);
    if (on && !this.readout.pinned) this.pinAt(this._viewer.map.getCenter());
    if (!on) this.unpin();
    this._draw();
    return this;
  }

  _draw() {
    const viewer = this._viewer;
    const latlng = this.readout.pinned;
    const shown = Boolean(latlng && viewer.info);
    this._ring.hidden = !shown;
    for (const line of this._lines) line.hidden = !shown || !this.mode;
    if (!shown) return;
    const p = viewer.transform.toScreen(viewer.map.latLngToContainerPoint(latlng));
    this._ring.style.transform = `translate(${p.x}px, ${p.y}px)`;
    this._lines[0].style.transform = `translateY(${p.y}px)`;
    this._lines[1].style.transform = `translateX(${p.x}px)`;
    Object.assign(this.element.dataset, { x: p.x.toFixed(1), y: p.y.toFixed(1) });
  }
}
