/**
 * DS9's right-drag: dragging with the right mouse button on the image changes the cuts of the channel on view
 * (every channel of a colour mix) as DS9's contrast and bias do: left and right move the cuts' middle (bias:
 * to the right, a brighter image), up and down narrow and widen them (contrast: up, more contrast). The tiles
 * follow during the drag. The browser's context menu is kept off the image (it stays on controls and panels).
 */
import { throttle } from '../core/dom.js';

const CONTRAST_PER_VIEW = 3; // a drag over the view's height divides or multiplies the range by e^3

/** The cuts [lo, hi] after a drag of (fx, fy) view fractions from cuts [lo0, hi0]. Pure. */
export function draggedCuts([lo0, hi0], fx, fy) {
  const width0 = hi0 - lo0;
  const centre = (lo0 + hi0) / 2 - fx * width0;
  const width = width0 * Math.exp(fy * CONTRAST_PER_VIEW);
  return [centre - width / 2, centre + width / 2];
}

export class ContrastDrag {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer) {
    this._viewer = viewer;
    this._start = null;
    const container = viewer.map.getContainer();
    const onImage = (e) => e.target instanceof Element && !e.target.closest('.leaflet-control, .ts-panel');
    container.addEventListener('contextmenu', (e) => {
      if (onImage(e) && viewer.info) e.preventDefault();
    });
    container.addEventListener('mousedown', (e) => {
      if (e.button !== 2 || !onImage(e) || !viewer.settings) return;
      e.preventDefault();
      this._begin(e);
    });
    this._apply = throttle(() => this._update(), 120);
    document.addEventListener('mousemove', (e) => {
      if (!this._start) return;
      this._last = e;
      this._apply();
    });
    document.addEventListener('mouseup', (e) => {
      if (!this._start || e.button !== 2) return;
      this._last = e;
      this._update();
      this._start = null;
      viewer.map.getContainer().classList.remove('ts-contrast-drag');
    });
  }

  /** The channels the drag changes: the one on view, or all of a colour mix. */
  _channels() {
    const s = this._viewer.settings;
    return s.channel !== null ? [s.channel] : Array.from({ length: s.channels }, (_, i) => i + 1);
  }

  _begin(e) {
    const s = this._viewer.settings;
    this._start = { x: e.clientX, y: e.clientY, cuts: new Map(this._channels().map((c) => [c, s.cutsOf(c)])) };
    this._last = e;
    this._viewer.map.getContainer().classList.add('ts-contrast-drag');
  }

  _update() {
    const start = this._start;
    if (!start || !this._viewer.settings) return;
    const size = this._viewer.map.getContainer();
    const fx = (this._last.clientX - start.x) / Math.max(1, size.clientWidth);
    const fy = (this._last.clientY - start.y) / Math.max(1, size.clientHeight);
    const cuts = {};
    for (const [c, pair] of start.cuts) {
      const [lo, hi] = draggedCuts(pair, fx, fy);
      if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) cuts[c] = [lo, hi];
    }
    this._viewer.applySettings({ cuts });
  }
}
