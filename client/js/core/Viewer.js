/**
 * The viewer: a Leaflet map in image-pixel coordinates (see PixelMapping) showing one image at a time,
 * with its controls and panels. Fires 'imageopen', 'imageclose' and 'settingschange'.
 */
import { CRS, Control, Evented, Map as LeafletMap } from '../leaflet.js';
import { Api } from './Api.js';
import { ChannelPanel } from '../panel/ChannelPanel.js';
import { ComparePanel } from '../panel/ComparePanel.js';
import { CursorReadout } from '../control/CursorReadout.js';
import { DisplaySettings } from './DisplaySettings.js';
import { GotoControl } from '../control/GotoControl.js';
import { HelpOverlay } from '../control/HelpOverlay.js';
import { ImageBrowser } from '../panel/ImageBrowser.js';
import { LiveChannel } from './LiveChannel.js';
import { MeasurePanel } from '../panel/MeasurePanel.js';
import { MiniMap } from '../control/MiniMap.js';
import { OverlayPanel } from '../panel/OverlayPanel.js';
import { SampPanel } from '../samp/SampPanel.js';
import { PixelMapping } from './PixelMapping.js';
import { ProfilePanel } from '../panel/ProfilePanel.js';
import { ProgressBar } from '../control/ProgressBar.js';
import { RenderedImage } from '../layer/RenderedImage.js';
import { baseTag } from '../layer/ImageLayer.js';
import { Reticle } from '../control/Reticle.js';
import { ScaleBar } from '../control/ScaleBar.js';
import { SettingsPanel } from '../panel/SettingsPanel.js';
import { Shortcuts } from './Shortcuts.js';
import { SnapshotPanel } from '../panel/SnapshotPanel.js';
import { SpectrumPanel } from '../panel/SpectrumPanel.js';
import { Toast } from '../control/Toast.js';
import { Toolbar } from '../control/Toolbar.js';
import { ViewLink } from './ViewLink.js';
import { GROUPS, TOOLS, keyLabel } from './tools.js';
import { WcsGrid } from '../layer/WcsGrid.js';
import { WCS } from '../wcs/wcs.js';
import { debounce, el } from './dom.js';
import { MosaicWcs } from '../wcs/MosaicWcs.js';
import { SpectralAxis } from '../wcs/SpectralAxis.js';
import { AnalysisPanel } from '../panel/AnalysisPanel.js';
import { Colorbar } from '../control/Colorbar.js';
import { Compass } from '../control/Compass.js';
import { ContrastDrag } from '../handler/ContrastDrag.js';
import { Crosshair } from '../control/Crosshair.js';
import { ViewTransform } from './ViewTransform.js';
import { CornerLayout } from '../control/CornerLayout.js';

const OVERZOOM = 6; // zoom levels past full resolution: up to 64 screen pixels per image pixel

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
    this.spectral = null;
    this.settings = null;
    this.rendered = null;
    this._opening = 0;
    this._messages = [];

    const mapElement = app.querySelector('.ts-map');
    const host = app.querySelector('.ts-panels');
    // No tile fade: a new render setting or channel replaces the image at once instead of blending into it.
    this.map = new LeafletMap(mapElement, {
      // Any scale (fit to window exactly), gentle steps: √2 per key press, about 1.3x per wheel notch.
      crs: CRS.Simple, minZoom: 0, maxZoom: OVERZOOM, zoomSnap: 0, zoomDelta: 0.5, wheelPxPerZoomLevel: 240,
      keyboard: false, zoomControl: false,
      attributionControl: false, fadeAnimation: false,
    });
    this.transform = new ViewTransform(this.map);
    this.goto = new GotoControl(this).addTo(this.map);
    new Control.Zoom({ position: 'topleft' }).addTo(this.map);
    this.compass = new Compass(this).addTo(this.map);
    this.toolbar = new Toolbar(TOOLS.filter((tool) => tool.icon).map((tool) => ({
      name: tool.name, title: `${tool.label} (${keyLabel(tool)})`, icon: tool.icon, run: () => tool.run(this),
    }))).addTo(this.map);
    this.minimap = new MiniMap(this).addTo(this.map);
    this.panels = {
      settings: new SettingsPanel(this, host),
      channels: new ChannelPanel(this, host),
      files: new ImageBrowser(this, host),
      profile: new ProfilePanel(this, host),
      spectrum: new SpectrumPanel(this, host),
      snapshot: new SnapshotPanel(this, host),
      measure: new MeasurePanel(this, host),
      overlays: new OverlayPanel(this, host),
      samp: new SampPanel(this, host),
      compare: new ComparePanel(this, host),
      analysis: new AnalysisPanel(this, host),
    };
    this.readout = new CursorReadout(this).addTo(this.map);
    this.crosshair = new Crosshair(this);
    this.contrastDrag = new ContrastDrag(this);
    this.scaleBar = new ScaleBar(this).addTo(this.map);
    this.colorbar = new Colorbar(this).addTo(this.map);
    this.corners = new CornerLayout(this.map);
    this.reticle = new Reticle(mapElement);
    this.grid = new WcsGrid(this);
    for (const panel of Object.values(this.panels)) panel.on('show hide', this._panelsChanged, this);
    // The websocket (when the server has one): build progress, and live reload of a file rewritten on disk.
    this.live = config.ws ? new LiveChannel(config.ws, this.api).connect() : null;
    if (this.live) this.live.on('ready', this._liveReady, this);
    this.progress = new ProgressBar(mapElement, this.api, this.live);
    this.toast = new Toast(app);
    this.shortcuts = new Shortcuts(this._shortcutTable());
    this.help = new HelpOverlay(app, this.shortcuts.table, GROUPS, config.version, config.docUrl);

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
      if (wcs.hasCelestial) this.wcs = MosaicWcs.of(wcs, info.images);
    } catch (err) {
      this.wcsProblem = err.message;
    }
    this.spectral = SpectralAxis.fromHeader(info.header || {}, info.channels);
    this.settings = new DisplaySettings(info);
    const problems = view ? this.settings.applyPairs(view.pairs) : [];
    if (problems.length) this.toast.show(`Ignored in the link: ${problems.join('; ')}`, null, 8000);
    this.map.setMaxZoom(this.mapping.nativeZoom + OVERZOOM);
    if (view && view.orientation) {
      this.transform.set(view.orientation); // before the centre: a quarter turn changes the view's shape
      this.viewTransformed(false);
    }
    if (view && view.center && view.zoom !== null && view.zoom > 0) {
      // The link's zoom is a magnification: 1 is one image pixel per screen pixel.
      const wanted = this.mapping.nativeZoom + Math.log2(view.zoom);
      const zoom = Math.min(Math.max(wanted, this.map.getMinZoom()), this.map.getMaxZoom());
      this.map.setView(this.mapping.fitsToLatLng(...view.center), zoom, { animate: false });
    } else {
      this.fitImage(false);
    }
    this.rendered = new RenderedImage(this.map, this.api, info, image, this.settings.toParams());
    // The build done, as the layers learnt it (websocket or their own polling): the viewer's INFO is the final one.
    this.rendered.onfinal = (final) => { if (this.image === image) this.info = final; };
    this.toolbar.setHidden('channels', info.channels < 2);
    this.toolbar.setHidden('spectrum', info.channels < 2);
    this.toolbar.setHidden('aladin', !this.wcs); // a HiPS needs sky coordinates
    if (info.channels < 2) this.panels.channels.hide();
    this._zoomClass();
    this.app.classList.add('ts-has-image');
    this.fire('imageopen', { image, info });
  }

  /** The websocket announces the image anew: if its file was rewritten (a new cache tag), reload it in place. */
  _liveReady(event) {
    if (event.image !== this.image || !this.info || event.info.cache_tag === this.info.cache_tag) return;
    if (baseTag(event.info.cache_tag) === baseTag(this.info.cache_tag)) { // the same file, its build now done
      this.info = event.info;
      this.rendered.finalize(event.info);
      return;
    }
    const view = this.viewLink();
    this._close();
    this._show(event.image, event.info, view);
    this.toast.show(`${event.image} changed on disk: reloaded.`);
  }

  /** Channel c (1-based) as the user knows it: its spectral coordinate ("12.5 km/s") or its name. */
  channelLabel(c) {
    if (this.spectral) return this.spectral.label(c);
    return (this.info && this.info.channel_names[c - 1]) || `channel ${c}`;
  }

  /** The data unit (BUNIT), or ''. */
  get dataUnit() {
    const unit = this.info && this.info.header && this.info.header.BUNIT;
    return typeof unit === 'string' ? unit.trim() : '';
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

  /** Screen pixels per image pixel at the current zoom. */
  magnification() {
    return this.mapping ? 2 ** (this.map.getZoom() - this.mapping.nativeZoom) : 1;
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
    return new ViewLink(this.image, this.centerPixel(), this.magnification(), this.settings.toPairs(),
      this.transform.state());
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

  /** After a turn or flip of the view: the toolbar says which flips are on, and the link carries them. */
  viewTransformed(link = true) {
    this.toolbar.setPressed('flip-x', this.transform.flipX).setPressed('flip-y', this.transform.flipY);
    this.toolbar.setPressed('rotate', this.transform.quarter !== 0);
    if (link) this._urlLater();
  }

  toggleCompass(show = null) {
    const visible = show === null ? !this.compass._map : show;
    if (visible) this.compass.addTo(this.map);
    else this.compass.remove();
    return this;
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

  /** The tools table as keyboard shortcuts; tools that act on the view wait for an image. */
  _shortcutTable() {
    return TOOLS.map((tool) => ({
      keys: tool.keys, label: tool.label, group: tool.group, gesture: tool.gesture,
      run: (event) => (!tool.needsImage || this.info) && tool.run(this, event),
    }));
  }

  /** Escape: leave a text field, else close the help, else the panels. */
  escape(event) {
    if (event.target instanceof HTMLElement && event.target.matches('input, select, textarea')) {
      event.target.blur();
      return;
    }
    if (this.help.visible) this.help.hide();
    else for (const panel of Object.values(this.panels)) panel.hide();
  }
}
