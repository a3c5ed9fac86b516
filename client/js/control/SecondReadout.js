/**
 * The readout's row for the second image while comparing: the same point as the cursor row (through the sky when
 * both images have a usable WCS, else the same pixel), with the second image's FITS pixel, sky position and value.
 * The mouse over the second image's half shows both rows too. The row's data-x, data-y, data-lon, data-lat and
 * data-values say what it shows, like the other rows.
 */
import { el } from '../core/dom.js';
import { SkyFrame } from '../wcs/SkyFrame.js';
import { ValueProbe } from '../core/ValueProbe.js';
import { formatPosition, frameOf } from '../wcs/frames.js';
import { formatValue } from './CursorReadout.js';

export class SecondReadout {
  /**
   * @param {import('../core/Viewer.js').Viewer} viewer
   * @param {import('../layer/CompareView.js').CompareView} view the second image
   */
  constructor(viewer, view) {
    this._viewer = viewer;
    this._view = view;
    this.cells = { pixel: el('td', { class: 'ts-pixel' }), sky: el('td', { class: 'ts-sky' }),
      value: el('td', { class: 'ts-value' }) };
    this.row = el('tr', { class: 'ts-row-second', hidden: true },
      el('th', { title: 'The second image (compare)' }, 'second'), this.cells.pixel, this.cells.sky, this.cells.value);
    this._probe = new ValueProbe(viewer.api, (values, pixel) => this._values(values, pixel));
    this._pixel = null;
    view.on('open modechange', () => {
      this.row.hidden = !view.mode;
      this._probe.reset(view.image);
      this.clear();
    });
    // The mouse over the second image: the first image's point (for the cursor row) from the second's.
    view.map.on('mousemove', (e) => {
      if (!viewer.mapping || !view.mapping) return;
      const [x, y] = this._toFirst(...view.mapping.latLngToFits(e.latlng));
      if (Number.isFinite(x) && Number.isFinite(y)) viewer.readout.showCursorAt(x, y);
    });
  }

  _frames() {
    const a = new SkyFrame(this._viewer.wcs);
    const b = new SkyFrame(this._view.wcs);
    return a.usable && b.usable ? [a, b] : null;
  }

  _toSecond(x, y) {
    const frames = this._frames();
    return frames ? frames[1].toPixel(...frames[0].toSky(x, y)) : [x, y];
  }

  _toFirst(x, y) {
    const frames = this._frames();
    return frames ? frames[0].toPixel(...frames[1].toSky(x, y)) : [x, y];
  }

  clear() {
    const c = this.cells;
    c.pixel.textContent = c.sky.textContent = c.value.textContent = '—';
    this._pixel = null;
    this._probe.request(null);
  }

  /** Show the second image at the first image's FITS (x, y). */
  showAt(x, y) {
    const view = this._view;
    if (this.row.hidden || !view.mapping) return;
    const [sx, sy] = this._toSecond(x, y);
    if (!Number.isFinite(sx) || !Number.isFinite(sy)) {
      this.clear();
      return;
    }
    Object.assign(this.row.dataset, { x: sx, y: sy });
    this.cells.pixel.textContent = `${sx.toFixed(1)}, ${sy.toFixed(1)}`;
    this.cells.sky.replaceChildren();
    if (view.wcs) {
      const [lon, lat] = view.wcs.pixelToWorld(sx, sy);
      Object.assign(this.row.dataset, { lon, lat });
      if (Number.isFinite(lon)) {
        const texts = formatPosition(frameOf(view.wcs), lon, lat, 1);
        this.cells.sky.replaceChildren(...texts.map((t, i) => el('span',
          { class: i === texts.length - 1 ? 'ts-deg' : 'ts-sexa' }, t)));
      }
    }
    const pixel = view.mapping.pixelAt(sx, sy);
    this._pixel = pixel;
    if (pixel === null) {
      this.cells.value.textContent = '—';
      this.row.dataset.values = '';
    }
    this._probe.request(pixel);
  }

  _values(values, pixel) {
    if (!this._pixel || this._pixel[0] !== pixel[0] || this._pixel[1] !== pixel[1]) return;
    this.row.dataset.values = JSON.stringify(values);
    this.row.dataset.pixel = `${pixel[0]},${pixel[1]}`;
    this.cells.value.textContent = values === null ? '?' : values.map(formatValue).slice(0, 3).join(' ');
  }
}
