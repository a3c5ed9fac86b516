/** The data folder as a list of folders and images; an image opens on click. Cached images are marked. */
import { Panel } from './Panel.js';
import { el, formatBytes } from '../core/dom.js';

export class ImageBrowser extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'files', 'Images');
    this._viewer = viewer;
    this._path = null;
    this._crumbs = el('nav', { class: 'ts-crumbs', 'aria-label': 'Folder' });
    this._list = el('ul', { class: 'ts-files' });
    this._note = el('p', { class: 'ts-muted ts-note' });
    this.body.append(this._crumbs, this._list, this._note);
    this.on('show', () => this.load(this._path ?? folderOf(viewer.image)));
  }

  /** List a folder of the data directory ('' for its top). */
  async load(path) {
    this._path = path;
    this._note.textContent = 'Loading…';
    let listing;
    try {
      listing = await this._viewer.api.list(path);
    } catch (err) {
      if (path !== '') {
        this.load('');
        return;
      }
      this._list.replaceChildren();
      this._note.textContent = err.message;
      return;
    }
    if (this._path !== path) return;
    this._showCrumbs(listing.path);
    const current = this._viewer.image;
    this._list.replaceChildren(...listing.entries.map((entry) => this._item(entry, current)));
    this._note.textContent = listing.entries.length ? (listing.truncated ? 'Only the first entries are listed.' : '')
      : 'No images here.';
  }

  _showCrumbs(path) {
    const parts = path ? path.split('/') : [];
    const crumbs = [el('button', { type: 'button', class: 'ts-crumb', onclick: () => this.load('') }, 'data')];
    parts.forEach((part, i) => {
      const target = parts.slice(0, i + 1).join('/');
      crumbs.push(el('span', { class: 'ts-muted' }, '/'),
        el('button', { type: 'button', class: 'ts-crumb', onclick: () => this.load(target) }, part));
    });
    this._crumbs.replaceChildren(...crumbs);
  }

  _item(entry, current) {
    if (entry.type === 'folder') {
      return el('li', {}, el('button', { type: 'button', class: 'ts-file ts-folder', 'data-path': entry.path,
        onclick: () => this.load(entry.path) }, el('span', { class: 'ts-file-name' }, `${entry.name}/`)));
    }
    const cached = entry.cached;
    return el('li', {}, el('button', {
      type: 'button',
      class: `ts-file${entry.path === current ? ' ts-current' : ''}`,
      'data-path': entry.path,
      'data-cached': String(cached),
      title: cached ? 'Ready: opens at once' : 'Not cached yet: the first view prepares it',
      onclick: () => this._open(entry.path),
    },
    el('span', { class: `ts-cache-mark${cached ? ' ts-cached' : ''}`, 'aria-label': cached ? 'cached' : 'not cached' },
      cached ? '●' : '○'),
    el('span', { class: 'ts-file-name' }, entry.name),
    el('span', { class: 'ts-muted ts-file-size' }, formatBytes(entry.size))));
  }

  async _open(path) {
    this._list.querySelectorAll('.ts-current').forEach((node) => node.classList.remove('ts-current'));
    // On a phone the panel covers half the view: get it out of the way.
    if (window.matchMedia('(max-width: 640px)').matches) this.hide();
    const opened = await this._viewer.open(path);
    if (opened && this.visible) this.load(this._path);
  }
}

function folderOf(image) {
  return image && image.includes('/') ? image.slice(0, image.lastIndexOf('/')) : '';
}
