/**
 * A labelled graticule of the image's sky coordinates (RA/Dec in hours and degrees, or galactic degrees) over the
 * view, with a round spacing chosen for the view's extent, redrawn as the view moves. Lines go on a canvas the
 * size of the map; labels are elements at the lines' crossings of the view's top (longitudes) and left
 * (latitudes) edges, where the viewer's controls leave the most room (labels under a control are left out), with
 * their value in data-value (degrees) and the crossing in data-x, data-y (map container pixels).
 */
import { Layer } from '../leaflet.js';
import { gridLabel, gridStep } from '../wcs/GridSpacing.js';
import { el } from '../core/dom.js';
import { frameOf } from '../wcs/frames.js';

const SAMPLES = 9; // per side of the view, to find its extent on the sky
const LINE_POINTS = 48;
const EDGE_INSET = 1; // pixels inside the view's edges where labels are anchored

export class WcsGrid extends Layer {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer) {
    super();
    this._viewer = viewer;
    this._pending = null;
    this.labels = []; // [{axis: 'lon'|'lat', value, text, x, y}] of the last drawing
    this.steps = null; // [lon step, lat step] in degrees
  }

  onAdd(map) {
    this._canvas = el('canvas', { class: 'ts-grid-canvas' });
    this._labelBox = el('div', { class: 'ts-grid-labels' });
    this._container = el('div', { class: 'ts-grid', 'aria-hidden': 'true' }, this._canvas, this._labelBox);
    map.getContainer().append(this._container);
    if (this._viewer.info && !this._viewer.wcs) this._viewer.toast.show('This image has no sky coordinates: no grid.');
    this._viewer.on('imageopen imageclose', this._schedule, this);
    this._schedule();
  }

  onRemove() {
    this._container.remove();
    this._viewer.off('imageopen imageclose', this._schedule, this);
    cancelAnimationFrame(this._pending);
    this._pending = null;
    this.labels = [];
  }

  getEvents() {
    return {
      move: this._schedule, resize: this._schedule, zoomend: this._schedule, viewtransform: this._schedule,
      zoomanim: () => this._container.classList.add('ts-grid-hidden'), // drawn anew once the zoom is over
    };
  }

  _schedule() {
    if (this._pending === null) {
      this._pending = requestAnimationFrame(() => {
        this._pending = null;
        if (this._map) this.redraw();
      });
    }
  }

  redraw() {
    const map = this._map;
    const viewer = this._viewer;
    // The view turned or flipped (see ViewTransform): lines and labels are drawn in screen pixels.
    const size = viewer.transform.screenSize();
    const ratio = window.devicePixelRatio || 1;
    Object.assign(this._canvas, { width: Math.round(size.x * ratio), height: Math.round(size.y * ratio) });
    Object.assign(this._canvas.style, { width: `${size.x}px`, height: `${size.y}px` });
    const ctx = this._canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    this._labelBox.replaceChildren();
    this._container.classList.remove('ts-grid-hidden');
    this.labels = [];
    this.steps = null;
    const wcs = viewer.wcs;
    if (!wcs || !viewer.mapping) return;
    // Container points unrounded (latLngToContainerPoint rounds to whole pixels), so that labels sit exactly.
    const origin = map.project(map.containerPointToLatLng([0, 0]));
    const toScreen = (lon, lat) => {
      const [x, y] = wcs.worldToPixel(lon, lat);
      return Number.isFinite(x) && Number.isFinite(y)
        ? viewer.transform.toScreen(map.project(viewer.mapping.fitsToLatLng(x, y)).subtract(origin)) : null;
    };
    const extent = this._extent(map.getSize(), toScreen, size);
    if (!extent) return;
    const equatorial = frameOf(wcs).unit === 'hms';
    const styles = equatorial ? ['hms', 'dms'] : ['decimal', 'decimal'];
    const [lonMin, lonMax, latMin, latMax] = extent;
    const lonStep = gridStep(lonMax - lonMin, styles[0]);
    const latStep = gridStep(latMax - latMin, styles[1]);
    this.steps = [lonStep, latStep];
    ctx.lineWidth = 1;
    ctx.strokeStyle = 'rgba(140, 205, 255, 0.55)';
    ctx.beginPath();
    const clampLat = (lat) => Math.max(-90, Math.min(90, lat));
    for (let k = Math.ceil(lonMin / lonStep); k * lonStep <= lonMax; k += 1) {
      const lon = k * lonStep;
      const line = (t) => toScreen(lon, clampLat(latMin - latStep + t * (latMax - latMin + 2 * latStep)));
      this._stroke(ctx, line, size);
      this._label('lon', lon, gridLabel(lon, lonStep, styles[0]), line, (p) => p.y - EDGE_INSET);
    }
    for (let k = Math.ceil(latMin / latStep); k * latStep <= latMax; k += 1) {
      const lat = k * latStep;
      const line = (t) => toScreen(lonMin - lonStep + t * (lonMax - lonMin + 2 * lonStep), lat);
      this._stroke(ctx, line, size);
      this._label('lat', lat, gridLabel(lat, latStep, styles[1]), line, (p) => p.x - EDGE_INSET);
    }
    ctx.stroke();
    this._uncover();
  }

  /** Take away the labels that the viewer's controls would cover (the info box, zoom buttons, readout...). */
  _uncover() {
    const controls = [...this._map.getContainer().querySelectorAll('.leaflet-control')]
      .map((c) => c.getBoundingClientRect()).filter((r) => r.width > 0);
    const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    const kept = [];
    for (const [i, element] of [...this._labelBox.children].entries()) {
      const box = element.getBoundingClientRect();
      if (controls.some((c) => overlaps(box, c))) element.remove();
      else kept.push(this.labels[i]);
    }
    this.labels = kept;
  }

  /**
   * [lonMin, lonMax, latMin, latMax] of the view in the WCS's frame (longitudes unwrapped about the centre's,
   * all of them when a pole is in view), or null when the view is off the projection.
   */
  _extent(size, toScreen, screen) {
    const map = this._map;
    const viewer = this._viewer;
    const world = (px, py) => viewer.wcs.pixelToWorld(
      ...viewer.mapping.latLngToFits(map.containerPointToLatLng([px, py])));
    const [lon0] = world(size.x / 2, size.y / 2);
    const lons = [];
    const lats = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      for (let j = 0; j < SAMPLES; j += 1) {
        const [lon, lat] = world((i / (SAMPLES - 1)) * size.x, (j / (SAMPLES - 1)) * size.y);
        if (!Number.isFinite(lon) || !Number.isFinite(lat)) continue;
        lons.push(Number.isFinite(lon0) ? lon0 + ((lon - lon0 + 540) % 360) - 180 : lon);
        lats.push(lat);
      }
    }
    if (lons.length < 2) return null;
    const extent = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
    for (const pole of [90, -90]) {
      const p = toScreen(0, pole);
      if (p && p.x >= 0 && p.y >= 0 && p.x <= screen.x && p.y <= screen.y) {
        extent[0] = 0;
        extent[1] = 360;
        extent[pole > 0 ? 3 : 2] = pole;
      }
    }
    return extent;
  }

  /** Add the path of line(t), t in [0, 1], to the canvas path, broken where it leaves the projection. */
  _stroke(ctx, line, size) {
    let previous = null;
    const jump = size.x + size.y;
    for (let i = 0; i <= LINE_POINTS; i += 1) {
      const p = line(i / LINE_POINTS);
      if (p && previous && Math.abs(p.x - previous.x) + Math.abs(p.y - previous.y) < jump) ctx.lineTo(p.x, p.y);
      else if (p) ctx.moveTo(p.x, p.y);
      previous = p;
    }
  }

  /**
   * Label the line where it crosses an edge: `side(p)` changes sign there. The crossing is found between the
   * samples, then refined by bisection on the line itself, so that the label sits where the line really is.
   */
  _label(axis, value, text, line, side) {
    const size = this._viewer.transform.screenSize();
    let previous = null;
    for (let i = 0; i <= LINE_POINTS; i += 1) {
      const t = i / LINE_POINTS;
      const p = line(t);
      if (p && previous && Math.sign(side(p)) !== Math.sign(side(previous.p))) {
        let [a, b] = [previous.t, t];
        for (let k = 0; k < 40; k += 1) {
          const mid = (a + b) / 2;
          const q = line(mid);
          if (!q) break;
          if (Math.sign(side(q)) === Math.sign(side(previous.p))) a = mid;
          else b = mid;
        }
        const q = line((a + b) / 2);
        if (q && q.x >= 0 && q.x <= size.x && q.y >= 0 && q.y <= size.y) {
          this._addLabel(axis, value, text, q);
          return;
        }
      }
      previous = p ? { p, t } : null;
    }
  }

  _addLabel(axis, value, text, point) {
    const wrapped = axis === 'lon' ? ((value % 360) + 360) % 360 : value;
    this.labels.push({ axis, value: wrapped, text, x: point.x, y: point.y });
    this._labelBox.append(el('div', {
      class: `ts-grid-label ts-grid-${axis}`,
      style: { left: `${point.x}px`, top: `${point.y}px` },
      dataset: { axis, value: String(wrapped), x: String(point.x), y: String(point.y) },
    }, text));
  }
}
