/**
 * The data folder as a list of folders and images; an image opens on click. Cached images are marked; names wrap
 * and carry their full path as a tooltip; a search box filters the folder's entries as you type; each image HDU of
 * a multi-extension FITS file is listed under it and opens as file[n]. `pick` (compare) lends the list to another
 * panel: the next image chosen goes to it instead of opening.
 */
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
    this._search = el('input', { type: 'search', class: 'ts-file-search', placeholder: 'Search this folder',
      'aria-label': 'Search this folder', oninput: () => this._filter() });
    this._picking = null;
    this._pickNote = el('p', { class: 'ts-pick-note', hidden: true });
    this.body.append(this._pickNote, this._crumbs, this._search, this._list, this._note);
    this.on('show', () => this.load(this._path ?? folderOf(viewer.image)));
    this.on('hide', () => this._endPick(null));
  }

  /** Let the user choose an image for another use (compare): resolves its path, or null if the panel closes. */
  pick(purpose) {
    this._endPick(null);
    return new Promise((resolve) => {
      this._picking = resolve;
      this._pickNote.textContent = `Choose ${purpose}`;
      this._pickNote.hidden = false;
      this._viewer.togglePanel('files', true);
    });
  }

  _endPick(path) {
    const resolve = this._picking;
    this._picking = null;
    this._pickNote.hidden = true;
    if (resolve) resolve(path);
  }

  /** Show only the entries whose name holds the search text (case-insensitive). */
  _filter() {
    const words = this._search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const item of this._list.children) {
      const name = (item.dataset.name || '').toLowerCase();
      item.hidden = !words.every((w) => name.includes(w));
      if (!item.hidden) shown += 1;
    }
    if (this._list.children.length) this._note.textContent = shown ? '' : 'No name matches.';
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
    this._filter();
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
      return el('li', { 'data-name': entry.name }, el('button', { type: 'button', class: 'ts-file ts-folder',
        'data-path': entry.path, title: entry.path, onclick: () => this.load(entry.path) },
      el('span', { class: 'ts-file-name' }, `${entry.name}/`)));
    }
    const cached = entry.cached;
    const hdus = (entry.hdus || []).map((hdu) => {
      const path = `${entry.path}[${hdu.index}]`;
      return el('li', {}, el('button', {
        type: 'button', class: `ts-file ts-hdu${path === current ? ' ts-current' : ''}`, 'data-path': path,
        title: `${path}: HDU ${hdu.index}${hdu.name ? ` ${hdu.name}` : ''}, ${hdu.shape.join(' × ')}`,
        onclick: () => this._open(path),
      }, el('span', { class: 'ts-file-name' }, `[${hdu.index}]${hdu.name ? ` ${hdu.name}` : ''}`),
      el('span', { class: 'ts-muted ts-file-size' }, hdu.shape.join('×'))));
    });
    return el('li', { 'data-name': entry.name }, el('button', {
      type: 'button',
      class: `ts-file${entry.path === current ? ' ts-current' : ''}`,
      'data-path': entry.path,
      'data-cached': String(cached),
      title: `${entry.path}\n${cached ? 'Ready: opens at once' : 'Not cached yet: the first view prepares it'}`,
      onclick: () => this._open(entry.path),
    },
    el('span', { class: `ts-cache-mark${cached ? ' ts-cached' : ''}`, 'aria-label': cached ? 'cached' : 'not cached' },
      cached ? '●' : '○'),
    el('span', { class: 'ts-file-name' }, entry.name),
    el('span', { class: 'ts-muted ts-file-size' }, formatBytes(entry.size))),
    hdus.length ? el('ul', { class: 'ts-hdus', 'aria-label': `Image extensions of ${entry.name}` }, ...hdus) : null);
  }

  async _open(path) {
    if (this._picking) {
      this._endPick(path);
      this.hide();
      return;
    }
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
