/** The help overlay: keyboard shortcuts (from the Shortcuts table), mouse and touch gestures. */
import { el } from '../core/dom.js';
import { KEY_NAMES } from '../core/tools.js';

const POINTER = [
  ['Drag', 'Pan'],
  ['Wheel, double-click', 'Zoom in (Shift + double-click: out)'],
  ['Pinch, double-tap', 'Zoom (touch)'],
  ['Tap or click', 'Show the coordinates and values of that point'],
  ['Drag the histogram handles', 'Set the cuts'],
  ['Click or drag the overview', 'Move the view'],
];

export class HelpOverlay {
  /**
   * @param {HTMLElement} container
   * @param {Array<{keys: string[], label: string, group?: string}>} shortcuts
   * @param {string[]} order the groups in the order shown
   * @param {string} version server version, shown in the footer
   */
  constructor(container, shortcuts, order, version = '', docUrl = '') {
    const groups = new Map(order.map((group) => [group, []]));
    for (const s of shortcuts) {
      const group = s.group || 'Keys';
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(s);
    }
    const keyRows = [...groups].map(([group, entries]) => el('section', {},
      el('h3', {}, group),
      el('dl', {}, ...entries.flatMap((s) => [
        el('dt', {}, ...s.keys.flatMap((k, i) => [i ? ' ' : null, el('kbd', {}, KEY_NAMES[k] || k)]),
          s.gesture ? `${s.keys.length ? ' or ' : ''}${s.gesture}` : null),
        el('dd', {}, s.label),
      ]))));
    const pointerRows = el('section', { class: 'ts-pointer-help' }, el('h3', {}, 'Mouse and touch'),
      el('dl', {}, ...POINTER.flatMap(([what, does]) => [el('dt', {}, what), el('dd', {}, does)])));
    const footer = el('p', { class: 'ts-muted' }, `tileserver ${version}`,
      docUrl ? [' · ', el('a', { href: docUrl, target: '_blank', rel: 'noopener' }, 'manual')] : null);
    this.element = el('div', { class: 'ts-overlay', hidden: true, role: 'dialog', 'aria-modal': 'true',
      'aria-label': 'Help', onclick: (e) => e.target === this.element && this.hide() },
    el('div', { class: 'ts-dialog' },
      el('header', { class: 'ts-panel-header' }, el('h2', {}, 'Keyboard shortcuts and gestures'),
        el('button', { type: 'button', class: 'ts-close', 'aria-label': 'Close', title: 'Close (Esc)',
          onclick: () => this.hide() }, '×')),
      el('div', { class: 'ts-help-columns' }, ...keyRows, pointerRows),
      footer));
    container.append(this.element);
  }

  get visible() {
    return !this.element.hidden;
  }

  toggle(show = !this.visible) {
    this.element.hidden = !show;
    return this;
  }

  hide() {
    return this.toggle(false);
  }
}
