/**
 * DS9's compass: north and east on the sky at the view centre, from the image's WCS (each chip's own in a mosaic),
 * and the image's X and Y axes, as drawn on screen under the view's rotation and flips. East is the direction of
 * growing longitude in sky frames, and of shrinking longitude in solar ones (solar east, as sunpy and
 * helioviewer show it: the Sun's left limb). Without sky coordinates only X and Y are drawn.
 * The arrows' screen directions are in data-north / data-east / data-x / data-y ("dx,dy", unit length, y down).
 */
import { Control, DomEvent } from '../leaflet.js';
import { el } from '../core/dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const SIZE = 76;
const SOLAR = new Set(['helioprojective', 'heliographic_stonyhurst', 'heliographic_carrington']);

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** The unit screen direction of a step from FITS (x, y) to (x2, y2): FITS y grows up, the screen's down. */
function screenStep(viewer, x, y, x2, y2) {
  const [u, v] = viewer.transform.direction(x2 - x, -(y2 - y));
  const len = Math.hypot(u, v);
  return len > 0 && Number.isFinite(len) ? [u / len, v / len] : null;
}

/**
 * Where an arrow's label goes: past its tip, or, when a longer arrow runs close to it (Y under N on a north-up
 * image), beside its tip on the side away from the other arrows.
 */
export function labelPlace(dir, length, others) {
  const close = others.some((o) => o.length > length && o.dir[0] * dir[0] + o.dir[1] * dir[1] > Math.cos(0.5));
  if (!close) return [dir[0] * (length + 7), dir[1] * (length + 7)];
  const away = ([px, py]) => Math.max(...others.map((o) => o.dir[0] * px + o.dir[1] * py));
  const sides = [[-dir[1], dir[0]], [dir[1], -dir[0]]];
  const side = away(sides[0]) <= away(sides[1]) ? sides[0] : sides[1];
  return [dir[0] * (length - 3) + side[0] * 9, dir[1] * (length - 3) + side[1] * 9];
}

/**
 * Screen directions {north, east} at FITS (x, y) from the WCS's local derivatives (pixelToWorld only, so that a
 * mosaic uses the chip under the centre), or null where it does not say.
 */
export function skyDirections(viewer, x, y) {
  const wcs = viewer.wcs;
  if (!wcs) return null;
  const h = 0.5;
  const [lon, lat] = wcs.pixelToWorld(x, y);
  const [lonX, latX] = wcs.pixelToWorld(x + h, y);
  const [lonY, latY] = wcs.pixelToWorld(x, y + h);
  const cos = Math.cos((lat * Math.PI) / 180);
  const wrap = (d) => ((((d + 180) % 360) + 360) % 360) - 180;
  // Sky offsets (along growing longitude, north) per pixel step in x and in y.
  const [a, b, c, d] = [wrap(lonX - lon) * cos / h, wrap(lonY - lon) * cos / h, (latX - lat) / h, (latY - lat) / h];
  const det = a * d - b * c;
  if (![a, b, c, d, det].every(Number.isFinite) || det === 0) return null;
  const eastSign = SOLAR.has(wcs.frame) ? -1 : 1;
  const north = [-b / det, a / det];
  const east = [(eastSign * d) / det, (eastSign * -c) / det];
  const unit = ([u, v]) => [u / Math.hypot(u, v), v / Math.hypot(u, v)];
  const [nx, ny] = unit(north);
  const [ex, ey] = unit(east);
  const n = screenStep(viewer, x, y, x + nx, y + ny);
  const e = screenStep(viewer, x, y, x + ex, y + ey);
  return n && e ? { north: n, east: e } : null;
}

export class Compass extends Control {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, options = {}) {
    super({ position: 'topleft', ...options });
    this._viewer = viewer;
  }

  onAdd(map) {
    this._svg = svg('svg', { width: SIZE, height: SIZE, viewBox: `${-SIZE / 2} ${-SIZE / 2} ${SIZE} ${SIZE}` });
    this._container = el('div', { class: 'ts-compass leaflet-bar', title: 'Compass: north and east on the sky, '
      + 'X and Y of the image, at the view centre' });
    this._container.append(this._svg);
    DomEvent.disableClickPropagation(this._container);
    map.on('moveend zoomend viewtransform resize', this.update, this);
    this._viewer.on('imageopen', this.update, this);
    return this._container;
  }

  onRemove(map) {
    map.off('moveend zoomend viewtransform resize', this.update, this);
    this._viewer.off('imageopen', this.update, this);
  }

  update() {
    const viewer = this._viewer;
    const box = this._container;
    this._svg.replaceChildren();
    box.hidden = !viewer.mapping;
    if (!viewer.mapping) return;
    const [x, y] = viewer.centerPixel();
    const axes = { x: screenStep(viewer, x, y, x + 1, y), y: screenStep(viewer, x, y, x, y + 1) };
    const sky = skyDirections(viewer, x, y);
    const arrows = [['x', axes.x, 'X', 'ts-compass-axis', 20], ['y', axes.y, 'Y', 'ts-compass-axis', 20]];
    if (sky) arrows.push(['north', sky.north, 'N', 'ts-compass-sky', 30], ['east', sky.east, 'E', 'ts-compass-sky', 30]);
    const drawn = arrows.filter(([, dir]) => dir).map(([name, dir, , , length]) => ({ name, dir, length }));
    for (const [name, dir, label, cls, length] of arrows) {
      if (!dir) continue;
      box.dataset[name] = `${dir[0].toFixed(4)},${dir[1].toFixed(4)}`;
      const [ex, ey] = [dir[0] * length, dir[1] * length];
      this._svg.append(svg('line', { x1: 0, y1: 0, x2: ex, y2: ey, class: cls }),
        svg('circle', { cx: ex, cy: ey, r: 1.8, class: cls }));
      const [lx, ly] = labelPlace(dir, length, drawn.filter((o) => o.name !== name));
      const text = svg('text', { x: lx, y: ly + 4, class: cls, 'text-anchor': 'middle' });
      text.textContent = label;
      this._svg.append(text);
    }
    if (!sky) {
      delete box.dataset.north;
      delete box.dataset.east;
    }
    box.dataset.frame = sky ? viewer.wcs.frame : '';
  }
}
