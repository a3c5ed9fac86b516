/**
 * The colour scale of the image on view, as DS9 shows it under the image: the colours of the cuts from low to high,
 * rendered by the server exactly as the tiles are (stretch, colormap, gamma, invert), with round ticks in the data
 * unit (BUNIT). A colour mix has no single scale: none is shown then.
 */
import { Control, DomEvent } from '../leaflet.js';
import { el } from '../core/dom.js';
import { niceBelow } from '../wcs/units.js';

/** Round tick values between lo and hi (about `count` of them). */
export function ticks(lo, hi, count = 5) {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const step = niceBelow(span / count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export class Colorbar extends Control {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, options = {}) {
    super({ position: 'bottomright', ...options });
    this._viewer = viewer;
  }

  onAdd() {
    this._image = el('img', { class: 'ts-colorbar-scale', alt: '', draggable: false });
    this._ticks = el('div', { class: 'ts-colorbar-ticks' });
    this._unit = el('span', { class: 'ts-colorbar-unit' });
    this._container = el('div', { class: 'ts-colorbar leaflet-bar', role: 'img', 'aria-label': 'Colour scale' },
      this._image, this._ticks, this._unit);
    DomEvent.disableClickPropagation(this._container);
    this._viewer.on('imageopen settingschange', this.update, this);
    this._viewer.on('imageclose', () => {
      this._container.hidden = true;
    });
    return this._container;
  }

  update() {
    const viewer = this._viewer;
    const s = viewer.settings;
    if (!s || !this._container) return this;
    // A colour mix has no single scale: shown for mono images and for one channel of a cube on view.
    this._container.hidden = s.mixing;
    if (s.mixing) return this;
    const c = s.channel || 1;
    const [lo, hi] = s.cutsOf(c);
    this._image.src = viewer.api.colorbarUrl(viewer.image, s.toParams(), c);
    this._container.dataset.cuts = `${lo},${hi}`;
    this._ticks.replaceChildren(...ticks(lo, hi, 3).map((v) => el('span', {
      class: 'ts-colorbar-tick', style: { left: `${(100 * (v - lo)) / (hi - lo)}%` },
    }, String(Number(v.toPrecision(6))))));
    this._unit.textContent = viewer.dataUnit;
    return this;
  }
}
