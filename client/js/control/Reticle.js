/** A cross-hair at the centre of the map: the point that the "centre" readout and go-to refer to. */
import { el } from '../core/dom.js';

export class Reticle {
  constructor(container) {
    this._element = el('div', { class: 'ts-reticle', 'aria-hidden': 'true' });
    container.append(this._element);
  }

  get visible() {
    return !this._element.hidden;
  }

  toggle(show = !this.visible) {
    this._element.hidden = !show;
    return this;
  }
}
