/**
 * Region shapes on the image: the features of a ds9 file (parsed by the server) or drawn in the viewer, placed
 * through the image's WCS (see RegionShapes) and placed anew on every image opened.
 */
import { DivIcon, FeatureGroup, LayerGroup, Marker, Polygon, Polyline } from '../leaflet.js';
import { SkyFrame } from '../wcs/SkyFrame.js';
import { toPixels } from './RegionShapes.js';
import { el } from '../core/dom.js';

export class RegionLayer extends FeatureGroup {
  /**
   * @param {import('../core/Viewer.js').Viewer} viewer
   * @param {string} name
   * @param {Array<object>} features GeoJSON features (see RegionShapes)
   * @param {string} color CSS colour of the shapes that do not name their own
   */
  constructor(viewer, name, features, color) {
    super();
    this._viewer = viewer;
    this.name = name;
    this.features = [...features];
    this.color = color;
    this.placed = 0;
    this.problem = '';
    this._placedFor = undefined;
    this._labels = new LayerGroup(); // the shapes' text={...}, above them, apart so that each layer is one shape
  }

  onAdd(map) {
    if (this._placedFor !== this._viewer.info) this._build();
    super.onAdd(map);
    this._labels.addTo(map);
  }

  onRemove(map) {
    super.onRemove(map);
    this._labels.remove();
  }

  add(feature) {
    this.features.push(feature);
    return this.place();
  }

  /** Take the last feature away (undo of a drawing); returns it. */
  pop() {
    const feature = this.features.pop();
    this.place();
    return feature;
  }

  clear() {
    this.features = [];
    return this.place();
  }

  setColor(color) {
    this.color = color;
    return this.place();
  }

  place() {
    this._build();
    return this;
  }

  _build() {
    const viewer = this._viewer;
    this._placedFor = viewer.info;
    this.clearLayers();
    this._labels.clearLayers();
    this.placed = 0;
    this.problem = '';
    if (!viewer.mapping) return;
    const frame = new SkyFrame(viewer.wcs);
    const toLatLng = ([x, y]) => viewer.mapping.fitsToLatLng(x, y);
    for (const feature of this.features) {
      const shape = toPixels(feature, frame);
      if (shape === null) continue;
      const layer = this._layer(feature.properties, shape, toLatLng);
      layer.feature = feature;
      this.addLayer(layer);
      if (feature.properties.label && shape.kind !== 'text') this._label(feature.properties, shape, toLatLng);
      this.placed += 1;
    }
    if (this.placed < this.features.length && !frame.usable) this.problem = `sky regions not shown: ${frame.problem}`;
  }

  _layer(props, shape, toLatLng) {
    const color = props.color || this.color;
    // No smoothing: outlines are sampled finely enough already, and simplified ones look faceted.
    const style = { color, weight: props.width || 1.5, opacity: 0.95, fill: false, interactive: false,
      smoothFactor: 0, dashArray: props.exclude ? '6 4' : null };
    let layer;
    if (shape.kind === 'polygon') {
      layer = new Polygon(shape.rings.map((ring) => ring.map(toLatLng)), { ...style, fill: true, fillOpacity: 0.06 });
    } else if (shape.kind === 'line') {
      layer = new Polyline(shape.path.map(toLatLng), style);
    } else if (shape.kind === 'point') {
      const icon = new DivIcon({ className: `ts-region-point ts-point-${props.marker || 'circle'}`, iconSize: [11, 11],
        html: el('span', { style: { color } }) });
      layer = new Marker(toLatLng(shape.at), { icon, interactive: false, keyboard: false });
    } else {
      const icon = new DivIcon({ className: 'ts-region-text', iconSize: null,
        html: el('span', { style: { color } }, props.text || '') });
      layer = new Marker(toLatLng(shape.at), { icon, interactive: false, keyboard: false });
    }
    return layer;
  }

  /** A shape's label over its topmost point, as ds9 writes it. */
  _label(props, shape, toLatLng) {
    const points = shape.rings ? shape.rings.flat() : shape.path || [shape.at];
    const top = points.reduce((best, p) => (p[1] > best[1] ? p : best));
    const icon = new DivIcon({ className: 'ts-region-label', iconSize: null,
      html: el('span', { style: { color: props.color || this.color } }, props.label) });
    this._labels.addLayer(new Marker(toLatLng(top), { icon, interactive: false, keyboard: false }));
  }
}
