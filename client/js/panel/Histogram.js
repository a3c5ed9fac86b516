/**
 * The histogram of a channel's values drawn on a canvas (log counts), with the two cuts as handles that can
 * be dragged. Fires 'input' {lo, hi} while dragging and 'change' {lo, hi} on release.
 */
import { Evented } from '../leaflet.js';
import { el } from '../core/dom.js';

const GRAB = 8; // CSS pixels within which a handle is grabbed

export class Histogram extends Evented {
  constructor(container) {
    super();
    this.canvas = el('canvas', { class: 'ts-histogram', height: 90, 'aria-label': 'Histogram and cuts' });
    container.append(this.canvas);
    this._hist = null;
    this._cuts = [0, 1];
    this._range = [0, 1];
    this._dragging = null;
    this.canvas.addEventListener('pointerdown', (e) => this._down(e));
    this.canvas.addEventListener('pointermove', (e) => this._move(e));
    this.canvas.addEventListener('pointerup', (e) => this._up(e));
    this.canvas.addEventListener('pointercancel', (e) => this._up(e));
  }

  /** @param {{min: number, max: number, counts: number[]}} hist @param {number[]} cuts [lo, hi] */
  setData(hist, cuts) {
    this._hist = hist;
    this.setCuts(cuts);
  }

  setCuts(cuts) {
    this._cuts = [...cuts];
    if (!this._dragging) this._fitRange();
    this.draw();
  }

  /**
   * The x axis spans the histogram and both cuts, with a margin, so that the handles are visible; but cuts far
   * outside the histogram would squeeze it into a spike, so the axis stops at 1.5 histogram widths beyond it
   * and such a cut is drawn as an arrow at the edge.
   */
  _fitRange() {
    const h = this._hist;
    const [c0, c1] = this._cuts;
    let lo = Math.min(c0, c1);
    let hi = Math.max(c0, c1);
    if (h && h.max > h.min) {
      const width = h.max - h.min;
      lo = Math.max(Math.min(lo, h.min), h.min - 1.5 * width);
      hi = Math.min(Math.max(hi, h.max), h.max + 1.5 * width);
    }
    if (!(hi > lo)) [lo, hi] = [lo - 1, lo + 1];
    const pad = 0.04 * (hi - lo);
    this._range = [lo - pad, hi + pad];
  }

  _x(value) {
    const [lo, hi] = this._range;
    return ((value - lo) / (hi - lo)) * this.canvas.clientWidth;
  }

  /** Where a cut's handle is drawn: its place on the axis, or the edge. */
  _shownX(value) {
    return Math.min(this.canvas.clientWidth, Math.max(0, this._x(value)));
  }

  _value(x) {
    const [lo, hi] = this._range;
    return lo + (x / this.canvas.clientWidth) * (hi - lo);
  }

  draw() {
    const canvas = this.canvas;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const [lo, hi] = this._cuts.map((v) => this._x(v));
    g.fillStyle = 'rgba(79, 179, 255, 0.10)';
    g.fillRect(Math.min(lo, hi), 0, Math.abs(hi - lo), height);
    const h = this._hist;
    if (h && h.counts.length && h.max > h.min) {
      const peak = Math.log1p(Math.max(...h.counts));
      const step = (h.max - h.min) / h.counts.length;
      g.fillStyle = '#9aa7b4';
      h.counts.forEach((count, i) => {
        const x0 = this._x(h.min + i * step);
        const x1 = this._x(h.min + (i + 1) * step);
        const barHeight = peak > 0 ? (Math.log1p(count) / peak) * (height - 4) : 0;
        g.fillRect(x0, height - barHeight, Math.max(1, x1 - x0), barHeight);
      });
    }
    for (const [x, colour] of [[lo, '#4fb3ff'], [hi, '#ffb74f']]) {
      g.fillStyle = colour;
      g.beginPath();
      if (x < 0 || x > width) {
        // Off the axis: an arrow at the edge pointing at where the cut is.
        const edge = x < 0 ? 1 : width - 1;
        const out = x < 0 ? -1 : 1;
        g.moveTo(edge, height / 2 - 7);
        g.lineTo(edge + 8 * out, height / 2);
        g.lineTo(edge, height / 2 + 7);
        g.lineTo(edge - 7 * out, height / 2 + 7);
        g.lineTo(edge - 7 * out, height / 2 - 7);
      } else {
        g.fillRect(x - 1, 0, 2, height);
        g.moveTo(x - 5, 0);
        g.lineTo(x + 5, 0);
        g.lineTo(x, 7);
      }
      g.fill();
    }
  }

  _down(event) {
    const x = event.offsetX;
    const distances = this._cuts.map((v) => Math.abs(this._shownX(v) - x));
    const nearest = distances[0] <= distances[1] ? 0 : 1;
    if (distances[nearest] > GRAB) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this._dragging = nearest;
  }

  _move(event) {
    if (this._dragging === null) {
      const near = this._cuts.some((v) => Math.abs(this._shownX(v) - event.offsetX) <= GRAB);
      this.canvas.style.cursor = near ? 'ew-resize' : '';
      return;
    }
    this._cuts[this._dragging] = this._value(event.offsetX);
    this.draw();
    this.fire('input', { lo: this._cuts[0], hi: this._cuts[1] });
  }

  _up() {
    if (this._dragging === null) return;
    this._dragging = null;
    this._fitRange();
    this.draw();
    this.fire('change', { lo: this._cuts[0], hi: this._cuts[1] });
  }
}
