/**
 * The image's name and size, and a box to go to a position typed as sky coordinates ("10:00:24 +02:03:00",
 * "150.1 2.05", "gal 236.8 42.1") or as FITS pixels ("300 200 px", or any two numbers without a WCS).
 */
import { Control, DomEvent } from '../leaflet.js';
import { el } from '../core/dom.js';
import { equatorialToGalactic, galacticToEquatorial, parseCoordinates } from '../wcs/coords.js';
import { frameOf, isEquatorial } from '../wcs/frames.js';

const NUMBER = String.raw`[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?`;
const UNIT = '(?:px|pix|pixels?)';
const PIXELS = new RegExp(String.raw`^${UNIT}?\s*(${NUMBER})\s*[, ]\s*(${NUMBER})\s*(${UNIT})?$`, 'i');
const GALACTIC = new RegExp(String.raw`^(?:gal(?:actic)?|l\s*b)\s*(${NUMBER})\s*[, ]\s*(${NUMBER})$`, 'i');

export class GotoControl extends Control {
  constructor(viewer, options = {}) {
    super({ position: 'topleft', ...options });
    this._viewer = viewer;
  }

  onAdd() {
    this._title = el('div', { class: 'ts-title' });
    this._input = el('input', { type: 'text', class: 'ts-goto', 'aria-label': 'Go to position', spellcheck: false,
      placeholder: 'Go to: RA Dec, or x y px', autocomplete: 'off' });
    this._error = el('div', { class: 'ts-goto-error', role: 'alert' });
    const form = el('form', { class: 'ts-goto-form', onsubmit: (e) => {
      e.preventDefault();
      this._go();
    } }, this._input);
    this._container = el('div', { class: 'ts-info-box leaflet-bar' }, this._title, form, this._error);
    DomEvent.disableClickPropagation(this._container);
    DomEvent.disableScrollPropagation(this._container);
    this._input.addEventListener('input', () => {
      this._error.textContent = '';
    });
    this._input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this._input.blur();
    });
    this._viewer.on('imageopen', this._reset, this);
    return this._container;
  }

  focus() {
    this._input.focus();
    this._input.select();
  }

  _reset() {
    const { info, image, wcs } = this._viewer;
    const [w, h] = info.full_size;
    const channels = info.channels > 1 ? ` × ${info.channels} channels` : '';
    this._title.replaceChildren(el('strong', {}, image), el('span', { class: 'ts-muted' }, ` ${w} × ${h}${channels}`));
    this._title.title = info.object_name || image;
    this._input.placeholder = wcs ? `Go to: ${this._skyHint(wcs)}, or x y px` : 'Go to: x y (pixels)';
    this._error.textContent = '';
  }

  /** What a typed sky position means on this image: RA Dec, or the axes of its own frame. */
  _skyHint(wcs) {
    if (isEquatorial(wcs) || wcs.frame === 'galactic') return 'RA Dec';
    const frame = frameOf(wcs);
    return `${frame.axes.join(' ')} (${frame.unit === 'arcsec' ? 'arcsec' : 'degrees'})`;
  }

  /** FITS [x, y] of a typed position, or a string saying why not. */
  parse(text) {
    const viewer = this._viewer;
    const wcs = viewer.wcs;
    const trimmed = text.trim();
    const pixels = PIXELS.exec(trimmed);
    if (pixels && (pixels[3] || /^p/i.test(trimmed) || !wcs)) return [Number(pixels[1]), Number(pixels[2])];
    if (!wcs) return 'This image has no sky coordinates: type pixels, "x y".';
    if (!isEquatorial(wcs) && wcs.frame !== 'galactic') return this._parseNative(wcs, trimmed);
    let sky = null;
    const galactic = GALACTIC.exec(trimmed);
    if (galactic) sky = galacticToEquatorial(Number(galactic[1]), Number(galactic[2]));
    else sky = parseCoordinates(trimmed);
    if (!sky) return 'Not understood: try "10:00:24 +02:03:00", "150.1 2.05", "gal 236.8 42.1" or "300 200 px".';
    // Typed positions are equatorial; convert for an image in galactic coordinates.
    if (wcs.frame === 'galactic') sky = equatorialToGalactic(sky[0], sky[1]);
    const [x, y] = wcs.worldToPixel(sky[0], sky[1]);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return 'That position is not on this projection.';
    return [x, y];
  }

  /** Two numbers in the image's own frame and unit (helioprojective arcseconds, heliographic degrees...). */
  _parseNative(wcs, text) {
    const numbers = PIXELS.exec(text);
    if (!numbers) return `Not understood: type ${this._skyHint(wcs)}, or "300 200 px".`;
    const scale = frameOf(wcs).unit === 'arcsec' ? 1 / 3600 : 1;
    const [x, y] = wcs.worldToPixel(Number(numbers[1]) * scale, Number(numbers[2]) * scale);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return 'That position is not on this projection.';
    return [x, y];
  }

  _go() {
    const result = this.parse(this._input.value);
    if (typeof result === 'string') {
      this._error.textContent = result;
      return;
    }
    const [x, y] = result;
    const m = this._viewer.mapping;
    if (x < 0.5 - m.width || x > 2 * m.width + 0.5 || y < 0.5 - m.height || y > 2 * m.height + 0.5) {
      this._error.textContent = `That position (pixel ${x.toFixed(1)}, ${y.toFixed(1)}) is far outside the image.`;
      return;
    }
    this._error.textContent = '';
    // Zoomed out, a target would be a speck: go to it at one image pixel per screen pixel at least.
    const viewer = this._viewer;
    viewer.goTo(x, y, Math.max(viewer.map.getZoom(), viewer.mapping.nativeZoom));
  }
}
