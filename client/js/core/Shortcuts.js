// Keys that a focused control uses itself (a select's arrows, a button's Space...): not shortcuts there.
const CONTROL_KEYS = new Set(['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', ' ', 'Enter', 'Home', 'End',
  'PageUp', 'PageDown']);
const TEXT_TYPES = new Set(['text', 'search', 'number', 'email', 'url', 'tel', 'password']);

/**
 * Keyboard shortcuts: one table drives both the key handling and the help overlay. Keys are ignored while
 * typing in a text field (except Escape); on other controls only the keys they use themselves are left to them.
 */
export class Shortcuts {
  /**
   * @param {Array<{keys: string[], label: string, run: (event: KeyboardEvent) => void, group?: string}>} table
   *   keys are KeyboardEvent.key values ("?", "ArrowLeft", "+")
   */
  constructor(table, target = document) {
    this.table = table;
    this._byKey = new Map();
    for (const entry of table) for (const key of entry.keys) this._byKey.set(key, entry);
    target.addEventListener('keydown', (e) => this._handle(e));
  }

  _handle(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target;
    if (target instanceof HTMLElement && event.key !== 'Escape') {
      const typing = target.isContentEditable || target.tagName === 'TEXTAREA'
        || (target.tagName === 'INPUT' && TEXT_TYPES.has(target.type));
      const control = ['INPUT', 'SELECT', 'BUTTON'].includes(target.tagName);
      if (typing || (control && CONTROL_KEYS.has(event.key))) return;
    }
    const entry = this._byKey.get(event.key);
    if (!entry) return;
    event.preventDefault();
    entry.run(event);
  }
}
