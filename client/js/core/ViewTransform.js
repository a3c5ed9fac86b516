/**
 * The display transform of the map, as DS9's orientation: the image turned by a multiple of 90 degrees and
 * flipped in X and/or Y on screen. Leaflet keeps working in its own ("logical") container coordinates, where the
 * image lies unturned; the map pane (tiles, overlays, regions) is turned by CSS about the view centre, and pointer
 * events are turned back before Leaflet reads them, so that positions, readouts, regions and drawing tools stay
 * right. With a quarter turn the logical view is the screen's height by its width.
 *
 * `displayMatrix` is pure (node --test checks it); `ViewTransform` installs itself on a Leaflet map.
 */
import { DomUtil, Point } from '../leaflet.js';

/**
 * The 2x2 matrix [a, b, c, d] taking a logical offset (x, y) from the view centre to the screen's:
 * (a x + b y, c x + d y), y down. The flips apply first (in the image's own axes), then `quarter` clockwise
 * quarter turns, as CSS `scale` then `rotate` do.
 */
export function displayMatrix(quarter, flipX, flipY) {
  const fx = flipX ? -1 : 1;
  const fy = flipY ? -1 : 1;
  const turns = ((quarter % 4) + 4) % 4;
  // Clockwise on a y-down screen: (x, y) -> (-y, x) per quarter turn.
  const [cos, sin] = [[1, 0], [0, 1], [-1, 0], [0, -1]][turns];
  return [cos * fx, -sin * fy, sin * fx, cos * fy];
}

/** The inverse of a displayMatrix (orthogonal: its transpose). */
export function inverseMatrix([a, b, c, d]) {
  return [a, c, b, d];
}

export class ViewTransform {
  /** @param {import('leaflet').Map} map */
  constructor(map) {
    this.map = map;
    this.quarter = 0;
    this.flipX = false;
    this.flipY = false;
    this.matrix = displayMatrix(0, false, false);
    this._install();
  }

  get identity() {
    return this.quarter === 0 && !this.flipX && !this.flipY;
  }

  /** The screen's size (the container's). */
  screenSize() {
    const c = this.map.getContainer();
    return new Point(c.clientWidth, c.clientHeight);
  }

  /** Logical container point -> screen (container) point. */
  toScreen(point) {
    const [a, b, c, d] = this.matrix;
    const half = this.map.getSize().divideBy(2);
    const screen = this.screenSize().divideBy(2);
    const x = point.x - half.x;
    const y = point.y - half.y;
    return new Point(screen.x + a * x + b * y, screen.y + c * x + d * y);
  }

  /** Screen (container) point -> logical container point. */
  toLogical(point) {
    const [a, b, c, d] = inverseMatrix(this.matrix);
    const half = this.map.getSize().divideBy(2);
    const screen = this.screenSize().divideBy(2);
    const x = point.x - screen.x;
    const y = point.y - screen.y;
    return new Point(half.x + a * x + b * y, half.y + c * x + d * y);
  }

  /** Screen direction of a logical direction (no offset). */
  direction(dx, dy) {
    const [a, b, c, d] = this.matrix;
    return [a * dx + b * dy, c * dx + d * dy];
  }

  /** Set {quarter, flipX, flipY} (any of them); keeps the view centre and zoom. */
  set(changes) {
    const map = this.map;
    const loaded = map._loaded; // no view yet (the first image of the page): nothing to keep
    const center = loaded && map.getCenter();
    const zoom = loaded && map.getZoom();
    Object.assign(this, changes);
    this.quarter = ((this.quarter % 4) + 4) % 4;
    this.matrix = displayMatrix(this.quarter, this.flipX, this.flipY);
    map._sizeChanged = true; // a quarter turn swaps the logical view's width and height
    this._apply();
    if (!loaded) return this; // the view to come (setView) moves what follows the view
    map.setView(center, zoom, { animate: false, reset: true });
    map.fire('viewtransform', this.state());
    return this;
  }

  state() {
    return { quarter: this.quarter, flipX: this.flipX, flipY: this.flipY };
  }

  /** Write the transform on the map pane: about the logical centre, moved onto the screen's centre. */
  _apply() {
    const pane = this.map.getPane('mapPane');
    const map = this.map;
    const half = map.getSize().divideBy(2);
    const screen = this.screenSize().divideBy(2);
    pane.style.transformOrigin = `${half.x}px ${half.y}px`;
    pane.style.translate = this.identity ? '' : `${screen.x - half.x}px ${screen.y - half.y}px`;
    pane.style.rotate = this.quarter ? `${this.quarter * 90}deg` : '';
    pane.style.scale = this.flipX || this.flipY ? `${this.flipX ? -1 : 1} ${this.flipY ? -1 : 1}` : '';
    // Text drawn in the pane (region texts and labels, the measuring label, popups) undoes the turn and flips
    // about its anchor with these (viewer.css), so that it reads upright wherever it is placed.
    const style = map.getContainer().style;
    style.setProperty('--ts-unturn', `${-this.quarter * 90}deg`);
    style.setProperty('--ts-unflip-x', this.flipX ? '-1' : '1');
    style.setProperty('--ts-unflip-y', this.flipY ? '-1' : '1');
    map.getContainer().classList.toggle('ts-transformed', !this.identity);
  }

  /** Leaflet reads pointer positions through mouseEventToContainerPoint and its map drag: both turned back. */
  _install() {
    const map = this.map;
    const transform = this;
    const mouseToContainer = map.mouseEventToContainerPoint;
    map.mouseEventToContainerPoint = function (e) {
      const point = mouseToContainer.call(map, e);
      return transform.identity ? point : transform.toLogical(point);
    };
    const getSize = map.getSize;
    map.getSize = function () {
      const size = getSize.call(map);
      return transform.quarter % 2 ? new Point(size.y, size.x) : size;
    };
    map.on('resize', () => this._apply());
    const draggable = map.dragging && map.dragging._draggable;
    if (draggable) {
      const onMove = draggable._onMove;
      // The drag's offset is measured in screen pixels from its start: turned back into logical pixels.
      draggable._onMove = function (e) {
        if (transform.identity || !this._startPoint || (e.touches && e.touches.length > 1)) return onMove.call(this, e);
        const first = e.touches && e.touches.length === 1 ? e.touches[0] : e;
        const [a, b, c, d] = inverseMatrix(transform.matrix);
        const dx = first.clientX - this._startPoint.x;
        const dy = first.clientY - this._startPoint.y;
        const turned = {
          clientX: this._startPoint.x + a * dx + b * dy, clientY: this._startPoint.y + c * dx + d * dy,
          target: e.target, srcElement: e.srcElement, type: e.type,
          preventDefault: () => e.preventDefault(),
        };
        return onMove.call(this, turned);
      };
    }
    DomUtil.addClass(map.getContainer(), 'ts-view-transform');
  }
}
