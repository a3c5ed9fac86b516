/**
 * A catalog on the image: one circle per source at its position (RA/Dec through the image's WCS, or pixel
 * columns), sized by magnitude, drawn on a canvas so that tens of thousands stay fluid; a click shows the row.
 * Placed anew on every image opened.
 */
import { Canvas, CircleMarker, FeatureGroup, Popup } from '../leaflet.js';
import { SkyFrame } from '../wcs/SkyFrame.js';
import { guessColumns, markerRadii, positions } from '../core/CatalogReader.js';
import { formatSexagesimal } from '../wcs/coords.js';
import { el } from '../core/dom.js';

export class CatalogLayer extends FeatureGroup {
  /**
   * @param {import('../core/Viewer.js').Viewer} viewer
   * @param {{name: string, columns: Array<{name: string}>, rows: Array<Array<any>>}} table see CatalogReader
   * @param {string} color CSS colour of the markers
   */
  constructor(viewer, table, color) {
    super();
    this._viewer = viewer;
    this.table = table;
    this.name = table.name;
    this.color = color;
    this.columns = guessColumns(table);
    this.placed = 0; // sources on the image's projection
    this.problem = '';
    this._renderer = new Canvas({ padding: 0.3 });
    this._markers = [];
    this._placedFor = undefined; // the INFO of the image the markers were placed on
    this.on('click', (e) => this._showRow(e.layer));
  }

  onAdd(map) {
    if (this._placedFor !== this._viewer.info) this._build();
    super.onAdd(map);
  }

  /** Choose the position and magnitude columns: {kind: 'sky'|'pixel', lon, lat, mag} (indices, -1 for none). */
  setColumns(columns) {
    this.columns = { ...this.columns, ...columns };
    this.place();
    return this;
  }

  setColor(color) {
    this.color = color;
    for (const marker of this._markers) if (marker) marker.setStyle({ color, fillColor: color });
    return this;
  }

  /** Markers for the image on view (or none, with `problem` saying why). */
  place() {
    // Off the map while markers come and go: one redraw at the end rather than one per marker.
    const map = this._map;
    if (map) map.removeLayer(this);
    this._build();
    if (map) map.addLayer(this);
    return this;
  }

  _build() {
    const viewer = this._viewer;
    this._placedFor = viewer.info;
    this.clearLayers();
    this._markers = [];
    this.placed = 0;
    this.problem = '';
    const { kind, lon, lat, mag } = this.columns;
    if (!viewer.mapping) return;
    if (kind === null || lon < 0 || lat < 0) {
      this.problem = 'choose the columns of the positions';
      return;
    }
    const frame = new SkyFrame(viewer.wcs);
    if (kind === 'sky' && !frame.usable) {
      this.problem = frame.problem;
      return;
    }
    const [a, b] = positions(this.table, lon, lat);
    const radii = markerRadii(this.table, mag);
    const style = { renderer: this._renderer, color: this.color, fillColor: this.color, weight: 1.5, opacity: 0.9,
      fillOpacity: 0.15 };
    for (let i = 0; i < a.length; i += 1) {
      const [x, y] = kind === 'sky' ? frame.toPixel(a[i], b[i]) : [a[i], b[i]];
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        this._markers.push(null);
        continue;
      }
      const marker = new CircleMarker(viewer.mapping.fitsToLatLng(x, y), { ...style, radius: radii[i], row: i });
      this._markers.push(marker);
      this.addLayer(marker);
      this.placed += 1;
    }
  }

  /** The map position of a row's marker, or null when it is not placed. */
  latLngOf(row) {
    const marker = this._markers[row];
    return marker ? marker.getLatLng() : null;
  }

  _showRow(marker) {
    const viewer = this._viewer;
    const row = marker.options.row;
    const [x, y] = viewer.mapping.latLngToFits(marker.getLatLng());
    const lines = [['pixel', `${x.toFixed(1)}, ${y.toFixed(1)}`]];
    if (this.columns.kind === 'sky') {
      const [a, b] = positions({ rows: [this.table.rows[row]] }, this.columns.lon, this.columns.lat);
      lines.push(['RA, Dec', formatSexagesimal(a[0], b[0], 2).join(' ')]);
    }
    this.table.columns.forEach((column, i) => lines.push([column.name, this.table.rows[row][i] ?? '']));
    const content = el('div', { class: 'ts-catalog-popup' },
      el('div', { class: 'ts-popup-title' }, `${this.name} · row ${row + 1}`),
      el('table', {}, el('tbody', {},
        ...lines.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, String(v)))))));
    new Popup({ maxWidth: 360, maxHeight: 320 }).setLatLng(marker.getLatLng()).setContent(content).openOn(viewer.map);
  }
}
