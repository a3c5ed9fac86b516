/**
 * Spectrum of a cube: click a pixel and plot its value in every channel (the server's VAL), one point per
 * channel in the channel's mix colour, with a hover read-out and a CSV download. Only for cubes.
 */
import { CircleMarker } from 'leaflet';
import { Panel } from './Panel.js';
import { Plot } from './Plot.js';
import { channelColours } from './channelColours.js';
import { formatValue } from './CursorReadout.js';
import { fileStem, saveCsv } from './download.js';
import { el } from './dom.js';

export class SpectrumPanel extends Panel {
  /** @param {import('./Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'spectrum', 'Spectrum');
    this._viewer = viewer;
    this._spectrum = null; // {image, pixel: [x, y], values}
    this._ticket = 0;
    this._marker = null;
    this._build();
    this._onClick = (e) => this._pick(e.latlng);
    this.on('show', () => {
      viewer.map.on('click', this._onClick);
      viewer.map.getContainer().classList.add('ts-picking');
    });
    this.on('hide', () => {
      viewer.map.off('click', this._onClick);
      viewer.map.getContainer().classList.remove('ts-picking');
      this.reset();
    });
    viewer.on('imageopen', (e) => e.info.channels < 2 && this.hide());
    viewer.on('imageclose', this.reset, this);
    viewer.on('settingschange', this._plotSpectrum, this);
  }

  _build() {
    const plotBox = el('div', { class: 'ts-plot-box' });
    this._summary = el('div', { class: 'ts-tool-summary' });
    this._status = el('div', { class: 'ts-tool-status', role: 'status' });
    this._csv = el('button', { type: 'button', 'data-action': 'spectrum-csv', disabled: true,
      onclick: () => this.downloadCsv() }, 'Download CSV');
    this.body.append(el('p', { class: 'ts-note ts-muted' }, 'Click a pixel to plot its value in every channel.'),
      this._summary, plotBox, this._status, el('div', { class: 'ts-actions' }, this._csv));
    this._plot = new Plot(plotBox, 'Hover over the plot to read the values.');
    this._plot.describe = (i) => this._describe(i);
  }

  /** Only a cube has a spectrum. */
  show() {
    const info = this._viewer.info;
    return info && info.channels > 1 ? super.show() : this;
  }

  reset() {
    this._ticket += 1;
    this._spectrum = null;
    if (this._marker) this._marker.remove();
    this._marker = null;
    this._plot.clear();
    this._summary.textContent = '';
    this._setStatus('');
    this._csv.disabled = true;
    delete this.element.dataset.pixel;
    return this;
  }

  _pick(latlng) {
    const mapping = this._viewer.mapping;
    if (!mapping) return Promise.resolve();
    const pixel = mapping.pixelAt(...mapping.latLngToFits(latlng));
    if (pixel === null) {
      this._setStatus('That point is off the image.', true);
      return Promise.resolve();
    }
    return this.showPixel(...pixel);
  }

  /** Plot the spectrum of FITS pixel (x, y); resolves once plotted. */
  async showPixel(x, y) {
    const viewer = this._viewer;
    const ticket = ++this._ticket;
    const image = viewer.image;
    if (this._marker) this._marker.remove();
    this._marker = new CircleMarker(viewer.mapping.fitsToLatLng(x, y), {
      radius: 5, color: '#4fb3ff', weight: 2, fillOpacity: 0, interactive: false,
    }).addTo(viewer.map);
    this._setStatus('Reading the values…');
    let values;
    try {
      values = await viewer.api.value(image, x, y);
    } catch (err) {
      if (ticket === this._ticket) this._setStatus(err.message, true);
      return;
    }
    if (ticket !== this._ticket || image !== viewer.image) return;
    this._setStatus('');
    this._spectrum = { image, pixel: [x, y], values };
    this.element.dataset.pixel = `${x},${y}`;
    this._summary.textContent = `Pixel ${x}, ${y} · ${values.length} channels`;
    this._csv.disabled = false;
    this._plotSpectrum();
  }

  _plotSpectrum() {
    const spectrum = this._spectrum;
    if (!spectrum || !this._viewer.settings) return;
    const channels = spectrum.values.map((_, c) => c + 1);
    this._plot.setData({ x: channels, integerX: true, xLabel: 'channel', series: [{
      label: 'value', colour: '#d8dee6', values: spectrum.values, width: 1, opacity: 0.6, markers: true,
      markerColours: channelColours(this._viewer.settings),
    }] });
  }

  _describe(i) {
    const name = this._viewer.info.channel_names[i];
    return `channel ${i + 1}${name ? ` (${name})` : ''}: ${formatValue(this._spectrum.values[i])}`;
  }

  _setStatus(text, error = false) {
    this._status.textContent = text;
    this._status.classList.toggle('ts-error', error);
  }

  downloadCsv() {
    const spectrum = this._spectrum;
    if (!spectrum) return;
    const names = this._viewer.info.channel_names;
    const [x, y] = spectrum.pixel;
    saveCsv(`${fileStem(spectrum.image)}_spectrum_x${x}-y${y}.csv`, ['channel', 'name', 'value'],
      spectrum.values.map((v, c) => [c + 1, names[c], v]));
  }
}
