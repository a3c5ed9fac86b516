/**
 * A small line plot in SVG: one or more series of values over a shared, increasing x, with axes, a legend,
 * optional markers, and a hover read-out (a guide at the nearest sample and a line of text from `describe`).
 * Gaps (null or NaN values) break the lines. Fires 'hover' {index} and 'leave'.
 */
import { Evented } from '../leaflet.js';
import { el } from '../core/dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 180;
const BOX = { left: 48, right: WIDTH - 8, top: 8, bottom: HEIGHT - 30 }; // the data area, in SVG units

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function finite(v) {
  return v !== null && v !== undefined && Number.isFinite(v);
}

/** Round tick values (1, 2 or 5 x 10^n apart, whole numbers if `integer`) over [lo, hi], about `count` of them. */
export function ticks(lo, hi, count, integer = false) {
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * (1 - 1e-9));
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.ceil(lo / step - 1e-9);
  const values = [];
  for (let k = first; k * step <= hi + step * 1e-9; k += 1) values.push(Number((k * step).toPrecision(12)));
  return { values, step };
}

/** A tick label: as many decimals as the step needs, exponents for very large or small numbers. */
export function formatTick(value, step) {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (value !== 0 && (Math.abs(value) >= 1e6 || decimals > 4)) return value.toExponential(1);
  return value.toFixed(decimals);
}

/** [lo, hi] of the finite numbers of some arrays, null if none. */
function extent(arrays) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of arrays) {
    for (const v of values) {
      if (!finite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

export class Plot extends Evented {
  /** @param {HTMLElement} container where the plot goes */
  constructor(container, hint = '') {
    super();
    this._hint = hint;
    this.svg = svg('svg', { class: 'ts-plot-svg', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img' });
    this._legend = el('div', { class: 'ts-plot-legend' });
    this.readout = el('div', { class: 'ts-plot-readout', 'aria-live': 'polite' }, hint);
    this.element = el('div', { class: 'ts-plot', hidden: true }, this.svg, this._legend, this.readout);
    container.append(this.element);
    /** (index) => text of the read-out for a sample; set by the owner. */
    this.describe = (i) => `${this._x[i]}`;
    this._x = [];
    this._series = [];
    this._scale = null;
    this._hover = null;
    this.svg.addEventListener('pointermove', (e) => this._move(e));
    this.svg.addEventListener('pointerdown', (e) => this._move(e));
    this.svg.addEventListener('pointerleave', () => this._leave());
  }

  /**
   * @param {{x: number[], series: Array<{label: string, colour: string, values: Array<number|null>,
   *   width?: number, opacity?: number, markers?: boolean, markerColours?: string[]}>, xLabel?: string,
   *   yLabel?: string, integerX?: boolean}} data x increasing or decreasing (a spectral axis may run backwards)
   */
  setData({ x, series, xLabel = '', yLabel = '', integerX = false }) {
    this._x = x;
    this._series = series;
    this._xLabel = xLabel;
    this._yLabel = yLabel;
    this._integerX = integerX;
    this.draw();
    return this;
  }

  clear() {
    this._x = [];
    this._series = [];
    this.element.hidden = true;
    this.readout.textContent = this._hint;
    return this;
  }

  /** Draw again (after a change of colours, say). */
  draw() {
    this.element.hidden = this._x.length === 0;
    this.svg.replaceChildren();
    this._legend.replaceChildren();
    if (!this._x.length) return this;
    const [x0, x1] = this._xDomain();
    const [y0, y1] = this._yDomain();
    this._scale = { x: [x0, x1], y: [y0, y1] };
    Object.assign(this.svg.dataset, { xDomain: `${x0},${x1}`, yDomain: `${y0},${y1}`,
      box: `${BOX.left},${BOX.top},${BOX.right},${BOX.bottom}` });
    this._axes();
    for (const [k, s] of this._series.entries()) this._drawSeries(s, k);
    this._guide = svg('g', { class: 'ts-plot-guide', visibility: 'hidden' });
    this.svg.append(this._guide);
    if (this._series.length > 1) {
      this._legend.append(...this._series.map((s) => el('span', { class: 'ts-plot-key' },
        el('i', { style: { background: s.colour } }), s.label)));
    }
    if (this._hover !== null && this._hover < this._x.length) this._showHover(this._hover);
    return this;
  }

  _xDomain() {
    const x = this._x;
    let [lo, hi] = [Math.min(x[0], x[x.length - 1]), Math.max(x[0], x[x.length - 1])];
    if (this._integerX) return [lo - 0.5, hi + 0.5];
    if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
    return [lo, hi];
  }

  _yDomain() {
    const range = extent(this._series.map((s) => s.values));
    if (range === null) return [0, 1];
    let [lo, hi] = range;
    if (hi === lo) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
    const pad = 0.05 * (hi - lo);
    return [lo - pad, hi + pad];
  }

  /** SVG x of a data x. */
  sx(v) {
    const [lo, hi] = this._scale.x;
    return BOX.left + ((v - lo) / (hi - lo)) * (BOX.right - BOX.left);
  }

  /** SVG y of a value. */
  sy(v) {
    const [lo, hi] = this._scale.y;
    return BOX.bottom - ((v - lo) / (hi - lo)) * (BOX.bottom - BOX.top);
  }

  _axes() {
    const g = svg('g', { class: 'ts-plot-axes' });
    const [x0, x1] = this._scale.x;
    const [y0, y1] = this._scale.y;
    const xt = ticks(x0, x1, 5, this._integerX);
    for (const v of xt.values) {
      const x = this.sx(v).toFixed(2);
      g.append(svg('line', { class: 'ts-plot-grid', x1: x, x2: x, y1: BOX.top, y2: BOX.bottom }),
        svg('text', { x, y: BOX.bottom + 12, 'text-anchor': 'middle' }, formatTick(v, xt.step)));
    }
    const yt = ticks(y0, y1, 4);
    for (const v of yt.values) {
      const y = this.sy(v).toFixed(2);
      g.append(svg('line', { class: 'ts-plot-grid', x1: BOX.left, x2: BOX.right, y1: y, y2: y }),
        svg('text', { x: BOX.left - 4, y, 'text-anchor': 'end', 'dominant-baseline': 'middle' },
          formatTick(v, yt.step)));
    }
    g.append(svg('rect', { class: 'ts-plot-frame', x: BOX.left, y: BOX.top, width: BOX.right - BOX.left,
      height: BOX.bottom - BOX.top }));
    if (this._xLabel) {
      g.append(svg('text', { class: 'ts-plot-label', x: (BOX.left + BOX.right) / 2, y: HEIGHT - 3,
        'text-anchor': 'middle' }, this._xLabel));
    }
    if (this._yLabel) {
      g.append(svg('text', { class: 'ts-plot-label', x: 0, y: 0, 'text-anchor': 'middle',
        transform: `translate(9 ${(BOX.top + BOX.bottom) / 2}) rotate(-90)` }, this._yLabel));
    }
    this.svg.append(g);
  }

  _drawSeries(s, k) {
    const parts = [];
    let pen = 'M';
    for (let i = 0; i < this._x.length; i += 1) {
      const v = s.values[i];
      if (!finite(v)) {
        pen = 'M';
        continue;
      }
      parts.push(`${pen}${this.sx(this._x[i]).toFixed(2)},${this.sy(v).toFixed(2)}`);
      pen = 'L';
    }
    const line = svg('path', { class: 'ts-plot-line', d: parts.join(''), stroke: s.colour,
      'stroke-width': s.width || 1.5, 'stroke-opacity': s.opacity === undefined ? 1 : s.opacity,
      'data-series': k, 'data-label': s.label });
    this.svg.append(line);
    if (!s.markers) return;
    const dots = svg('g', { class: 'ts-plot-markers', 'data-series': k });
    for (let i = 0; i < this._x.length; i += 1) {
      const v = s.values[i];
      if (!finite(v)) continue;
      dots.append(svg('circle', { cx: this.sx(this._x[i]).toFixed(2), cy: this.sy(v).toFixed(2), r: 3.5,
        fill: (s.markerColours && s.markerColours[i]) || s.colour, 'data-index': i }));
    }
    this.svg.append(dots);
  }

  /** Index of the sample nearest to data x `v` (x increases). */
  nearest(v) {
    const x = this._x;
    const sign = x[x.length - 1] < x[0] ? -1 : 1; // a decreasing x is searched as -x
    let [lo, hi] = [0, x.length - 1];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (sign * x[mid] < sign * v) lo = mid;
      else hi = mid;
    }
    return Math.abs(x[hi] - v) < Math.abs(x[lo] - v) ? hi : lo;
  }

  _move(event) {
    if (!this._x.length || !this._scale) return;
    const rect = this.svg.getBoundingClientRect();
    const u = ((event.clientX - rect.left) * WIDTH) / rect.width;
    const [lo, hi] = this._scale.x;
    const index = this.nearest(lo + ((u - BOX.left) / (BOX.right - BOX.left)) * (hi - lo));
    if (index === this._hover) return;
    this._showHover(index);
    this.fire('hover', { index });
  }

  _showHover(index) {
    this._hover = index;
    const x = this.sx(this._x[index]).toFixed(2);
    this._guide.replaceChildren(svg('line', { x1: x, x2: x, y1: BOX.top, y2: BOX.bottom }));
    for (const s of this._series) {
      const v = s.values[index];
      if (finite(v)) this._guide.append(svg('circle', { cx: x, cy: this.sy(v).toFixed(2), r: 3, fill: s.colour }));
    }
    this._guide.setAttribute('visibility', 'visible');
    this.readout.textContent = this.describe(index);
    this.readout.dataset.index = String(index);
  }

  _leave() {
    if (this._hover === null) return;
    this._hover = null;
    if (this._guide) this._guide.setAttribute('visibility', 'hidden');
    this.readout.textContent = this._hint;
    delete this.readout.dataset.index;
    this.fire('leave');
  }
}
