/**
 * Draws a line or a box on the map with the pointer (mouse, pen or touch): drag to draw one, drag one of its
 * ends to move it; a click leaves it as it is. While enabled, a drag draws instead of panning (the wheel and the
 * keys still move the view). Fires 'input' {a, b} while drawing and 'change' {a, b} once drawn, a and b being
 * LatLngs, and 'clear' when cleared.
 */
import { CircleMarker, DivIcon, LatLng, LatLngBounds, Marker, Polyline, Rectangle } from '../leaflet.js';
import { PointerTool } from './PointerTool.js';

const GRAB = 10; // screen pixels within which an end is grabbed
const MIN_SIZE = 3; // screen pixels: a shorter move is a click, not a drag

export class ShapeDrawer extends PointerTool {
  /**
   * @param {import('leaflet').Map} map
   * @param {'line'|'box'} shape
   */
  constructor(map, shape = 'line') {
    super(map, 'ts-drawing');
    this._shape = shape;
    this._ends = null; // [a, b] LatLngs
    this._layers = null;
    this._label = null;
    this._drag = null; // {end: 0 or 1, pointer, start: container point, started}
  }

  /** The two ends [a, b] (LatLngs), or null. */
  get ends() {
    return this._ends ? [...this._ends] : null;
  }

  _pointerListeners() {
    return {
      pointerdown: (e) => this._down(e),
      pointermove: (e) => this._move(e),
      pointerup: (e) => this._up(e),
      pointercancel: (e) => this._up(e),
    };
  }

  removeHooks() {
    this._drag = null;
    super.removeHooks();
  }

  /** Set the shape from two LatLngs (no event: the caller knows). */
  set(a, b) {
    this._ends = [a, b];
    this._redraw();
    return this;
  }

  clear() {
    this._ends = null;
    this._drag = null;
    if (this._layers) this._layers.forEach((layer) => layer.remove());
    this._layers = null;
    this.label(null);
    this.fire('clear');
    return this;
  }

  /** A text shown by the shape (by the middle of a line, the second corner of a box); null: none. */
  label(text) {
    if (text === null || !this._ends) {
      if (this._label) this._label.remove();
      this._label = null;
      return this;
    }
    if (!this._label) {
      this._label = new Marker(this._labelPlace(), { interactive: false, keyboard: false,
        icon: new DivIcon({ className: 'ts-shape-text', iconSize: null, html: '<span class="ts-shape-label"></span>' }),
      }).addTo(this._map);
    }
    this._label.setLatLng(this._labelPlace());
    const element = this._label.getElement();
    if (element) element.firstChild.textContent = text;
    return this;
  }

  _labelPlace() {
    const [a, b] = this._ends;
    return this._shape === 'box' ? b : new LatLng((a.lat + b.lat) / 2, (a.lng + b.lng) / 2);
  }

  _down(event) {
    if (event.button !== 0 || !event.isPrimary) return;
    if (this._onControl(event)) return;
    const point = this._map.mouseEventToContainerPoint(event);
    let end = null;
    if (this._ends) {
      const distances = this._ends.map((p) => this._map.latLngToContainerPoint(p).distanceTo(point));
      const closest = distances[0] <= distances[1] ? 0 : 1;
      if (distances[closest] <= GRAB) end = closest;
    }
    // A new shape starts only once the pointer has moved: a click leaves the current one alone.
    this._drag = { end: end === null ? 1 : end, pointer: event.pointerId, start: point, started: end !== null };
    this._map.getContainer().setPointerCapture(event.pointerId);
    event.preventDefault();
  }

  _move(event) {
    const drag = this._drag;
    if (!drag || event.pointerId !== drag.pointer) return;
    const point = this._map.mouseEventToContainerPoint(event);
    if (!drag.started) {
      if (point.distanceTo(drag.start) < MIN_SIZE) return;
      this._ends = [this._map.containerPointToLatLng(drag.start), null];
      drag.started = true;
    }
    this._ends[drag.end] = this._map.containerPointToLatLng(point);
    this._redraw();
    this.fire('input', { a: this._ends[0], b: this._ends[1] });
  }

  _up(event) {
    const drag = this._drag;
    if (!drag || event.pointerId !== drag.pointer) return;
    this._drag = null;
    if (!drag.started) return; // a click
    // A cancelled pointer has no position: the shape stays as last drawn.
    if (event.type === 'pointerup') this._ends[drag.end] = this._map.mouseEventToLatLng(event);
    this._redraw();
    this.fire('change', { a: this._ends[0], b: this._ends[1] });
  }

  _redraw() {
    const [a, b] = this._ends;
    const style = { color: '#4fb3ff', weight: 2, interactive: false };
    if (!this._layers) {
      const body = this._shape === 'box'
        ? new Rectangle(new LatLngBounds(a, b), { ...style, fillOpacity: 0.08, dashArray: '5 4' })
        : new Polyline([a, b], style);
      const handle = (p) => new CircleMarker(p, { ...style, radius: 5, fillColor: '#0b0d10', fillOpacity: 1 });
      this._layers = [body, handle(a), handle(b)].map((layer) => layer.addTo(this._map));
    }
    const [body, ha, hb] = this._layers;
    if (this._shape === 'box') body.setBounds(new LatLngBounds(a, b));
    else body.setLatLngs([a, b]);
    ha.setLatLng(a);
    hb.setLatLng(b);
    if (this._label) this._label.setLatLng(this._labelPlace());
  }
}
