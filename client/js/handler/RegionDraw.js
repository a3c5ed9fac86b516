/**
 * Drawing one region on the image with the mouse or a finger: drag out a circle (from its centre), an ellipse or
 * a box (corner to corner) or a line; click for a point or a text; click the corners of a polygon and double-click
 * (or click the first corner again) to close it. Escape cancels. Fires 'drawn' with {drawn} (see
 * RegionShapes.fromPixels; positions in FITS pixels) and 'end' when the tool is put down.
 */
import { DomEvent, Polygon, Polyline } from '../leaflet.js';
import { PointerTool } from './PointerTool.js';

export const DRAW_SHAPES = ['circle', 'ellipse', 'box', 'polygon', 'line', 'point', 'text'];
const DRAGGED = new Set(['circle', 'ellipse', 'box', 'line']);
const CLOSE_DISTANCE = 8; // screen pixels from the first corner that close a polygon

export class RegionDraw extends PointerTool {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer) {
    super(viewer.map, 'ts-region-drawing');
    this._viewer = viewer;
    this.shape = null;
    this._points = [];
    this._preview = null;
    this._down = null;
  }

  get active() {
    return this.shape !== null;
  }

  _pointerListeners() {
    return {
      pointerdown: (e) => this._pointerDown(e),
      pointermove: (e) => this._pointerMove(e),
      pointerup: (e) => this._pointerUp(e),
      dblclick: (e) => this._doubleClick(e),
    };
  }

  _documentListeners() {
    return { keydown: (e) => e.key === 'Escape' && this.stop() };
  }

  /** Take up the tool for one shape (the same shape again puts it down). */
  start(shape) {
    const again = this.shape === shape;
    this.stop();
    if (again || !this._viewer.mapping) return this;
    this.shape = shape;
    return this.enable();
  }

  stop() {
    if (!this.shape) return this;
    this.disable();
    this._clearPreview();
    this._points = [];
    this._down = null;
    this.shape = null;
    this.fire('end');
    return this;
  }

  /** FITS pixel under a pointer event, and the event's container point. */
  _at(event) {
    const map = this._viewer.map;
    const point = map.mouseEventToContainerPoint(event);
    return [this._viewer.mapping.latLngToFits(map.containerPointToLatLng(point)), point];
  }

  _pointerDown(event) {
    if (event.button !== 0 || this._onControl(event)) return;
    DomEvent.stop(event);
    const [at, point] = this._at(event);
    if (this.shape === 'polygon') {
      const first = this._points.length ? this._viewer.map.latLngToContainerPoint(this._latLng(this._points[0])) : null;
      if (first && this._points.length >= 3 && first.distanceTo(point) <= CLOSE_DISTANCE) {
        this._finish({ shape: 'polygon', points: this._points });
      } else {
        this._points.push(at);
        this._drawPreview(at);
      }
      return;
    }
    this._viewer.map.getContainer().setPointerCapture(event.pointerId);
    this._down = { at, point };
  }

  _pointerMove(event) {
    if (this.shape === 'polygon' ? this._points.length : this._down && DRAGGED.has(this.shape)) {
      this._drawPreview(this._at(event)[0]);
    }
  }

  _pointerUp(event) {
    if (!this._down || this.shape === 'polygon') return;
    const [at, point] = this._at(event);
    const start = this._down.at;
    const dragged = this._down.point.distanceTo(point) >= 3;
    this._down = null;
    if (this.shape === 'point') this._finish({ shape: 'point', at: start, marker: 'circle' });
    else if (this.shape === 'text') {
      const text = window.prompt('Text of the region');
      if (text) this._finish({ shape: 'text', at: start, text });
      else this.stop();
    } else if (!dragged) {
      this._clearPreview(); // a click, not a drag: wait for a real one
    } else this._finish(this._dragged(start, at));
  }

  _doubleClick(event) {
    if (this.shape !== 'polygon') return;
    DomEvent.stop(event);
    // The double click's two pointerdowns added the last corner twice.
    const points = this._points.slice(0, -1);
    if (points.length >= 3) this._finish({ shape: 'polygon', points });
  }

  /** The shape dragged from `a` to `b` (FITS pixels). */
  _dragged(a, b) {
    const centre = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    const size = [Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1])];
    switch (this.shape) {
      case 'circle': return { shape: 'circle', at: a, radius: Math.hypot(b[0] - a[0], b[1] - a[1]) };
      case 'ellipse': return { shape: 'ellipse', at: centre, radii: [size[0] / 2, size[1] / 2] };
      case 'box': return { shape: 'box', at: centre, size };
      default: return { shape: 'line', points: [a, b] };
    }
  }

  _finish(drawn) {
    this.fire('drawn', { drawn });
    this.stop();
  }

  _latLng([x, y]) {
    return this._viewer.mapping.fitsToLatLng(x, y);
  }

  _drawPreview(at) {
    this._clearPreview();
    const map = this._viewer.map;
    const style = { color: '#ffb74f', weight: 1.5, dashArray: '4 3', interactive: false, fill: false };
    if (this.shape === 'polygon') {
      this._preview = new Polyline([...this._points, at].map((p) => this._latLng(p)), style).addTo(map);
      return;
    }
    const drawn = this._dragged(this._down.at, at);
    if (drawn.shape === 'line') {
      this._preview = new Polyline(drawn.points.map((p) => this._latLng(p)), style).addTo(map);
    } else if (drawn.shape === 'circle' || drawn.shape === 'ellipse') {
      const [a, b] = drawn.shape === 'circle' ? [drawn.radius, drawn.radius] : drawn.radii;
      const ring = Array.from({ length: 48 }, (_, i) => {
        const t = (2 * Math.PI * i) / 48;
        return this._latLng([drawn.at[0] + a * Math.cos(t), drawn.at[1] + b * Math.sin(t)]);
      });
      this._preview = new Polygon(ring, style).addTo(map);
    } else {
      const [[x0, y0], [x1, y1]] = [this._down.at, at];
      this._preview = new Polygon([[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map((p) => this._latLng(p)), style)
        .addTo(map);
    }
  }

  _clearPreview() {
    if (this._preview) this._preview.remove();
    this._preview = null;
  }
}
