/**
 * Snapshots and FITS cutouts: the part of the image in view, or a region drawn on it, as JPEG or PNG under the
 * current render settings, or as a float32 FITS cutout with its WCS (the server's RGN, BIN and CVT), at the
 * view's scale ("screen": binned by the zoom's power of two) or at full resolution. The file name says what
 * it is: image, centre (sky or pixels), binning and date. The server's refusal (a region over its limit) is
 * shown as it says it.
 */
import { Panel } from './Panel.js';
import { ShapeDrawer } from '../handler/ShapeDrawer.js';
import { fileStem, saveBlob, timestamp } from '../core/download.js';
import { el, formatBytes } from '../core/dom.js';
import { frameOf } from '../wcs/frames.js';

const FORMATS = { jpeg: ['JPEG', 'jpg'], png: ['PNG', 'png'], fits: ['FITS cutout', 'fits'] };

/**
 * RGN [x1, y1, x2, y2] (1-based, inclusive, rows counted from the top) of the pixels that a FITS box
 * [xa, ya, xb, yb] (continuous coordinates) touches, grown to whole blocks of `binning` pixels from the image's
 * top-left corner (as the server bins); null when the box misses the image.
 */
export function regionOf([xa, ya, xb, yb], width, height, binning) {
  const x1 = Math.max(1, Math.floor(Math.min(xa, xb) + 0.5));
  const x2 = Math.min(width, Math.ceil(Math.max(xa, xb) - 0.5));
  const ylo = Math.max(1, Math.floor(Math.min(ya, yb) + 0.5));
  const yhi = Math.min(height, Math.ceil(Math.max(ya, yb) - 0.5));
  if (x1 > x2 || ylo > yhi) return null;
  const b = binning;
  const grow = (lo, hi, size) => [Math.floor((lo - 1) / b) * b + 1, Math.min(size, Math.ceil(hi / b) * b)];
  const [gx1, gx2] = grow(x1, x2, width);
  const [gy1, gy2] = grow(height - yhi + 1, height - ylo + 1, height);
  return [gx1, gy1, gx2, gy2];
}

/** Size [w, h] of a region binned b x b. */
export function binnedSize([x1, y1, x2, y2], b) {
  return [Math.max(1, Math.floor((x2 - x1 + 1) / b)), Math.max(1, Math.floor((y2 - y1 + 1) / b))];
}

export class SnapshotPanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'snapshot', 'Snapshot and cutout');
    this._viewer = viewer;
    this._options = { area: 'view', format: 'png', resolution: 'screen' };
    this._drawer = new ShapeDrawer(viewer.map, 'box');
    this._drawer.on('input change', () => this._setOption('area', 'region'));
    this._build();
    this._update = () => this._showPlan();
    this.on('show', () => {
      this._drawer.enable();
      viewer.map.on('moveend zoomend', this._update);
      this._showPlan();
    });
    this.on('hide', () => {
      this._drawer.disable();
      this._drawer.clear();
      viewer.map.off('moveend zoomend', this._update);
    });
    viewer.on('imageclose', () => this._drawer.clear());
    viewer.on('imageopen', this._update);
  }

  _build() {
    const choice = (name, value, label) => el('label', { class: 'ts-check' },
      el('input', { type: 'radio', name: `ts-snapshot-${name}`, value, 'data-setting': `snapshot-${name}-${value}`,
        onchange: () => this._setOption(name, value) }), el('span', {}, label));
    const group = (title, name, choices) => el('div', { class: 'ts-field ts-choices', role: 'radiogroup',
      'aria-label': title }, el('span', {}, title), el('div', { class: 'ts-modes' },
      ...choices.map(([value, label]) => choice(name, value, label))));
    this._plan = el('div', { class: 'ts-tool-summary', 'data-role': 'snapshot-plan' });
    this._status = el('div', { class: 'ts-tool-status', role: 'status' });
    this._button = el('button', { type: 'button', 'data-action': 'snapshot-download',
      onclick: () => this.download() }, 'Download');
    this.body.append(
      el('p', { class: 'ts-note ts-muted' }, 'Drag on the image to draw a region; drag a corner to move it.'),
      group('Area', 'area', [['view', 'Current view'], ['region', 'Drawn region']]),
      group('Format', 'format', Object.entries(FORMATS).map(([value, [label]]) => [value, label])),
      group('Scale', 'resolution', [['screen', 'Screen'], ['native', 'Full resolution']]),
      this._plan, el('div', { class: 'ts-actions' }, this._button), this._status);
    this._syncInputs();
  }

  _setOption(name, value) {
    this._options[name] = value;
    // A FITS cutout is data: full resolution unless asked otherwise (after choosing the format).
    if (name === 'format') this._options.resolution = value === 'fits' ? 'native' : 'screen';
    if (name === 'area' && value === 'view') this._drawer.clear();
    this._syncInputs();
    this._showPlan();
  }

  _syncInputs() {
    for (const [name, value] of Object.entries(this._options)) {
      const input = this.body.querySelector(`[data-setting="snapshot-${name}-${value}"]`);
      if (input) input.checked = true;
    }
  }

  /** Pixels per output pixel: the view's (a power of two, never finer than the image) or 1. */
  _binning() {
    const viewer = this._viewer;
    if (this._options.resolution === 'native') return 1;
    return 2 ** Math.max(0, viewer.mapping.nativeZoom - Math.round(viewer.map.getZoom()));
  }

  /** The FITS box [xa, ya, xb, yb] of the area asked for: the drawn region, or the part of the map in view. */
  _box() {
    const viewer = this._viewer;
    const map = viewer.map;
    const toFits = (point) => viewer.mapping.latLngToFits(map.containerPointToLatLng(point));
    if (this._options.area === 'region') {
      const ends = this._drawer.ends;
      return ends ? ends.flatMap((latlng) => viewer.mapping.latLngToFits(latlng)) : null;
    }
    const size = map.getSize();
    let [w, h] = [size.x, size.y];
    // What this panel hides of the map is not in view: on the right on a wide screen, below on a phone.
    const box = map.getContainer().getBoundingClientRect();
    const panel = this.element.getBoundingClientRect();
    if (this.visible && panel.left > box.left + w / 2) w = Math.min(w, panel.left - box.left);
    else if (this.visible && panel.top > box.top + h / 2) h = Math.min(h, panel.top - box.top);
    return [...toFits([0, 0]), ...toFits([w, h])];
  }

  /** What a download would ask for: {region, binning, size, format} or {error}. */
  plan() {
    const viewer = this._viewer;
    if (!viewer.mapping) return { error: 'No image on view.' };
    const box = this._box();
    if (box === null) return { error: 'Draw a region on the image first.' };
    const binning = this._binning();
    const region = regionOf(box, viewer.mapping.width, viewer.mapping.height, binning);
    if (region === null) return { error: `The ${this._options.area} misses the image.` };
    return { region, binning, size: binnedSize(region, binning), format: this._options.format };
  }

  _showPlan() {
    if (!this.visible) return;
    const plan = this.plan();
    const viewer = this._viewer;
    this._button.disabled = Boolean(plan.error);
    const data = this.element.dataset;
    if (plan.error) {
      this._plan.textContent = plan.error;
      delete data.region;
      return;
    }
    const [x1, y1, x2, y2] = plan.region;
    Object.assign(data, { region: `${x1},${y1}:${x2},${y2}`, binning: plan.binning, size: plan.size.join(',') });
    this._plan.textContent = `${plan.size[0]} × ${plan.size[1]} pixels`
      + (plan.binning > 1 ? `, binned ${plan.binning} × ${plan.binning}` : ', full resolution')
      // FITS y (from the bottom), as everywhere else in the viewer; RGN counts rows from the top.
      + ` · x ${x1}–${x2}, y ${viewer.mapping.height + 1 - y2}–${viewer.mapping.height + 1 - y1}`;
  }

  /** The download's file name: image, centre, binning, date. */
  fileName(plan, date = new Date()) {
    const viewer = this._viewer;
    const [x1, y1, x2, y2] = plan.region;
    const x = (x1 + x2) / 2;
    const y = viewer.mapping.height + 1 - (y1 + y2) / 2;
    let centre = `x${x}_y${y}`;
    if (viewer.wcs) {
      const [lon, lat] = viewer.wcs.pixelToWorld(x, y);
      const names = frameOf(viewer.wcs).unit === 'hms' ? ['ra', 'dec'] : viewer.wcs.frame === 'galactic' ? ['l', 'b'] : ['lon', 'lat'];
      if (Number.isFinite(lon) && Number.isFinite(lat)) {
        centre = `${names[0]}${lon.toFixed(5)}_${names[1]}${lat < 0 ? '-' : '+'}${Math.abs(lat).toFixed(5)}`;
      }
    }
    const binning = plan.binning > 1 ? `_bin${plan.binning}` : '';
    return `${fileStem(viewer.image)}_${centre}${binning}_${timestamp(date)}.${FORMATS[plan.format][1]}`;
  }

  /** Ask the server for the file and save it; resolves to its name, or null if it could not be made. */
  async download() {
    const viewer = this._viewer;
    const plan = this.plan();
    if (plan.error) {
      this._setStatus(plan.error, true);
      return null;
    }
    // A FITS cutout holds the data, not a rendering: the render settings do not belong in its URL.
    const params = plan.format === 'fits' ? {} : viewer.settings.toParams();
    const url = viewer.api.regionUrl(viewer.image, params, viewer.info.cache_tag, plan.region, plan.binning,
      plan.format);
    const what = plan.format === 'fits' ? 'FITS cutout' : 'Snapshot';
    this._button.disabled = true;
    this._setStatus(`Preparing the ${what.toLowerCase()}…`);
    let blob;
    try {
      blob = await viewer.api.file(url, what);
    } catch (err) {
      this._setStatus(err.message, true);
      return null;
    } finally {
      this._button.disabled = false;
    }
    const name = this.fileName(plan);
    saveBlob(blob, name);
    this._setStatus(`Saved ${name} (${formatBytes(blob.size)}).`);
    return name;
  }

  _setStatus(text, error = false) {
    this._status.textContent = text;
    this._status.classList.toggle('ts-error', error);
  }
}
