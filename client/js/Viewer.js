/**
 * The viewer: a Leaflet map in image-pixel coordinates (see PixelMapping) showing one image at a time,
 * with its controls and panels. Fires 'imageopen', 'imageclose' and 'settingschange'.
 */
import { CRS, Control, Evented, Map as LeafletMap } from 'leaflet';
import { Api } from './Api.js';
import { ChannelPanel } from './ChannelPanel.js';
import { ComparePanel } from './ComparePanel.js';
import { CursorReadout } from './CursorReadout.js';
import { DisplaySettings } from './DisplaySettings.js';
import { GotoControl } from './GotoControl.js';
import { HelpOverlay } from './HelpOverlay.js';
import { ImageBrowser } from './ImageBrowser.js';
import { LiveChannel } from './LiveChannel.js';
import { MeasurePanel } from './MeasurePanel.js';
import { MiniMap } from './MiniMap.js';
import { OverlayPanel } from './OverlayPanel.js';
import { PixelMapping } from './PixelMapping.js';
import { ProfilePanel } from './ProfilePanel.js';
import { ProgressBar } from './ProgressBar.js';
import { RenderedImage } from './RenderedImage.js';
import { Reticle } from './Reticle.js';
import { ScaleBar } from './ScaleBar.js';
import { SettingsPanel } from './SettingsPanel.js';
import { Shortcuts } from './Shortcuts.js';
import { SnapshotPanel } from './SnapshotPanel.js';
import { SpectrumPanel } from './SpectrumPanel.js';
import { Toast } from './Toast.js';
import { Toolbar } from './Toolbar.js';
import { ViewLink } from './ViewLink.js';
import { WcsGrid } from './WcsGrid.js';
import { WCS } from './wcs.js';
import { debounce, el } from './dom.js';

const OVERZOOM = 6; // zoom levels past full resolution: up to 64 screen pixels per image pixel

const ICONS = {
  settings: 'M4 7h9M17 7h3M15 5v4M4 12h3M11 12h9M9 10v4M4 17h11M19 17h1M17 15v4',
  channels: 'M12 4l8 4-8 4-8-4zM4 12l8 4 8-4M4 16l8 4 8-4',
  files: 'M3 6h6l2 2h10v11H3z',
  fit: 'M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5M9 9h6v6H9z',
  link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  fullscreen: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5',
  help: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .8-1 1.5V14M12 17v.5',
  profile: 'M3 20h18M4 16l4-6 4 3 4-8 4 5',
  spectrum: 'M3 20h18M6 17v-4M10 17V7M14 17v-6M18 17V4',
  snapshot: 'M4 8h3l2-3h6l2 3h3v11H4zM12 10a3.5 3.5 0 1 0 0 7a3.5 3.5 0 1 0 0-7',
  measure: 'M3 17L17 3l4 4L7 21zM7 13l2 2M10 10l2 2M13 7l2 2',
  overlays: 'M4.5 7a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0-5 0M14.5 8a1.5 1.5 0 1 0 3 0a1.5 1.5 0 1 0-3 0'
    + 'M8 16a3 3 0 1 0 6 0a3 3 0 1 0-6 0M17 15l3 3M20 15l-3 3',
  grid: 'M3 8c6-2 12-2 18 0M3 16c6 2 12 2 18 0M8 3c-2 6-2 12 0 18M16 3c2 6 2 12 0 18',
  compare: 'M3 5h8v14H3zM13 5h8v14h-8z',
};

export class Viewer extends Evented {
  /**
   * @param {HTMLElement} app the page element holding `.ts-map` and `.ts-panels`
   * @param {{root: string, api: string, ws: string, version: string, docUrl: string}} config
   */
  constructor(app, config) {
    super();
    this.app = app;
    this.config = config;
    this.api = new Api(config);
    this.image = null;
    this.info = null;
    this.mapping = null;
    this.wcs = null;
    this.wcsProblem = '';
    this.settings = null;
    this.rendered = null;
    this._opening = 0;
    this._messages = [];

    const mapElement = app.querySelector('.ts-map');
    const host = app.querySelector('.ts-panels');
    // No tile fade: a new render setting or channel replaces the image at once instead of blending into it.
    this.map = new LeafletMap(mapElement, {
      crs: CRS.Simple, minZoom: 0, maxZoom: OVERZOOM, zoomSnap: 1, keyboard: false, zoomControl: false,
      attributionControl: false, fadeAnimation: false,
    });
    this.goto = new GotoControl(this).addTo(this.map);
    new Control.Zoom({ position: 'topleft' }).addTo(this.map);
    this.toolbar = new Toolbar([
      { name: 'settings', title: 'Image settings (s)', icon: ICONS.settings, run: () => this.togglePanel('settings') },
      { name: 'channels', title: 'Channels (c)', icon: ICONS.channels, run: () => this.togglePanel('channels') },
      { name: 'files', title: 'Images (o)', icon: ICONS.files, run: () => this.togglePanel('files') },
      { name: 'profile', title: 'Line profile (p)', icon: ICONS.profile, run: () => this.togglePanel('profile') },
      { name: 'spectrum', title: 'Spectrum of a pixel (e)', icon: ICONS.spectrum,
        run: () => this.togglePanel('spectrum') },
      { name: 'snapshot', title: 'Snapshot and FITS cutout (d)', icon: ICONS.snapshot,
        run: () => this.togglePanel('snapshot') },
      { name: 'measure', title: 'Measure distance and angle (u)', icon: ICONS.measure,
        run: () => this.togglePanel('measure') },
      { name: 'overlays', title: 'Catalogs and regions (k)', icon: ICONS.overlays,
        run: () => this.togglePanel('overlays') },
      { name: 'grid', title: 'Sky coordinate grid (w)', icon: ICONS.grid, run: () => this.toggleGrid() },
      { name: 'compare', title: 'Compare with another image (v)', icon: ICONS.compare,
        run: () => this.togglePanel('compare') },
      { name: 'fit', title: 'Fit the image (0)', icon: ICONS.fit, run: () => this.fitImage() },
      { name: 'link', title: 'Copy a link to this view (l)', icon: ICONS.link, run: () => this.copyLink() },
      { name: 'fullscreen', title: 'Full screen (f)', icon: ICONS.fullscreen, run: () => this.toggleFullscreen() },
      { name: 'help', title: 'Help (?)', icon: ICONS.help, run: () => this.help.toggle() },
    ]).addTo(this.map);
    this.minimap = new MiniMap(this).addTo(this.map);
    this.readout = new CursorReadout(this).addTo(this.map);
    this.scaleBar = new ScaleBar(this).addTo(this.map);
    this.reticle = new Reticle(mapElement);
    this.grid = new WcsGrid(this);
    this.panels = {
      settings: new SettingsPanel(this, host),
      channels: new ChannelPanel(this, host),
      files: new ImageBrowser(this, host),
      profile: new ProfilePanel(this, host),
      spectrum: new SpectrumPanel(this, host),
      snapshot: new SnapshotPanel(this, host),
      measure: new MeasurePanel(this, host),
      overlays: new OverlayPanel(this, host),
      compare: new ComparePanel(this, host),
    };
    for (const panel of Object.values(this.panels)) panel.on('show hide', this._panelsChanged, this);
    // The websocket (when the server has one): build progress, and live reload of a file rewritten on disk.
    this.live = config.ws ? new LiveChannel(config.ws, this.api).connect() : null;
    if (this.live) this.live.on('ready', this._liveReady, this);
    this.progress = new ProgressBar(mapElement, this.api, this.live);
    this.toast = new Toast(app);
    this.shortcuts = new Shortcuts(this._shortcutTable());
    this.help = new HelpOverlay(app, this.shortcuts.table, config.version, config.docUrl);

    this._urlLater = debounce(() => this._updateUrl(), 250);
    this.map.on('zoomend', this._zoomClass, this);
    this.map.on('moveend', this._urlLater);
    this.on('settingschange', this._urlLater);
    document.addEventListener('fullscreenchange', () => {
      this.toolbar.setPressed('fullscreen', Boolean(document.fullscreenElement));
    });
    window.addEventListener('popstate', () => {
      const link = ViewLink.fromSearch(window.location.search);
      if (link.image) this.open(link.image, link, false);
    });
  }

  // -- images ----------------------------------------------------------------------------------------------

  /**
   * Open an image, optionally at a view (a ViewLink: centre, zoom, render parameters). Shows the build's
   * progress while the server prepares it, and a readable message if it cannot. Resolves true once shown.
   */
  async open(image, view = null, remember = true) {
    const ticket = ++this._opening;
    this._close();
    if (this.live && this.image && this.image !== image) this.live.unsubscribe(this.image);
    this.image = image;
    this.clearMessages();
    if (!image) {
      this.showMessage('No image given: choose one in the image browser.');
      this.panels.files.show();
      return false;
    }
    document.title = `${image} · tileserver`;
    this.progress.watch(image);
    if (this.live) this.live.subscribe(image);
    let info;
    try {
      info = await this.api.info(image);
    } catch (err) {
      if (ticket === this._opening) {
        this.progress.stop();
        this.showError(err.message);
        this.panels.files.show(); // to pick another image
        if (remember) this._updateUrl();
      }
      return false;
    }
    if (ticket !== this._opening) return false;
    this.progress.stop();
    this._show(image, info, view);
    if (remember) this._updateUrl();
    return true;
  }

  _close() {
    if (this.rendered) {
      this.fire('imageclose');
      this.rendered.remove();
    }
    this.rendered = null;
    this.info = null;
    this.mapping = null;
    this.settings = null;
    this.wcs = null;
    this.app.classList.remove('ts-has-image');
  }

  _show(image, info, view) {
    this.info = info;
    this.mapping = PixelMapping.fromInfo(info);
    this.wcs = null;
    this.wcsProblem = '';
    try {
      const wcs = new WCS(info.header || {});
      if (wcs.hasCelestial) this.wcs = wcs;
    } catch (err) {
      this.wcsProblem = err.message;
    }
    this.settings = new DisplaySettings(info);
    const problems = view ? this.settings.applyPairs(view.pairs) : [];
    if (problems.length) this.toast.show(`Ignored in the link: ${problems.join('; ')}`, null, 8000);
    this.map.setMaxZoom(this.mapping.nativeZoom + OVERZOOM);
    if (view && view.center && view.zoom !== null) {
      const zoom = Math.min(Math.max(view.zoom, this.map.getMinZoom()), this.map.getMaxZoom());
      this.map.setView(this.mapping.fitsToLatLng(...view.center), zoom, { animate: false });
    } else {
      this.fitImage(false);
    }
    this.rendered = new RenderedImage(this.map, this.api, info, image, this.settings.toParams());
    this.toolbar.setHidden('channels', info.channels < 2);
    this.toolbar.setHidden('spectrum', info.channels < 2);
    if (info.channels < 2) this.panels.channels.hide();
    this._zoomClass();
    this.app.classList.add('ts-has-image');
    this.fire('imageopen', { image, info });
  }

  /** The websocket announces the image anew: if its file was rewritten (a new cache tag), reload it in place. */
  _liveReady(event) {
    if (event.image !== this.image || !this.info || event.info.cache_tag === this.info.cache_tag) return;
    const view = this.viewLink();
    this._close();
    this._show(event.image, event.info, view);
    this.toast.show(`${event.image} changed on disk: reloaded.`);
  }

  // -- render settings ---------------------------------------------------------------------------------------

  /** Change render settings (see DisplaySettings.set); resolves when the new tiles are on screen. */
  applySettings(changes) {
    if (!this.settings) return Promise.resolve(false);
    try {
      this.settings.set(changes);
    } catch (err) {
      this.toast.show(err.message);
      this.fire('settingschange');
      return Promise.resolve(false);
    }
    const shown = this.rendered.setParams(this.settings.toParams());
    this.fire('settingschange');
    return shown;
  }

  resetSettings() {
    if (!this.settings) return Promise.resolve(false);
    this.settings.reset();
    const shown = this.rendered.setParams(this.settings.toParams());
    this.fire('settingschange');
    return shown;
  }

  // -- view --------------------------------------------------------------------------------------------------

  /** FITS [x, y] of the view centre. */
  centerPixel() {
    return this.mapping.latLngToFits(this.map.getCenter());
  }

  /** Degrees per pixel at a FITS pixel (default: the image centre); NaN without a celestial WCS. */
  pixelScale(at = null) {
    if (!this.wcs) return NaN;
    const [x, y] = at || [(this.mapping.width + 1) / 2, (this.mapping.height + 1) / 2];
    return this.wcs.pixelScale(x, y);
  }

  goTo(x, y, zoom = null) {
    this.map.setView(this.mapping.fitsToLatLng(x, y), zoom === null ? this.map.getZoom() : zoom);
    return this;
  }

  fitImage(animate = true) {
    if (this.mapping) this.map.fitBounds(this.mapping.bounds(), { animate, padding: [8, 8] });
    return this;
  }

  /** One image pixel per screen pixel, about the view centre. */
  zoomToNative() {
    if (this.mapping) this.map.setZoom(this.mapping.nativeZoom);
    return this;
  }

  /** Past full resolution, show pixels as crisp squares rather than blurred. */
  _zoomClass() {
    const over = this.mapping !== null && this.map.getZoom() > this.mapping.nativeZoom;
    this.map.getContainer().classList.toggle('ts-overzoom', over);
  }

  /** The shareable description of the current view. */
  viewLink() {
    if (!this.info) return new ViewLink(this.image || '');
    return new ViewLink(this.image, this.centerPixel(), this.map.getZoom(), this.settings.toPairs());
  }

  _updateUrl() {
    const search = `?${this.viewLink().toSearch()}`;
    if (search === window.location.search) return;
    // A new image is a new history entry (Back returns to the previous one); a moved view replaces it.
    const previous = ViewLink.fromSearch(window.location.search).image;
    if (previous && previous !== this.image) window.history.pushState(null, '', search);
    else window.history.replaceState(null, '', search);
  }

  async copyLink() {
    this._updateUrl();
    const url = window.location.href;
    const field = el('input', { class: 'ts-link-field', readonly: true, value: url, 'aria-label': 'Link',
      onfocus: (e) => e.target.select() });
    try {
      await navigator.clipboard.writeText(url);
      this.toast.show('Link to this view copied.', field, 5000);
    } catch {
      // No clipboard (a page served over plain HTTP from another host): let the user copy it.
      this.toast.show('Copy this link:', field, 15000);
      field.focus();
    }
    return url;
  }

  /** Show or hide the sky coordinate grid. */
  toggleGrid(show = null) {
    const visible = show === null ? !this.map.hasLayer(this.grid) : show;
    if (visible) this.grid.addTo(this.map);
    else this.grid.remove();
    this.toolbar.setPressed('grid', visible);
    this.panels.overlays.setGridChecked(visible);
    return this;
  }

  toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (this.app.requestFullscreen) {
      this.app.requestFullscreen().catch(() => this.toast.show('Full screen is not available here.'));
    }
  }

  // -- panels and messages -----------------------------------------------------------------------------------

  togglePanel(name, show = null) {
    const panel = this.panels[name];
    if (name === 'channels' && (!this.info || this.info.channels < 2)) return;
    const visible = show === null ? !panel.visible : show;
    if (visible) for (const other of Object.values(this.panels)) if (other !== panel) other.hide();
    panel.toggle(visible);
  }

  _panelsChanged() {
    const open = Object.values(this.panels).some((p) => p.visible);
    this.app.classList.toggle('ts-panel-open', open);
    for (const [name, panel] of Object.entries(this.panels)) this.toolbar.setPressed(name, panel.visible);
  }

  showMessage(text, kind = '') {
    const box = el('div', { class: `ts-message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
    this.map.getContainer().append(box);
    this._messages.push(box);
    return box;
  }

  showError(text) {
    return this.showMessage(text, 'error');
  }

  clearMessages() {
    for (const box of this._messages) box.remove();
    this._messages = [];
  }

  // -- keyboard ----------------------------------------------------------------------------------------------

  _shortcutTable() {
    const map = this.map;
    // Keys that act on the view do nothing until an image is shown (Leaflet has no view before that).
    const shown = (run) => (e) => this.info && run(e);
    const pan = (dx, dy) => map.panBy([dx * map.getSize().x / 4, dy * map.getSize().y / 4]);
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const invert = () => this.applySettings({ invert: !this.settings.invert });
    return [
      { group: 'View', keys: ['+', '='], label: 'Zoom in', run: shown(() => map.zoomIn()) },
      { group: 'View', keys: ['-'], label: 'Zoom out', run: shown(() => map.zoomOut()) },
      { group: 'View', keys: Object.keys(arrows), label: 'Pan', run: shown((e) => pan(...arrows[e.key])) },
      { group: 'View', keys: ['0'], label: 'Fit the image', run: shown(() => this.fitImage()) },
      { group: 'View', keys: ['1'], label: 'One image pixel per screen pixel', run: shown(() => this.zoomToNative()) },
      { group: 'View', keys: ['g'], label: 'Go to a position', run: shown(() => this.goto.focus()) },
      { group: 'View', keys: ['x'], label: 'Show or hide the reticle', run: () => this.reticle.toggle() },
      { group: 'View', keys: ['m'], label: 'Show or hide the overview', run: () => this.minimap.toggle() },
      { group: 'View', keys: ['f'], label: 'Full screen', run: () => this.toggleFullscreen() },
      { group: 'View', keys: ['l'], label: 'Copy a link to this view', run: () => this.copyLink() },
      { group: 'Image', keys: ['s'], label: 'Image settings', run: shown(() => this.togglePanel('settings')) },
      { group: 'Image', keys: ['c'], label: 'Channels (cubes)', run: shown(() => this.togglePanel('channels')) },
      { group: 'Image', keys: ['o'], label: 'Open an image', run: () => this.togglePanel('files') },
      { group: 'Image', keys: ['i'], label: 'Invert', run: shown(invert) },
      { group: 'Image', keys: ['[', ']'], label: 'Previous / next channel',
        run: shown((e) => this.panels.channels.step(e.key === '[' ? -1 : 1)) },
      { group: 'Image', keys: [' '], label: 'Play / pause the channels',
        run: shown(() => this.panels.channels.toggleAnimation()) },
      { group: 'Tools', keys: ['p'], label: 'Line profile', run: shown(() => this.togglePanel('profile')) },
      { group: 'Tools', keys: ['e'], label: 'Spectrum of a pixel (cubes)',
        run: shown(() => this.togglePanel('spectrum')) },
      { group: 'Tools', keys: ['d'], label: 'Snapshot and FITS cutout',
        run: shown(() => this.togglePanel('snapshot')) },
      { group: 'Tools', keys: ['u'], label: 'Measure distance and angle',
        run: shown(() => this.togglePanel('measure')) },
      { group: 'Overlays', keys: ['k'], label: 'Catalogs and region files', run: () => this.togglePanel('overlays') },
      { group: 'Overlays', keys: ['w'], label: 'Sky coordinate grid', run: shown(() => this.toggleGrid()) },
      { group: 'Overlays', keys: ['v'], label: 'Compare with another image',
        run: shown(() => this.togglePanel('compare')) },
      { group: 'Overlays', keys: ['b'], label: 'Blink the two images (when comparing)',
        run: shown(() => this.panels.compare.toggleBlink()) },
      { group: 'Help', keys: ['?'], label: 'This help', run: () => this.help.toggle() },
      { group: 'Help', keys: ['Escape'], label: 'Close panels and help', run: (e) => this._escape(e) },
    ];
  }

  _escape(event) {
    if (event.target instanceof HTMLElement && event.target.matches('input, select, textarea')) {
      event.target.blur();
      return;
    }
    if (this.help.visible) this.help.hide();
    else for (const panel of Object.values(this.panels)) panel.hide();
  }
}
