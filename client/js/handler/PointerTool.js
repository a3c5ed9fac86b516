/**
 * A Leaflet handler that takes over the pointer while enabled, the one way a drawing tool does it: map dragging
 * and double-click zoom are put aside (and given back as they were), the map container gets the tool's CSS
 * class and the tool's pointer listeners. Tools are Evented, so panels listen to what they draw.
 */
import { Handler, Mixin } from '../leaflet.js';

export class PointerTool extends Handler {
  /**
   * @param {import('leaflet').Map} map
   * @param {string} cssClass class of the map container while the tool is enabled (its cursor)
   */
  constructor(map, cssClass) {
    super(map);
    this._cssClass = cssClass;
    this._restore = null;
  }

  /** Listeners of the map container while enabled, by event type (subclasses say which). */
  _pointerListeners() {
    return {};
  }

  /** Listeners of the document while enabled (keys). */
  _documentListeners() {
    return {};
  }

  addHooks() {
    const map = this._map;
    this._restore = { dragging: map.dragging.enabled(), doubleClickZoom: map.doubleClickZoom.enabled() };
    map.dragging.disable();
    map.doubleClickZoom.disable();
    const container = map.getContainer();
    container.classList.add(this._cssClass);
    this._bound = { container: this._pointerListeners(), document: this._documentListeners() };
    for (const [type, fn] of Object.entries(this._bound.container)) container.addEventListener(type, fn);
    for (const [type, fn] of Object.entries(this._bound.document)) document.addEventListener(type, fn);
  }

  removeHooks() {
    const map = this._map;
    const container = map.getContainer();
    for (const [type, fn] of Object.entries(this._bound.container)) container.removeEventListener(type, fn);
    for (const [type, fn] of Object.entries(this._bound.document)) document.removeEventListener(type, fn);
    container.classList.remove(this._cssClass);
    if (this._restore.dragging) map.dragging.enable();
    if (this._restore.doubleClickZoom) map.doubleClickZoom.enable();
  }

  /** Whether a pointer event started on a control or a panel, which keep their own pointer. */
  _onControl(event) {
    return event.target instanceof Element && event.target.closest('.leaflet-control, .ts-panel') !== null;
  }
}

PointerTool.include(Mixin.Events);
