/**
 * Line profile: draw a line on the image and plot the values along it (the server's PFL), every channel of a
 * cube in its mix colour. Hovering the plot reads the values out and marks the point on the image; the
 * profile downloads as CSV.
 */
import { CircleMarker } from '../leaflet.js';
import { PlotPanel } from './PlotPanel.js';
import { ShapeDrawer } from '../handler/ShapeDrawer.js';
import { channelColours } from '../core/channelColours.js';
import { formatValue } from '../control/CursorReadout.js';
import { fileStem, saveCsv } from '../core/download.js';
import { formatAngle, separation } from '../wcs/sphere.js';

export class ProfilePanel extends PlotPanel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(viewer, host, 'profile', 'Line profile', 'Drag on the image to draw a line; drag an end to move it.');
    this._profile = null; // {image, line: [x1, y1, x2, y2], points: [{x, y, values}], distances}
    this._marker = null;
    this._drawer = new ShapeDrawer(viewer.map, 'line');
    this._drawer.on('change', (e) => this._drawn(e.a, e.b));
    this._plot.on('hover', (e) => this._mark(e.index));
    this._plot.on('leave', () => this._mark(null));
    this.on('show', () => this._drawer.enable());
    this.on('hide', () => {
      this._drawer.disable();
      this.reset();
    });
  }

  /** Forget the line and its profile. */
  reset() {
    super.reset();
    this._profile = null;
    this._drawer.clear();
    this._mark(null);
    delete this.element.dataset.line;
    return this;
  }

  /** Profile along the line from FITS pixel (x1, y1) to (x2, y2): draws it and resolves once plotted. */
  showLine(x1, y1, x2, y2) {
    const m = this._viewer.mapping;
    const [a, b] = [m.fitsToLatLng(x1, y1), m.fitsToLatLng(x2, y2)];
    this._drawer.set(a, b);
    return this._drawn(a, b);
  }

  async _drawn(a, b) {
    const viewer = this._viewer;
    if (!viewer.mapping) return;
    const [p, q] = [a, b].map((latlng) => this._pixel(viewer.mapping.latLngToFits(latlng)));
    const line = [...p, ...q];
    if (this._profile && this._profile.line.join() === line.join()) return;
    const image = viewer.image;
    const points = await this._read((name) => viewer.api.profile(name, ...line));
    if (points === null) return;
    const length = Math.hypot(q[0] - p[0], q[1] - p[1]);
    const n = points.length;
    this._profile = { image, line, points, distances: points.map((_, j) => (n > 1 ? (j * length) / (n - 1) : 0)) };
    this.element.dataset.line = `${p[0]},${p[1]}:${q[0]},${q[1]}`;
    this._summary.textContent = `(${p[0]}, ${p[1]}) → (${q[0]}, ${q[1]}) · ${n} pixels, ${length.toFixed(1)} px`
      + this._skyLength(p, q);
    this._replot();
  }

  /** The whole pixel nearest to a FITS position, inside the image. */
  _pixel([x, y]) {
    const m = this._viewer.mapping;
    return [Math.min(m.width, Math.max(1, Math.round(x))), Math.min(m.height, Math.max(1, Math.round(y)))];
  }

  _skyLength(p, q) {
    const wcs = this._viewer.wcs;
    if (!wcs) return '';
    const d = separation(...wcs.pixelToWorld(...p), ...wcs.pixelToWorld(...q));
    return Number.isFinite(d) ? ` = ${formatAngle(d)}` : '';
  }

  _replot() {
    const profile = this._profile;
    const viewer = this._viewer;
    if (!profile || !viewer.settings) return;
    const colours = channelColours(viewer.settings);
    const mono = viewer.settings.channels > 1 ? viewer.settings.channel : null;
    const series = viewer.info.channel_names.map((label, c) => ({
      label,
      colour: colours[c] || colours[0],
      values: profile.points.map((point) => point.values[c]),
      // A cube shown one channel at a time: that channel stands out.
      width: mono === c + 1 ? 2.5 : 1.5,
      opacity: mono !== null && mono !== c + 1 ? 0.45 : 1,
    }));
    this._plot.setData({ x: profile.distances, series, xLabel: 'distance along the line (pixels)' });
  }

  _describe(i) {
    const { points, distances } = this._profile;
    const point = points[i];
    const names = this._viewer.info.channel_names;
    const values = point.values.map((v, c) => (names.length > 1 ? `${names[c]} ${formatValue(v)}` : formatValue(v)));
    return `${distances[i].toFixed(1)} px · pixel ${point.x}, ${point.y} · ${values.join('  ')}`;
  }

  /** Mark profile point i on the image (null: no mark). */
  _mark(i) {
    if (this._marker) this._marker.remove();
    this._marker = null;
    if (i === null || !this._profile || !this._viewer.mapping) return;
    const point = this._profile.points[i];
    this._marker = new CircleMarker(this._viewer.mapping.fitsToLatLng(point.x, point.y), {
      radius: 4, color: '#ffb74f', weight: 2, fillOpacity: 0, interactive: false,
    }).addTo(this._viewer.map);
  }

  downloadCsv() {
    const profile = this._profile;
    if (!profile) return;
    const names = this._viewer.info.channel_names;
    const rows = profile.points.map((point, j) => [j, Number(profile.distances[j].toFixed(4)), point.x, point.y,
      ...point.values]);
    const [x1, y1, x2, y2] = profile.line;
    saveCsv(`${fileStem(profile.image)}_profile_${x1}-${y1}_${x2}-${y2}.csv`,
      ['index', 'distance_px', 'x', 'y', ...names], rows);
  }
}
