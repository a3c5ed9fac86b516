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
    this._labelled = []; // [{props, shape}] of the shapes with a label
  }

  onAdd(map) {
    if (this._placedFor !== this._viewer.info) this._build();
    super.onAdd(map);
    this._labels.addTo(map);
    map.on('viewtransform', this._placeLabels, this);
  }

  onRemove(map) {
    super.onRemove(map);
    this._labels.remove();
    map.off('viewtransform', this._placeLabels, this);
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
    this._labelled = [];
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
      if (feature.properties.label && shape.kind !== 'text') this._labelled.push({ props: feature.properties, shape });
      this.placed += 1;
    }
    this._placeLabels();
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

  /** The shapes' labels over their topmost points on the screen (as ds9 writes them), the view turned or not. */
  _placeLabels() {
    this._labels.clearLayers();
    const viewer = this._viewer;
    if (!viewer.mapping) return;
    // Screen height of a FITS offset (x, y): the logical offset is (x, -y), turned by the view's matrix.
    const [, , c, d] = viewer.transform.matrix;
    const height = ([x, y]) => c * x - d * y;
    for (const { props, shape } of this._labelled) {
      const points = shape.rings ? shape.rings.flat() : shape.path || [shape.at];
      const top = points.reduce((best, p) => (height(p) < height(best) ? p : best));
      const icon = new DivIcon({ className: 'ts-region-label', iconSize: null,
        html: el('span', { style: { color: props.color || this.color } }, props.label) });
      this._labels.addLayer(new Marker(viewer.mapping.fitsToLatLng(...top), { icon, interactive: false,
        keyboard: false }));
    }
  }
}
