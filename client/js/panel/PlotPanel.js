/**
 * The skeleton of a panel that reads values from the server and plots them: a note on how to use it, a summary
 * line, the plot with a hover read-out, a status line for progress and errors, and a CSV download. Subclasses
 * say what to ask (`_read`), how to draw it (`_replot`), how to read one point (`_describe`) and what the CSV
 * holds (`downloadCsv`); answers that arrive after a newer request or another image are dropped.
 */
import { Panel } from './Panel.js';
import { Plot } from './Plot.js';
import { el } from '../core/dom.js';

export class PlotPanel extends Panel {
  /**
   * @param {import('../core/Viewer.js').Viewer} viewer
   * @param {HTMLElement} host
   * @param {string} name panel name (also the CSV button's data-action prefix)
   * @param {string} title heading
   * @param {string} note how to use the tool, shown above the plot
   */
  constructor(viewer, host, name, title, note) {
    super(host, name, title);
    this._viewer = viewer;
    this._ticket = 0;
    const plotBox = el('div', { class: 'ts-plot-box' });
    this._summary = el('div', { class: 'ts-tool-summary' });
    this._status = el('div', { class: 'ts-tool-status', role: 'status' });
    this._csv = el('button', { type: 'button', 'data-action': `${name}-csv`, disabled: true,
      onclick: () => this.downloadCsv() }, 'Download CSV');
    this.body.append(el('p', { class: 'ts-note ts-muted' }, note), this._summary, plotBox, this._status,
      el('div', { class: 'ts-actions' }, this._csv));
    this._plot = new Plot(plotBox, 'Hover over the plot to read the values.');
    this._plot.describe = (i) => this._describe(i);
    viewer.on('imageclose', this.reset, this);
    viewer.on('settingschange', this._replot, this);
  }

  /** Forget what is plotted (subclasses forget their own data too). */
  reset() {
    this._ticket += 1;
    this._plot.clear();
    this._summary.textContent = '';
    this._setStatus('');
    this._csv.disabled = true;
    return this;
  }

  /**
   * Ask the server with `ask(image)`; resolves to its answer, or null when it failed (the status line says why)
   * or was overtaken by a newer request or another image.
   */
  async _read(ask) {
    const viewer = this._viewer;
    const ticket = ++this._ticket;
    const image = viewer.image;
    this._setStatus('Reading the values…');
    let answer;
    try {
      answer = await ask(image);
    } catch (err) {
      if (ticket === this._ticket) this._setStatus(err.message, true);
      return null;
    }
    if (ticket !== this._ticket || image !== viewer.image) return null;
    this._setStatus('');
    this._csv.disabled = false;
    return answer;
  }

  /** Draw the data again (new data, or new render settings that change the series' colours). */
  _replot() {}

  /** Text read out for point i of the plot. */
  _describe(i) {
    return String(i);
  }

  downloadCsv() {}

  _setStatus(text, error = false) {
    this._status.textContent = text;
    this._status.classList.toggle('ts-error', error);
  }
}
