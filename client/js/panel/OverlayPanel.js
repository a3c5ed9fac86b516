/**
 * The overlays panel: catalogs (CSV, GeoJSON, VOTable) and ds9 region files from the computer (file picker, or
 * dropped on the viewer) or from the server's extra folder; each overlay listed with its colour, visibility and,
 * for catalogs, the columns of the positions and magnitudes; region drawing and export as a ds9 file; the grid.
 * CSV and GeoJSON are read here; ds9 files and VOTables are parsed by the server (astropy), which keeps nothing.
 */
import { Panel } from './Panel.js';
import { CatalogLayer } from '../layer/CatalogLayer.js';
import { RegionLayer } from '../layer/RegionLayer.js';
import { RegionDraw, DRAW_SHAPES } from '../handler/RegionDraw.js';
import { OverlayApi } from '../core/OverlayApi.js';
import { SkyFrame } from '../wcs/SkyFrame.js';
import { fromGeoJson, fromVoTable, parseCsv } from '../core/CatalogReader.js';
import { fromPixels } from '../layer/RegionShapes.js';
import { toDs9 } from '../core/Ds9Export.js';
import { el, formatBytes } from '../core/dom.js';

const COLORS = ['#ffb74f', '#5fd38d', '#ff6b9a', '#4fb3ff', '#c792ea', '#f4e04d', '#ff8a65', '#80deea'];
const ACCEPT = '.csv,.tsv,.txt,.json,.geojson,.xml,.vot,.votable,.reg';

/** 'regions' | 'votable' | 'geojson' | 'csv' from a file name; null for a file of another kind. */
export function formatOf(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith('.reg')) return 'regions';
  if (/\.(xml|vot|votable)$/.test(lower)) return 'votable';
  if (/\.(json|geojson)$/.test(lower)) return 'geojson';
  if (/\.(csv|tsv|txt)$/.test(lower)) return 'csv';
  return null;
}

export class OverlayPanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'overlays', 'Overlays');
    this._viewer = viewer;
    this._server = new OverlayApi(viewer.config);
    this.layers = []; // CatalogLayer and RegionLayer, in the order loaded
    this._colors = 0;
    this.drawn = new RegionLayer(viewer, 'Drawn shapes', [], '#4fb3ff');
    this.drawing = new RegionDraw(viewer);
    this.drawing.on('drawn', (e) => this._drawn(e.drawn));
    this.drawing.on('end', () => this._syncDrawButtons());
    this._build();
    this._dropTarget(viewer.app);
    viewer.on('imageopen', this._placeAll, this);
    this.on('show', () => this._listServerFiles());
  }

  _build() {
    this._picker = el('input', { type: 'file', multiple: true, accept: ACCEPT, hidden: true,
      'aria-label': 'Catalog or region files', onchange: () => {
        this.loadFiles([...this._picker.files]);
        this._picker.value = '';
      } });
    this._status = el('p', { class: 'ts-muted ts-note', role: 'status' });
    this._serverFiles = el('ul', { class: 'ts-files ts-extra-files' });
    this._serverBox = el('div', { hidden: true }, el('h3', {}, 'On the server'), this._serverFiles);
    this._list = el('ul', { class: 'ts-layer-list' });
    this._drawButtons = el('div', { class: 'ts-chips', role: 'group', 'aria-label': 'Draw a region' },
      ...DRAW_SHAPES.map((shape) => el('button', { type: 'button', class: 'ts-chip', 'data-draw': shape,
        title: `Draw a ${shape}`, onclick: () => {
          this.drawing.start(shape);
          this._syncDrawButtons();
        } }, shape)));
    this._drawnCount = el('span', { class: 'ts-muted' });
    this._grid = el('input', { type: 'checkbox', 'data-setting': 'grid',
      onchange: () => this._viewer.toggleGrid(this._grid.checked) });
    this.body.append(
      el('div', { class: 'ts-actions' },
        el('button', { type: 'button', onclick: () => this._picker.click() }, 'Open files…'),
        el('span', { class: 'ts-muted' }, 'or drop them on the image')),
      this._picker, this._status, this._serverBox,
      el('h3', {}, 'Layers'), this._list,
      el('h3', {}, 'Regions'), this._drawButtons,
      el('div', { class: 'ts-actions' },
        el('button', { type: 'button', 'data-action': 'export-regions', title: 'All region layers shown, as a ds9 file',
          onclick: () => this.exportRegions() }, 'Export .reg'),
        el('button', { type: 'button', 'data-action': 'undo-drawn',
          onclick: () => this._changeDrawn(() => this.drawn.pop()) }, 'Undo'),
        el('button', { type: 'button', 'data-action': 'clear-drawn',
          onclick: () => this._changeDrawn(() => this.drawn.clear()) }, 'Clear drawn'),
        this._drawnCount),
      el('h3', {}, 'Grid'),
      el('label', { class: 'ts-check' }, this._grid, 'Sky coordinate grid (w)'));
    this._renderList();
  }

  _nextColor() {
    return COLORS[this._colors++ % COLORS.length];
  }

  // -- loading -------------------------------------------------------------------------------------------------

  _dropTarget(target) {
    const files = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    target.addEventListener('dragover', (e) => {
      if (!files(e)) return;
      e.preventDefault();
      target.classList.add('ts-dropping');
    });
    target.addEventListener('dragleave', (e) => {
      if (e.target === target || !target.contains(e.relatedTarget)) target.classList.remove('ts-dropping');
    });
    target.addEventListener('drop', (e) => {
      target.classList.remove('ts-dropping');
      if (!files(e)) return;
      e.preventDefault();
      this.loadFiles([...e.dataTransfer.files]);
    });
  }

  /** Load local files (File objects); resolves to the layers added. */
  async loadFiles(files) {
    const added = [];
    for (const file of files) {
      const layer = await this._load(file.name, formatOf(file.name), file);
      if (layer) added.push(layer);
    }
    return added;
  }

  /** Load a file of the server's extra folder by its path; resolves to the layer (null on failure). */
  loadServerFile(path) {
    return this._load(path.split('/').pop(), formatOf(path), path);
  }

  /** `source`: a File, or a path of the extra folder. */
  async _load(name, format, source) {
    if (format === null) {
      this._status.textContent = `${name} is not a catalog (CSV, GeoJSON, VOTable) or a ds9 region file.`;
      return null;
    }
    this._status.textContent = `Reading ${name}…`;
    try {
      let layer;
      if (format === 'regions') {
        const collection = await this._server.parsed('regions', source);
        layer = new RegionLayer(this._viewer, name, collection.features, this._nextColor());
        this._noteSkipped(name, collection.skipped);
      } else {
        layer = new CatalogLayer(this._viewer, await this._table(name, format, source), this._nextColor());
        layer.source = source; // SAMP sends catalogs of the extra folder by their path
      }
      this.add(layer);
      this.show();
      return layer;
    } catch (err) {
      this._status.textContent = err.message;
      return null;
    }
  }

  async _table(name, format, source) {
    if (format === 'votable') return fromVoTable(await this._server.parsed('votable', source), name);
    const text = typeof source === 'string' ? await this._server.text(source) : await source.text();
    try {
      if (format === 'geojson') {
        const table = fromGeoJson(JSON.parse(text), name);
        if (table.ignored) this._status.textContent = `${name}: ${table.ignored} features other than points left out.`;
        return table;
      }
      return parseCsv(text, name);
    } catch (err) {
      throw new Error(`Cannot read ${name}: ${err.message}`);
    }
  }

  _noteSkipped(name, skipped) {
    this._status.textContent = skipped && skipped.length ? `${name}: ${skipped.join('; ')}` : '';
  }

  /** Show a layer (CatalogLayer or RegionLayer) and list it. */
  add(layer) {
    this.layers.push(layer);
    layer.addTo(this._viewer.map);
    this._renderList();
    if (this._status.textContent.startsWith('Reading')) this._status.textContent = '';
    return layer;
  }

  remove(layer) {
    layer.remove();
    this.layers = this.layers.filter((l) => l !== layer);
    this._renderList();
  }

  _placeAll() {
    for (const layer of [...this.layers, this.drawn]) layer.place();
    this._renderList();
  }

  async _listServerFiles() {
    let listing;
    try {
      listing = await this._server.list();
    } catch {
      listing = { entries: [] };
    }
    this._serverBox.hidden = listing.entries.length === 0;
    this._serverFiles.replaceChildren(...listing.entries.map((entry) => el('li', {},
      el('button', { type: 'button', class: 'ts-file', 'data-path': entry.path,
        title: `Load ${entry.path} (${entry.kind === 'regions' ? 'ds9 regions' : `${entry.format} catalog`})`,
        onclick: () => this.loadServerFile(entry.path) },
      el('span', { class: 'ts-file-name' }, entry.path),
      el('span', { class: 'ts-muted ts-file-size' }, formatBytes(entry.size))))));
  }

  // -- the list of layers ----------------------------------------------------------------------------------------

  _renderList() {
    this._list.replaceChildren(...this.layers.map((layer) => this._item(layer)));
    if (!this.layers.length) this._list.append(el('li', { class: 'ts-muted' }, 'No catalog or region file yet.'));
    this._drawnCount.textContent = this.drawn.features.length ? `${this.drawn.features.length} drawn` : '';
  }

  _item(layer) {
    const catalog = layer instanceof CatalogLayer;
    const total = catalog ? layer.table.rows.length : layer.features.length;
    const what = catalog ? 'sources' : 'regions';
    const count = layer.placed === total ? `${total} ${what}` : `${layer.placed} of ${total} ${what} shown`;
    const visible = el('input', { type: 'checkbox', checked: this._viewer.map.hasLayer(layer), title: 'Show',
      onchange: (e) => (e.target.checked ? layer.addTo(this._viewer.map) : layer.remove()) });
    const color = el('input', { type: 'color', value: layer.color, title: 'Colour',
      onchange: (e) => layer.setColor(e.target.value) });
    const item = el('li', { class: 'ts-layer-item', 'data-overlay': layer.name },
      el('div', { class: 'ts-layer-head' }, visible, color,
        el('span', { class: 'ts-layer-name', title: layer.name }, layer.name),
        el('button', { type: 'button', class: 'ts-close', title: 'Remove', 'aria-label': `Remove ${layer.name}`,
          onclick: () => this.remove(layer) }, '×')),
      el('div', { class: 'ts-muted ts-layer-count' }, count),
      layer.problem ? el('div', { class: 'ts-goto-error' }, layer.problem) : null);
    if (catalog) item.append(this._columnChoice(layer));
    return item;
  }

  /** Selects of the position (RA/Dec or x/y) and magnitude columns of a catalog. */
  _columnChoice(layer) {
    const names = layer.table.columns.map((c, i) => el('option', { value: i }, c.name));
    const select = (key, label, optional) => {
      const input = el('select', { 'data-column': key, onchange: () => {
        layer.setColumns({ [key]: Number(input.value) });
        this._renderList();
      } }, optional ? el('option', { value: -1 }, '(none)') : null, ...names.map((o) => o.cloneNode(true)));
      input.value = String(layer.columns[key]);
      return el('label', { class: 'ts-column' }, el('span', { class: 'ts-muted' }, label), input);
    };
    const kind = el('select', { 'data-column': 'kind', onchange: () => {
      layer.setColumns({ kind: kind.value });
      this._renderList();
    } }, el('option', { value: 'sky' }, 'RA, Dec'), el('option', { value: 'pixel' }, 'x, y pixels'));
    kind.value = layer.columns.kind || 'sky';
    const sky = kind.value === 'sky';
    return el('div', { class: 'ts-columns' },
      el('label', { class: 'ts-column' }, el('span', { class: 'ts-muted' }, 'Positions'), kind),
      select('lon', sky ? 'RA' : 'x', false), select('lat', sky ? 'Dec' : 'y', false),
      select('mag', 'Size by', true));
  }

  // -- regions -----------------------------------------------------------------------------------------------------

  _drawn(drawn) {
    const frame = new SkyFrame(this._viewer.wcs);
    this._changeDrawn(() => this.drawn.add(fromPixels(drawn, frame, { color: this.drawn.color })));
  }

  _changeDrawn(change) {
    change();
    if (!this._viewer.map.hasLayer(this.drawn)) this.drawn.addTo(this._viewer.map);
    this._renderList();
  }

  _syncDrawButtons() {
    for (const button of this._drawButtons.querySelectorAll('button')) {
      button.classList.toggle('ts-active', button.dataset.draw === this.drawing.shape);
    }
  }

  /** The ds9 text of the region layers on the map (drawn shapes included), downloaded as a file. */
  exportRegions() {
    const shown = [...this.layers.filter((l) => l instanceof RegionLayer), this.drawn]
      .filter((l) => this._viewer.map.hasLayer(l));
    const text = toDs9(shown.flatMap((l) => l.features));
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const stem = (this._viewer.image || 'regions').split('/').pop().replace(/\.[^.]*$/, '');
    const link = el('a', { href: url, download: `${stem}.reg`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    return text;
  }

  /** Keep the grid box in step with the toolbar and the keyboard. */
  setGridChecked(checked) {
    this._grid.checked = checked;
  }
}
