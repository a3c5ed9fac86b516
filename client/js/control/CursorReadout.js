/**
 * Where the cursor and the reticle (the view centre) are: FITS pixel, sky position (sexagesimal and
 * degrees in the image's frame, or galactic on request) and the pixel values of every channel.
 * On a touch screen, a tap sets the cursor position. `pin(latlng)` holds the cursor row at a point (a click, the
 * crosshair) until `unpin()`; the row's data-pinned says so.
 */
import { Control, DomEvent } from '../leaflet.js';
import { el, throttle } from '../core/dom.js';
import { ValueProbe } from '../core/ValueProbe.js';
import { equatorialToGalactic, galacticToEquatorial } from '../wcs/coords.js';
import { FRAMES, formatPosition, frameOf, isEquatorial } from '../wcs/frames.js';
import { MIX_MAX_CHANNELS } from '../core/DisplaySettings.js';
import { SecondReadout } from './SecondReadout.js';

/** A pixel value for display: 6 significant digits, NaN spelt out. */
export function formatValue(v) {
  return v === null || v === undefined || Number.isNaN(v) ? 'NaN' : String(Number(v.toPrecision(6)));
}

export class CursorReadout extends Control {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, options = {}) {
    super({ position: 'bottomleft', ...options });
    this._viewer = viewer;
    this._mode = 'native';
    this._digits = 1;
    this._rows = {};
    this._probes = {};
    this.pinned = null;
  }

  onAdd(map) {
    this._frameSelect = el('select', { class: 'ts-frame', title: 'Sky frame', onchange: () => this._setMode() });
    this._frameNote = el('span', { class: 'ts-muted' });
    const head = el('tr', {}, el('th'), el('th', {}, 'pixel'), el('th', {}, this._frameSelect, this._frameNote),
      el('th', {}, 'value'));
    const body = ['cursor', 'centre'].map((name) => this._row(name));
    this.second = new SecondReadout(this._viewer, this._viewer.panels.compare.view);
    body.splice(1, 0, this.second.row);
    this._container = el('div', { class: 'ts-readout leaflet-bar', 'aria-live': 'off' },
      el('table', {}, el('thead', {}, head), el('tbody', {}, ...body)));
    DomEvent.disableClickPropagation(this._container);
    DomEvent.disableScrollPropagation(this._container);
    // The cursor's place on the map, kept so that the readout follows when the map moves under a still mouse.
    this._point = null;
    const showCursor = () => this._show('cursor', this._point && map.containerPointToLatLng(this._point));
    const move = throttle(showCursor, 30);
    map.on('mousemove click', (e) => {
      if (this.pinned) return;
      // Over a control (toolbar, panels...) the mouse is not on the image.
      const target = e.originalEvent && e.originalEvent.target;
      this._point = target instanceof Element && target.closest('.leaflet-control') ? null : e.containerPoint;
      move();
    });
    map.on('mouseout', () => {
      if (this.pinned) return;
      this._point = null;
      showCursor();
    });
    map.on('move', throttle(() => {
      this._show('centre', map.getCenter());
      if (this._point && !this.pinned) showCursor();
    }, 50));
    // Throttled updates may be left with a position from the middle of an animation: settle on the final one.
    map.on('moveend', () => {
      this._show('centre', map.getCenter());
      if (this._point && !this.pinned) showCursor();
    });
    this._viewer.on('imageopen', this._reset, this);
    this._viewer.on('imageclose', () => Object.values(this._probes).forEach((probe) => probe.reset(null)));
    return this._container;
  }

  _row(name) {
    const cells = { pixel: el('td', { class: 'ts-pixel' }), sky: el('td', { class: 'ts-sky' }),
      value: el('td', { class: 'ts-value' }) };
    const row = el('tr', { class: `ts-row-${name}` }, el('th', {}, name), cells.pixel, cells.sky, cells.value);
    this._rows[name] = { row, ...cells, shownPixel: null };
    this._probes[name] = new ValueProbe(this._viewer.api, (values, pixel) => this._showValues(name, values, pixel));
    return row;
  }

  _reset() {
    const viewer = this._viewer;
    const wcs = viewer.wcs;
    const frame = wcs ? wcs.frame : null;
    // The image's own frame, and the other of ICRS and Galactic when the image is in one of them.
    const options = [];
    if (wcs) options.push(['native', frameOf(wcs).label]);
    if (wcs && isEquatorial(wcs) && wcs.frame !== 'fk4') options.push(['galactic', 'Galactic']);
    if (wcs && wcs.frame === 'galactic') options.push(['equatorial', 'ICRS']);
    this._frameSelect.replaceChildren(...options.map(([value, label]) => el('option', { value }, label)));
    this._frameSelect.hidden = options.length === 0;
    this._frameNote.textContent = options.length ? '' : (viewer.wcsProblem || 'no WCS');
    this._frameNote.title = this._frameNote.textContent;
    this._mode = 'native';
    this.unpin();
    // Digits that resolve a tenth of a pixel on the sky.
    const arcsec = wcs ? viewer.pixelScale() * 3600 : 1;
    this._digits = Math.min(4, Math.max(1, Math.ceil(-Math.log10(arcsec / 10))));
    for (const [name, probe] of Object.entries(this._probes)) {
      probe.reset(viewer.image);
      this._rows[name].row.dataset.values = '';
    }
    this._show('cursor', null);
    this._show('centre', viewer.map.getCenter());
  }

  /** Hold the cursor row at a map position (a click, the crosshair) until unpin(). */
  pin(latlng) {
    this.pinned = latlng;
    this._rows.cursor.row.dataset.pinned = 'true';
    this._rows.cursor.row.querySelector('th').textContent = 'pinned';
    this._show('cursor', latlng);
  }

  /** Let the cursor row follow the cursor again. */
  unpin() {
    if (!this.pinned) return;
    this.pinned = null;
    delete this._rows.cursor.row.dataset.pinned;
    this._rows.cursor.row.querySelector('th').textContent = 'cursor';
    this._point = null;
    this._show('cursor', null);
  }

  _setMode() {
    this._mode = this._frameSelect.value;
    this._show('centre', this._viewer.map.getCenter());
    const row = this._rows.cursor.row;
    if (row.dataset.x) this._showAt('cursor', Number(row.dataset.x), Number(row.dataset.y));
  }

  _show(name, latlng) {
    const viewer = this._viewer;
    if (!viewer.mapping || latlng === null) {
      const r = this._rows[name];
      r.pixel.textContent = r.sky.textContent = r.value.textContent = '—';
      delete r.row.dataset.x;
      delete r.row.dataset.y;
      this._probes[name].request(null);
      if (name === 'cursor' && this.second) this.second.clear();
      return;
    }
    const [x, y] = viewer.mapping.latLngToFits(latlng);
    this._showAt(name, x, y);
  }

  /** The cursor row at the first image's FITS (x, y): the mouse over the second image, when comparing. */
  showCursorAt(x, y) {
    if (!this.pinned && this._viewer.mapping) this._showAt('cursor', x, y);
  }

  _showAt(name, x, y) {
    const viewer = this._viewer;
    if (name === 'cursor' && this.second) this.second.showAt(x, y);
    const r = this._rows[name];
    const over = viewer.map.getZoom() > viewer.mapping.nativeZoom;
    r.pixel.textContent = `${x.toFixed(over ? 2 : 1)}, ${y.toFixed(over ? 2 : 1)}`;
    Object.assign(r.row.dataset, { x, y });
    r.sky.replaceChildren(...this._sky(r.row, x, y));
    const pixel = viewer.mapping.pixelAt(x, y);
    if (pixel === null) {
      r.value.textContent = '—';
      r.row.dataset.values = '';
      r.row.dataset.pixel = '';
    } else if (!r.shownPixel || r.shownPixel[0] !== pixel[0] || r.shownPixel[1] !== pixel[1]) {
      r.value.classList.add('ts-stale');
    }
    r.shownPixel = pixel;
    this._probes[name].request(pixel);
  }

  /** Sky cell content for FITS (x, y); sets data-lon/lat (the image's own frame, full precision) for tests. */
  _sky(row, x, y) {
    const wcs = this._viewer.wcs;
    if (!wcs) return [];
    const [lon, lat] = wcs.pixelToWorld(x, y);
    Object.assign(row.dataset, { lon, lat });
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) return [el('span', { class: 'ts-muted' }, 'off the sky')];
    const digits = this._digits;
    const spans = (texts) => texts.map((text, i) => el('span', { class: i === texts.length - 1 ? 'ts-deg' : 'ts-sexa' },
      text));
    if (this._mode === 'galactic') return spans(formatPosition(FRAMES.galactic, ...equatorialToGalactic(lon, lat), digits));
    if (this._mode === 'equatorial') return spans(formatPosition(FRAMES.icrs, ...galacticToEquatorial(lon, lat), digits));
    return spans(formatPosition(frameOf(wcs), lon, lat, digits));
  }

  _showValues(name, values, pixel) {
    const r = this._rows[name];
    if (!r.shownPixel || r.shownPixel[0] !== pixel[0] || r.shownPixel[1] !== pixel[1]) return;
    r.value.classList.remove('ts-stale');
    if (values === null) {
      r.value.textContent = '?';
      return;
    }
    r.row.dataset.values = JSON.stringify(values);
    r.row.dataset.pixel = `${pixel[0]},${pixel[1]}`; // the pixel these values belong to
    const viewer = this._viewer;
    const shown = viewer.settings.channel;
    const unit = viewer.dataUnit;
    // A cube of many channels shows the value of the channel on view; a few bands show all theirs.
    const channels = shown !== null && values.length > MIX_MAX_CHANNELS ? [shown - 1] : values.map((_, c) => c);
    r.value.replaceChildren(...channels.map((c) => el('span', {
      class: `ts-chan-value${shown === c + 1 ? ' ts-current' : ''}`,
      title: viewer.channelLabel(c + 1),
    }, formatValue(values[c]))), unit ? el('span', { class: 'ts-unit' }, unit) : '');
  }
}
