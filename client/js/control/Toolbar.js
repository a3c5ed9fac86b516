/** A column of icon buttons (panels, copy link, full screen, help); panel buttons show whether theirs is open. */
import { Control, DomEvent } from '../leaflet.js';
import { el, icon } from '../core/dom.js';

export class Toolbar extends Control {
  /**
   * @param {Array<{name: string, title: string, icon: string, run: () => void}>} buttons
   *   `icon` is an SVG path; `title` includes the keyboard shortcut
   */
  constructor(buttons, options = {}) {
    super({ position: 'topright', ...options });
    this._buttons = buttons;
    this._elements = {};
  }

  onAdd() {
    const container = el('div', { class: 'ts-toolbar leaflet-bar', role: 'toolbar', 'aria-label': 'Viewer tools' });
    for (const b of this._buttons) {
      const button = el('button', { type: 'button', class: 'ts-tool', title: b.title, 'aria-label': b.title,
        'data-tool': b.name, onclick: () => b.run() }, icon(b.icon));
      this._elements[b.name] = button;
      container.append(button);
    }
    DomEvent.disableClickPropagation(container);
    DomEvent.disableScrollPropagation(container);
    return container;
  }

  /** Mark a button as on or off (an open panel, full screen...). */
  setPressed(name, pressed) {
    const button = this._elements[name];
    if (button) button.setAttribute('aria-pressed', String(pressed));
    return this;
  }

  setHidden(name, hidden) {
    const button = this._elements[name];
    if (button) button.hidden = hidden;
    return this;
  }
}
