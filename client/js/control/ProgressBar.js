/**
 * Progress of an image's pyramid build, shown while the viewer waits for INFO. Takes the websocket's
 * 'progress' messages (through a LiveChannel) when they come, and otherwise polls GET /progress, which also
 * covers a server without the websocket and a socket that is down.
 */
import { el } from '../core/dom.js';

const POLL_DELAY = 250; // ms before the first poll: a cached image answers INFO sooner and shows no bar
const POLL_INTERVAL = 400;
const SOCKET_FRESH = 1000; // ms during which a socket message makes polling unnecessary
const STAGES = { queued: 'Queued', reading: 'Reading the image', tiling: 'Building the tiles',
  statistics: 'Computing statistics', done: 'Finishing', waiting: 'Waiting for the image to be prepared' };

export class ProgressBar {
  /**
   * @param {HTMLElement} container where the bar is drawn
   * @param {import('../core/Api.js').Api} api
   * @param {import('../core/LiveChannel.js').LiveChannel|null} live the websocket channel, if the server has one
   */
  constructor(container, api, live = null) {
    this._api = api;
    this._live = live;
    this._fill = el('div', { class: 'ts-progress-fill' });
    this._text = el('div', { class: 'ts-progress-text' });
    this.element = el('div', { class: 'ts-progress', hidden: true, role: 'progressbar', 'aria-valuemin': 0,
      'aria-valuemax': 100 }, this._text, el('div', { class: 'ts-progress-track' }, this._fill));
    container.append(this.element);
    this._image = null;
    this._timer = null;
    this._socketAt = -Infinity;
    this._onProgress = (e) => {
      if (e.image !== this._image) return;
      this._socketAt = performance.now();
      this.show(e.stage, e.fraction);
    };
    if (live) live.on('progress', this._onProgress);
  }

  /** Follow the build of `image` until stop(). */
  watch(image) {
    this.stop();
    this._image = image;
    this._socketAt = -Infinity;
    this._poll(image, POLL_DELAY);
  }

  stop() {
    // An answer still on its way is ignored, not aborted: an aborted request reads as a failure in the console.
    this._image = null;
    clearTimeout(this._timer);
    this._timer = null;
    this.element.hidden = true;
  }

  _poll(image, delay) {
    this._timer = setTimeout(async () => {
      if (this._image !== image) return;
      if (performance.now() - this._socketAt > SOCKET_FRESH) {
        try {
          const state = await this._api.progress(image);
          if (this._image !== image) return;
          if (state.state === 'building') this.show(state.stage, state.fraction);
          else if (state.state === 'waiting') this.show('waiting', null);
        } catch {
          // The INFO request reports errors; progress is only a hint.
        }
      }
      if (this._image === image) this._poll(image, POLL_INTERVAL);
    }, delay);
  }

  /** Show a stage and a fraction in [0, 1] (null: unknown, an indeterminate bar). */
  show(stage, fraction) {
    this.element.hidden = false;
    const known = typeof fraction === 'number' && Number.isFinite(fraction);
    this.element.classList.toggle('ts-indeterminate', !known);
    this._fill.style.width = known ? `${Math.round(fraction * 100)}%` : '';
    if (known) this.element.setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
    else this.element.removeAttribute('aria-valuenow');
    const label = STAGES[stage] || stage || 'Preparing';
    this._text.textContent = `${label}${known ? ` — ${Math.round(fraction * 100)}%` : '…'}`;
    this.element.dataset.stage = stage || '';
  }
}
