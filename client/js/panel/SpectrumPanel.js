/**
 * Spectrum of a cube: click a pixel and plot its value in every channel (the server's VAL), one point per
 * channel in the channel's mix colour, with a hover read-out and a CSV download. Only for cubes.
 */
import { CircleMarker } from '../leaflet.js';
import { PlotPanel } from './PlotPanel.js';
import { channelColours } from '../core/channelColours.js';
import { formatValue } from '../control/CursorReadout.js';
import { fileStem, saveCsv } from '../core/download.js';

export class SpectrumPanel extends PlotPanel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(viewer, host, 'spectrum', 'Spectrum', 'Click a pixel to plot its value in every channel.');
    this._spectrum = null; // {image, pixel: [x, y], values}
    this._marker = null;
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
  }

  /** Only a cube has a spectrum. */
  show() {
    const info = this._viewer.info;
    return info && info.channels > 1 ? super.show() : this;
  }

  reset() {
    super.reset();
    this._spectrum = null;
    if (this._marker) this._marker.remove();
    this._marker = null;
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
    const image = viewer.image;
    if (this._marker) this._marker.remove();
    this._marker = new CircleMarker(viewer.mapping.fitsToLatLng(x, y), {
      radius: 5, color: '#4fb3ff', weight: 2, fillOpacity: 0, interactive: false,
    }).addTo(viewer.map);
    const values = await this._read((name) => viewer.api.value(name, x, y));
    if (values === null) return;
    this._spectrum = { image, pixel: [x, y], values };
    this.element.dataset.pixel = `${x},${y}`;
    this._summary.textContent = `Pixel ${x}, ${y} · ${values.length} channels`;
    this._replot();
  }

  _replot() {
    const spectrum = this._spectrum;
    if (!spectrum || !this._viewer.settings) return;
    // The x axis in the cube's spectral coordinate (velocity, frequency...) when its header has one.
    const spectral = this._viewer.spectral;
    const x = spectral ? spectrum.values.map((_, c) => spectral.value(c + 1)) : spectrum.values.map((_, c) => c + 1);
    const unit = this._viewer.dataUnit;
    this._plot.setData({ x, integerX: !spectral, xLabel: spectral ? spectral.title : 'channel',
      yLabel: unit ? `value (${unit})` : 'value', series: [{
      label: 'value', colour: '#d8dee6', values: spectrum.values, width: 1, opacity: 0.6, markers: true,
      markerColours: channelColours(this._viewer.settings),
    }] });
  }

  _describe(i) {
    const unit = this._viewer.dataUnit;
    return `channel ${i + 1} (${this._viewer.channelLabel(i + 1)}): ${formatValue(this._spectrum.values[i])}`
      + (unit ? ` ${unit}` : '');
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
