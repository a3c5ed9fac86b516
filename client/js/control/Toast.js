/** A short message at the bottom of the screen that goes away by itself. */
import { el } from '../core/dom.js';

export class Toast {
  constructor(container) {
    this.element = el('div', { class: 'ts-toast', role: 'status', hidden: true });
    container.append(this.element);
    this._timer = null;
  }

  /** Show text (and optional extra nodes) for `duration` ms. */
  show(text, extra = null, duration = 3000) {
    this.element.replaceChildren(el('span', {}, text), ...(extra ? [extra] : []));
    this.element.hidden = false;
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.hide(), duration);
    return this;
  }

  hide() {
    this.element.hidden = true;
    return this;
  }
}
