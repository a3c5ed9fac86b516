/**
 * The compare panel: choose a second image (from the current image's folder, or typed), show it side by side or
 * blink between the two at a chosen rate, lock or free their pan and zoom.
 */
import { Panel } from './Panel.js';
import { BLINK_RANGE } from '../control/BlinkControl.js';
import { CompareView } from '../layer/CompareView.js';
import { el } from '../core/dom.js';

export class ComparePanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'compare', 'Compare');
    this._viewer = viewer;
    this.view = new CompareView(viewer);
    this._build();
    this.view.on('open modechange', this._sync, this);
    this.view.blink.on('change', this._sync, this);
    viewer.on('imageopen', this._sync, this);
    this.on('show', () => this._listImages());
  }

  _build() {
    this._path = el('input', { type: 'text', class: 'ts-compare-path', 'aria-label': 'Second image', spellcheck: false,
      placeholder: 'path/of/image.fits', list: 'ts-compare-images', autocomplete: 'off' });
    this._choices = el('datalist', { id: 'ts-compare-images' });
    const form = el('form', { class: 'ts-inline ts-compare-form', onsubmit: (e) => {
      e.preventDefault();
      this.compareWith(this._path.value.trim());
    } }, this._path, this._choices, el('button', { type: 'submit' }, 'Show'),
    el('button', { type: 'button', 'data-action': 'compare-browse', title: 'Choose the second image in the image browser',
      onclick: () => this.browse() }, 'Browse…'));
    this._message = el('p', { class: 'ts-muted ts-note', role: 'status' });
    const mode = (value, label) => el('label', { class: 'ts-check' },
      el('input', { type: 'radio', name: 'ts-compare-mode', value, 'data-compare-mode': value,
        onchange: () => this.view.setMode(value) }), label);
    this._modes = el('div', { class: 'ts-modes' }, mode('side', 'Side by side'), mode('blink', 'Blink'));
    this._seconds = el('input', { type: 'range', min: BLINK_RANGE[0], max: 2, step: 0.05, value: 0.5,
      'data-setting': 'blink-seconds', oninput: () => this._setSeconds() });
    this._secondsOut = el('output', {});
    this._play = el('button', { type: 'button', 'data-action': 'blink', onclick: () => this.toggleBlink() });
    this._blinkRow = el('div', {},
      el('label', { class: 'ts-field' }, el('span', {}, 'Each image'), this._seconds, this._secondsOut),
      el('div', { class: 'ts-actions' }, this._play));
    this._lock = el('input', { type: 'checkbox', checked: true, 'data-setting': 'compare-lock',
      onchange: () => this.view.setLocked(this._lock.checked) });
    this._lockNote = el('span', { class: 'ts-muted' });
    this._stop = el('button', { type: 'button', onclick: () => this.view.setMode(null) }, 'Stop comparing');
    this.body.append(
      el('h3', {}, 'Second image'), form, this._message,
      el('h3', {}, 'Show'), this._modes, this._blinkRow,
      el('label', { class: 'ts-check' }, this._lock, 'Lock pan and zoom ', this._lockNote),
      el('div', { class: 'ts-actions' }, this._stop));
    this._sync();
  }

  /** Compare the image on view with `image`; resolves true once it is shown. */
  async compareWith(image) {
    if (!image) return false;
    this._path.value = image;
    this._message.textContent = 'Opening…';
    try {
      await this.view.open(image);
    } catch (err) {
      this._message.textContent = err.message;
      return false;
    }
    this._message.textContent = '';
    return true;
  }

  /** Choose the second image in the image browser, then compare with it. */
  async browse() {
    const image = await this._viewer.panels.files.pick('the image to compare with');
    if (!image) return false;
    this._viewer.togglePanel('compare', true);
    return this.compareWith(image);
  }

  async _listImages() {
    const current = this._viewer.image || '';
    const folder = current.includes('/') ? current.slice(0, current.lastIndexOf('/')) : '';
    try {
      const listing = await this._viewer.api.list(folder);
      this._choices.replaceChildren(...listing.entries.filter((e) => e.type === 'image' && e.path !== current)
        .map((e) => el('option', { value: e.path })));
    } catch {
      this._choices.replaceChildren(); // typing a path still works
    }
  }

  _setSeconds() {
    this.view.blink.setSeconds(Number(this._seconds.value));
  }

  toggleBlink() {
    if (!this.view.info) return;
    if (this.view.mode !== 'blink') this.view.setMode('blink');
    if (this.view.blink.running) this.view.blink.stop();
    else this.view.blink.start();
  }

  _sync() {
    const view = this.view;
    for (const input of this._modes.querySelectorAll('input')) {
      input.checked = input.value === view.mode;
      input.disabled = !view.info;
    }
    this._blinkRow.hidden = view.mode !== 'blink';
    this._secondsOut.textContent = `${view.blink.seconds.toFixed(2)} s`;
    this._play.textContent = view.blink.running ? 'Pause' : 'Blink';
    this._stop.disabled = !view.mode;
    this._lockNote.textContent = view.mode ? `(${view.byWcs ? 'by the sky (WCS)' : 'by pixels'})` : '';
  }
}
