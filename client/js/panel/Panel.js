/** A side panel (a bottom sheet on narrow screens) with a title and a close button; subclasses fill `body`. */
import { Evented } from '../leaflet.js';
import { el } from '../core/dom.js';

export class Panel extends Evented {
  /**
   * @param {HTMLElement} host the element that holds the panels
   * @param {string} name short name (CSS class ts-panel-NAME, the `panel` of 'show'/'hide' events)
   * @param {string} title heading
   */
  constructor(host, name, title) {
    super();
    this.name = name;
    this.body = el('div', { class: 'ts-panel-body' });
    this.element = el('section', { class: `ts-panel ts-panel-${name}`, hidden: true, 'aria-label': title },
      el('header', { class: 'ts-panel-header' },
        el('h2', {}, title),
        el('button', { class: 'ts-close', type: 'button', title: 'Close (Esc)', 'aria-label': 'Close',
          onclick: () => this.hide() }, '×')),
      this.body);
    host.append(this.element);
  }

  get visible() {
    return !this.element.hidden;
  }

  show() {
    if (!this.visible) {
      this.element.hidden = false;
      this.fire('show', { panel: this.name });
    }
    return this;
  }

  hide() {
    if (this.visible) {
      this.element.hidden = true;
      this.fire('hide', { panel: this.name });
    }
    return this;
  }

  toggle(show = !this.visible) {
    return show ? this.show() : this.hide();
  }
}
