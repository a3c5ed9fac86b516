/**
 * DS9's measuring tools on the data themselves, computed by the server on full-resolution pixels: statistics of a
 * drawn box (area, sum, mean, median, std, min, max in the data unit), contour lines drawn as vectors, the pixel
 * table around the cursor, and every header of the file (each HDU).
 */
import { LayerGroup, Polyline } from '../leaflet.js';
import { Panel } from './Panel.js';
import { ShapeDrawer } from '../handler/ShapeDrawer.js';
import { formatValue } from '../control/CursorReadout.js';
import { el, throttle } from '../core/dom.js';

const STATS = ['area', 'count', 'sum', 'mean', 'median', 'std', 'min', 'max'];
const TABLE_RADIUS = 2;

export class AnalysisPanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'analysis', 'Analysis');
    this._viewer = viewer;
    this._contours = new LayerGroup();
    this._drawer = new ShapeDrawer(viewer.map, 'box');
    this._drawer.on('change', (e) => this._measure(e.a, e.b));
    this._build();
    const follow = throttle((e) => this._pixelTable(e.latlng), 150);
    this.on('show', () => {
      this._drawer.enable();
      viewer.map.on('mousemove', follow);
    });
    this.on('hide', () => {
      this._drawer.disable();
      this._drawer.clear();
      viewer.map.off('mousemove', follow);
    });
    viewer.on('imageopen', this._reset, this);
    viewer.on('imageclose', () => this._contours.remove());
  }

  _build() {
    this._stats = el('table', { class: 'ts-stats', 'data-role': 'stats' });
    this._status = el('div', { class: 'ts-tool-status', role: 'status' });
    this._levels = el('input', { type: 'text', 'data-setting': 'contour-levels', 'aria-label': 'Contour levels',
      placeholder: 'levels, comma-separated' });
    this._table = el('table', { class: 'ts-pixel-table', 'data-role': 'pixel-table' });
    this._hdu = el('select', { 'data-setting': 'hdu', onchange: () => this._showHeader() });
    this._cards = el('pre', { class: 'ts-header-cards', 'data-role': 'header' });
    this.body.append(
      el('h3', {}, 'Region statistics'),
      el('p', { class: 'ts-note ts-muted' }, 'Drag a box on the image: its full-resolution pixels are measured.'),
      this._stats,
      el('h3', {}, 'Contours'),
      el('div', { class: 'ts-actions' }, this._levels,
        el('button', { type: 'button', 'data-action': 'contours', onclick: () => this.drawContours() }, 'Draw'),
        el('button', { type: 'button', 'data-action': 'contours-clear', onclick: () => this._contours.clearLayers() },
          'Clear')),
      el('h3', {}, 'Pixel table'),
      this._table,
      el('h3', {}, 'Header'),
      el('div', { class: 'ts-actions' }, this._hdu,
        el('button', { type: 'button', 'data-action': 'header', onclick: () => this.loadHeaders() }, 'Show')),
      this._cards, this._status);
  }

  _reset() {
    const s = this._viewer.settings;
    const [lo, hi] = s.cutsOf(s.channel || 1);
    // Five levels across the upper part of the cuts: where sources rise above the sky.
    this._levels.value = [0.5, 0.6, 0.7, 0.8, 0.9].map((f) => Number((lo + f * (hi - lo)).toPrecision(4))).join(',');
    this._stats.replaceChildren();
    this._table.replaceChildren();
    this._cards.textContent = '';
    this._hdu.replaceChildren();
    this._headers = null;
    this._contours.clearLayers();
  }

  _channel() {
    return this._viewer.settings.channel || 1;
  }

  _setStatus(text, error = false) {
    this._status.textContent = text;
    this._status.classList.toggle('ts-error', error);
  }

  /** Statistics of the box from LatLng a to b. */
  async _measure(a, b) {
    const viewer = this._viewer;
    const [[x1, y1], [x2, y2]] = [a, b].map((p) => viewer.mapping.latLngToFits(p).map((v) => Number(v.toFixed(2))));
    return this.measureShape(`box:${x1},${y1},${x2},${y2}`);
  }

  /** Statistics of a shape ("box:x1,y1,x2,y2", "circle:x,y,r"...); resolves once shown. */
  async measureShape(shape) {
    const viewer = this._viewer;
    let result;
    try {
      result = await viewer.api.stats(viewer.image, shape, this._channel());
    } catch (err) {
      this._setStatus(err.message, true);
      return;
    }
    this._setStatus('');
    const unit = result.unit || viewer.dataUnit;
    this.element.dataset.stats = JSON.stringify(result);
    this._stats.replaceChildren(...STATS.map((name) => el('tr', {}, el('th', {}, name),
      el('td', {}, result[name] === null ? '—' : formatValue(result[name])),
      el('td', { class: 'ts-muted' }, ['area', 'count'].includes(name) ? 'pixels' : unit))));
  }

  /** Contour lines at the levels typed, drawn as vectors over the image; resolves once drawn. */
  async drawContours() {
    const viewer = this._viewer;
    const levels = this._levels.value.split(',').map((v) => Number(v.trim())).filter(Number.isFinite);
    let answer;
    try {
      answer = await viewer.api.contours(viewer.image, levels, this._channel());
    } catch (err) {
      this._setStatus(err.message, true);
      return;
    }
    this._setStatus('');
    this._contours.clearLayers();
    const m = viewer.mapping;
    answer.contours.forEach((contour, k) => {
      const hue = answer.contours.length > 1 ? (120 * k) / (answer.contours.length - 1) : 60;
      for (const path of contour.paths) {
        this._contours.addLayer(new Polyline(path.map(([x, y]) => m.fitsToLatLng(x, y)),
          { color: `hsl(${hue}, 100%, 60%)`, weight: 1.2, interactive: false }));
      }
    });
    this._contours.addTo(viewer.map);
    this.element.dataset.contours = String(answer.contours.reduce((n, c) => n + c.paths.length, 0));
  }

  async _pixelTable(latlng) {
    const viewer = this._viewer;
    const pixel = viewer.mapping && viewer.mapping.pixelAt(...viewer.mapping.latLngToFits(latlng));
    if (!pixel) return;
    let t;
    try {
      t = await viewer.api.pixels(viewer.image, pixel[0], pixel[1], TABLE_RADIUS, this._channel());
    } catch {
      return; // the cursor moved on: the next position will do
    }
    const cell = (v, x, y) => el('td', { class: x === pixel[0] && y === pixel[1] ? 'ts-current' : '' },
      v === null ? 'NaN' : formatValue(v));
    this._table.replaceChildren(el('tr', {}, el('th', {}, 'y \\ x'), ...t.x.map((x) => el('th', {}, String(x)))),
      ...t.values.map((row, j) => el('tr', {}, el('th', {}, String(t.y[j])), ...row.map((v, i) => cell(v, t.x[i], t.y[j])))));
    this._table.dataset.pixel = `${pixel[0]},${pixel[1]}`;
  }

  /** Every HDU's header, one shown at a time. */
  async loadHeaders() {
    const viewer = this._viewer;
    try {
      this._headers = (await viewer.api.headers(viewer.image)).hdus;
    } catch (err) {
      this._setStatus(err.message, true);
      return;
    }
    this._hdu.replaceChildren(...this._headers.map((h) => el('option', { value: h.index }, `${h.index}: ${h.name}`)));
    this._showHeader();
  }

  _showHeader() {
    const h = this._headers && this._headers[Number(this._hdu.value) || 0];
    if (!h) return;
    this._cards.textContent = h.cards.map(([key, value, comment]) => {
      const text = value === null ? '' : typeof value === 'string' ? `'${value}'` : String(value);
      return `${key.padEnd(8)}${key && !['COMMENT', 'HISTORY', ''].includes(key) ? '= ' : ''}${text.padStart(20)}`
        + (comment ? ` / ${comment}` : '');
    }).join('\n');
  }
}
