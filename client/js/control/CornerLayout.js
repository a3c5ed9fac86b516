/**
 * The map's bottom corners kept apart: when the readout (bottom left) grows under the overview and colorbar
 * (bottom right), as on a narrow window or a map halved by compare, the right corner rises above the readout
 * rather than cover its values, and the overview gives way if the toolbar is then in the way; a readout wider than
 * the map leaves out its decimal degrees (the sexagesimal position stays), as on a phone. Follows the sizes of both
 * corners and of the map.
 */

const GAP = 6; // pixels between the readout's right end and the right corner's controls

export class CornerLayout {
  /** @param {import('leaflet').Map} map */
  constructor(map) {
    const container = map.getContainer();
    this._left = container.querySelector('.leaflet-bottom.leaflet-left');
    this._right = container.querySelector('.leaflet-bottom.leaflet-right');
    this.lifted = false;
    this._container = container;
    this._wideNeeds = 0; // the map width the full readout needs, once it was found too wide
    this._top = container.querySelector('.leaflet-top.leaflet-right'); // the toolbar
    // Measured once the layout has settled (a map resized by compare moves its corners after the resize).
    this._frame = 0;
    const later = () => {
      cancelAnimationFrame(this._frame);
      this._frame = requestAnimationFrame(() => this.update());
    };
    this._observer = new ResizeObserver(later);
    for (const element of [container, this._left, this._right, this._top]) this._observer.observe(element);
    map.on('resize', later);
    // The corners slide (viewer.css: transitions of right and bottom): measured again where they stop.
    for (const element of [this._left, this._right, this._top]) element.addEventListener('transitionend', later);
  }

  update() {
    this._narrow();
    const container = this._container;
    container.classList.remove('ts-corners-crowded');
    const left = this._left.getBoundingClientRect();
    const right = this._right.getBoundingClientRect();
    const overlap = left.width > 0 && right.width > 0 && left.right + GAP > right.left;
    // Up to the readout's top (the right corner's controls keep their own margin above it).
    const readout = this._left.querySelector('.ts-readout') || this._left;
    let lift = overlap ? left.bottom - readout.getBoundingClientRect().top : 0;
    // Lifted into the toolbar (a short map), the overview gives way; if the colorbar alone still runs into it,
    // the corner stays down. Where the corner's top will be: it slides there (viewer.css).
    const bottom = container.getBoundingClientRect().bottom;
    const toolbar = this._top.getBoundingClientRect().bottom + GAP;
    const crowded = overlap && toolbar > bottom - lift - right.height;
    container.classList.toggle('ts-corners-crowded', crowded);
    if (crowded && toolbar > bottom - lift - this._right.getBoundingClientRect().height) lift = 0;
    this.lifted = lift > 0;
    this._right.style.bottom = this.lifted ? `${lift}px` : '';
  }

  /** Narrow the readout (no decimal degrees) while the map is narrower than the full readout needs. */
  _narrow() {
    const readout = this._left.querySelector('.ts-readout');
    const width = this._container.clientWidth;
    if (!readout || !readout.offsetWidth) return;
    const narrow = this._container.classList.contains('ts-readout-narrow');
    if (!narrow && readout.scrollWidth + 20 > width) {
      this._wideNeeds = readout.scrollWidth + 20;
      this._container.classList.add('ts-readout-narrow');
    } else if (narrow && width >= this._wideNeeds) {
      this._container.classList.remove('ts-readout-narrow');
    }
  }
}
