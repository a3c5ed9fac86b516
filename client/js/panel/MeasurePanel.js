/**
 * Measure: draw a line between two points and read the great-circle distance between them (arcsec, arcmin or
 * degrees) and the position angle of the second seen from the first (east of north), from the image's WCS;
 * in pixels when the image has no celestial WCS. The reading follows the line as it is drawn.
 */
import { Panel } from './Panel.js';
import { ShapeDrawer } from '../handler/ShapeDrawer.js';
import { formatAngle, positionAngle, separation } from '../wcs/sphere.js';
import { el } from '../core/dom.js';
import { formatPosition, frameOf } from '../wcs/frames.js';

export class MeasurePanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'measure', 'Measure');
    this._viewer = viewer;
    this._drawer = new ShapeDrawer(viewer.map, 'line');
    this._drawer.on('input change', (e) => this._measure(e.a, e.b));
    this._drawer.on('clear', () => this._show(null));
    this._table = el('dl', { class: 'ts-measure' });
    this.body.append(
      el('p', { class: 'ts-note ts-muted' }, 'Drag on the image from one point to another; drag an end to move it.'),
      this._table);
    this.on('show', () => this._drawer.enable());
    this.on('hide', () => {
      this._drawer.disable();
      this._drawer.clear();
    });
    viewer.on('imageclose', () => this._drawer.clear());
  }

  /** Measure between FITS positions (x1, y1) and (x2, y2), as if drawn; returns the measurement. */
  measure(x1, y1, x2, y2) {
    const m = this._viewer.mapping;
    const [a, b] = [m.fitsToLatLng(x1, y1), m.fitsToLatLng(x2, y2)];
    this._drawer.set(a, b);
    return this._measure(a, b);
  }

  _measure(a, b) {
    const viewer = this._viewer;
    if (!viewer.mapping) return null;
    const p = viewer.mapping.latLngToFits(a);
    const q = viewer.mapping.latLngToFits(b);
    const result = { from: p, to: q, pixels: Math.hypot(q[0] - p[0], q[1] - p[1]), degrees: NaN, angle: NaN };
    if (viewer.wcs) {
      result.fromSky = viewer.wcs.pixelToWorld(...p);
      result.toSky = viewer.wcs.pixelToWorld(...q);
      result.degrees = separation(...result.fromSky, ...result.toSky);
      result.angle = positionAngle(...result.fromSky, ...result.toSky);
    }
    this._show(result);
    return result;
  }

  _show(result) {
    const data = this.element.dataset;
    for (const key of ['from', 'to', 'pixels', 'degrees', 'angle']) delete data[key];
    if (result === null) {
      this._table.replaceChildren();
      return;
    }
    const sky = Number.isFinite(result.degrees);
    Object.assign(data, { from: result.from.join(','), to: result.to.join(','), pixels: result.pixels });
    if (sky) Object.assign(data, { degrees: result.degrees, angle: result.angle });
    const rows = [];
    const row = (name, value, extra = '') => rows.push(el('dt', {}, name),
      el('dd', { 'data-measure': name.toLowerCase().replace(/ /g, '-') }, value,
        extra ? el('span', { class: 'ts-muted' }, ` ${extra}`) : null));
    if (sky) {
      const arcsec = result.degrees * 3600;
      const text = formatAngle(result.degrees);
      row('Distance', text, text.endsWith('″') ? '' : `= ${arcsec.toFixed(2)}″`);
      row('Position angle', `${result.angle.toFixed(2)}°`, 'east of north');
    }
    const [dx, dy] = [result.to[0] - result.from[0], result.to[1] - result.from[1]];
    row('Pixels', `${result.pixels.toFixed(2)} px`, `(Δx ${dx.toFixed(2)}, Δy ${dy.toFixed(2)})`);
    row('From', this._position(result.from, result.fromSky));
    row('To', this._position(result.to, result.toSky));
    this._table.replaceChildren(...rows);
    this._drawer.label(sky ? `${formatAngle(result.degrees)} · PA ${result.angle.toFixed(1)}°`
      : `${result.pixels.toFixed(1)} px`);
  }

  _position([x, y], world) {
    const pixel = `${x.toFixed(2)}, ${y.toFixed(2)}`;
    if (!world || !world.every(Number.isFinite)) return pixel;
    const text = formatPosition(frameOf(this._viewer.wcs), ...world, 1)[0];
    return `${text} (${pixel})`;
  }
}
