/**
 * SAMP through the Web Profile: the viewer talks to the user's hub (TOPCAT, DS9, Aladin... at 127.0.0.1:21012) from
 * the browser, with sampjs (npm, served by this server and loaded only when the user connects). Nothing is sent
 * before the user presses Connect (and the hub asks them to accept). Sends the view as a FITS cutout
 * (image.load.fits), the catalogs of the extra folder (table.load.votable) and clicked positions
 * (coord.pointAt.sky); receives coord.pointAt.sky (pans there) and image.load.fits for images of the data folder.
 */
import { Panel } from '../panel/Panel.js';
import { el } from '../core/dom.js';
import { binnedSize, regionOf } from '../panel/SnapshotPanel.js';
import { CatalogLayer } from '../layer/CatalogLayer.js';
import { equatorialToGalactic, galacticToEquatorial } from '../wcs/coords.js';

const NAME = 'tileserver';
const MAX_CUTOUT_SIDE = 4096; // pixels of the cutout sent: the view binned down to about this

/** Load sampjs once: a classic script that defines the global `samp`, then exports it the CommonJS way (its npm
 * package's last line), for which a `module` must exist while it runs. */
function loadSampJs(root) {
  if (window.samp) return Promise.resolve(window.samp);
  return new Promise((resolve, reject) => {
    const script = el('script', { src: `${root}/sampjs/samp.js` });
    const shim = !('module' in window);
    if (shim) window.module = { exports: {} };
    const done = () => {
      if (shim) delete window.module;
    };
    script.onload = () => {
      done();
      resolve(window.samp);
    };
    script.onerror = () => {
      done();
      reject(new Error('the SAMP library is not installed with this server'));
    };
    document.head.append(script);
  });
}

const absolute = (url) => new URL(url, window.location.href).href;

export class SampPanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'samp', 'SAMP');
    this._viewer = viewer;
    this.connection = null;
    this._status = el('p', { class: 'ts-note', 'data-role': 'samp-status' }, 'Not connected.');
    this._connect = el('button', { type: 'button', 'data-action': 'samp-connect',
      onclick: () => this._toggleConnection() }, 'Connect to the SAMP hub');
    this._sendView = this._button('samp-send-view', 'Send the view (FITS cutout)', () => this.sendView());
    this._sendCatalogs = this._button('samp-send-catalogs', 'Send the catalogs', () => this.sendCatalogs());
    this._clicks = el('input', { type: 'checkbox', 'data-action': 'samp-send-clicks' });
    this.body.append(
      el('p', { class: 'ts-note ts-muted' }, 'Share with TOPCAT, DS9, Aladin… through a SAMP hub on this computer. '
        + 'Nothing is sent until you connect; the hub asks you to accept.'),
      this._connect, this._status, this._sendView, this._sendCatalogs,
      el('label', {}, this._clicks, ' Send the sky position of each click'));
    viewer.map.on('click', (e) => this._clicked(e.latlng));
  }

  _button(action, label, run) {
    return el('button', { type: 'button', 'data-action': action, disabled: true, onclick: run }, label);
  }

  _say(text, error = false) {
    this._status.textContent = text;
    this._status.classList.toggle('ts-error', error);
  }

  /** Connect, or disconnect when connected (the Connect button). */
  _toggleConnection() {
    return this.connection ? this.disconnect() : this.connect();
  }

  async connect() {
    this._say('Connecting… (accept the request in your hub)');
    let samp;
    try {
      samp = await loadSampJs(this._viewer.config.root);
    } catch (err) {
      this._say(`Cannot connect: ${err.message}.`, true);
      return false;
    }
    const connection = await new Promise((resolve) => {
      samp.register(NAME, resolve, () => resolve(null));
    });
    if (!connection) {
      this._say('No SAMP hub accepted the connection: start TOPCAT, DS9 or Aladin (or a Web Profile hub), '
        + 'then connect again.', true);
      return false;
    }
    this.connection = connection;
    connection.onclose = () => this._closed();
    connection.declareMetadata([{ 'samp.name': NAME, 'samp.description.text': 'tileserver image viewer',
      'samp.documentation.url': absolute(`${this._viewer.config.root}/`) }]);
    const callable = new samp.CallableClient();
    callable.connection = connection;
    callable.callHandler['coord.pointAt.sky'] = (sender, message) => this._pointAt(message['samp.params']);
    callable.callHandler['image.load.fits'] = (sender, message) => { this._loadImage(message['samp.params']); };
    connection.setCallable(callable, () => connection.declareSubscriptions([callable.calculateSubscriptions()]));
    this._samp = samp;
    this._connect.textContent = 'Disconnect';
    this._sendView.disabled = this._sendCatalogs.disabled = false;
    this._say('Connected to the SAMP hub.');
    this.element.dataset.connected = 'true';
    return true;
  }

  disconnect() {
    if (this.connection) this.connection.close();
    return false;
  }

  _closed() {
    this.connection = null;
    this._connect.textContent = 'Connect to the SAMP hub';
    this._sendView.disabled = this._sendCatalogs.disabled = true;
    delete this.element.dataset.connected;
    this._say('Not connected.');
  }

  _notify(mtype, params) {
    this.connection.notifyAll([new this._samp.Message(mtype, params)]);
  }

  /** The region of the view (RGN, y from the top) and a binning that keeps the cutout near MAX_CUTOUT_SIDE. */
  viewPlan() {
    const viewer = this._viewer;
    const m = viewer.mapping;
    const bounds = viewer.map.getBounds();
    const [xa, ya] = m.latLngToFits(bounds.getSouthWest());
    const [xb, yb] = m.latLngToFits(bounds.getNorthEast());
    const side = Math.max(Math.abs(xb - xa), Math.abs(yb - ya));
    const binning = Math.max(1, Math.ceil(side / MAX_CUTOUT_SIDE));
    const region = regionOf([xa, ya, xb, yb], m.width, m.height, binning);
    return region && { region, binning, size: binnedSize(region, binning) };
  }

  sendView() {
    const viewer = this._viewer;
    if (!this.connection || !viewer.info) return null;
    const plan = this.viewPlan();
    if (!plan) {
      this._say('The view misses the image.', true);
      return null;
    }
    const url = absolute(viewer.api.regionUrl(viewer.image, {}, viewer.info.cache_tag, plan.region, plan.binning,
      'fits'));
    this._notify('image.load.fits', { url, name: `${viewer.image} (view)` });
    this._say(`Sent the view: ${plan.size[0]} × ${plan.size[1]} pixels.`);
    return url;
  }

  /** The catalogs of the extra folder shown on the image, each as a VOTable URL. */
  sendCatalogs() {
    const root = this._viewer.config.root;
    const layers = this._viewer.panels.overlays.layers.filter((l) => l instanceof CatalogLayer);
    const sent = [];
    for (const layer of layers) {
      const path = typeof layer.source === 'string' ? layer.source : null;
      if (!path || !/\.(csv|xml|vot|votable)$/i.test(path)) continue;
      const url = /\.csv$/i.test(path) ? `${root}/samp/votable?path=${encodeURIComponent(path)}`
        : `${root}/extra/file?path=${encodeURIComponent(path)}`;
      this._notify('table.load.votable', { url: absolute(url), name: layer.table.name || path });
      sent.push(path);
    }
    this._say(sent.length ? `Sent ${sent.join(', ')}.`
      : 'No catalog to send: load a CSV or VOTable catalog of the server\'s extra folder first '
        + '(a file of this computer can go to TOPCAT directly).', !sent.length);
    return sent;
  }

  _clicked(latlng) {
    const viewer = this._viewer;
    if (!this.connection || !this._clicks.checked || !viewer.wcs) return;
    let [lon, lat] = viewer.wcs.pixelToWorld(...viewer.mapping.latLngToFits(latlng));
    if (viewer.wcs.frame === 'galactic') [lon, lat] = galacticToEquatorial(lon, lat);
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) return;
    this._notify('coord.pointAt.sky', { ra: String(lon), dec: String(lat) });
    this._say(`Sent RA ${lon.toFixed(6)}°, Dec ${lat.toFixed(6)}°.`);
  }

  _pointAt(params) {
    const viewer = this._viewer;
    let lon = Number(params.ra);
    let lat = Number(params.dec);
    if (!viewer.wcs || !Number.isFinite(lon) || !Number.isFinite(lat)) return;
    if (viewer.wcs.frame === 'galactic') [lon, lat] = equatorialToGalactic(lon, lat);
    const [x, y] = viewer.wcs.worldToPixel(lon, lat);
    if (Number.isFinite(x) && Number.isFinite(y)) viewer.goTo(x, y);
  }

  async _loadImage(params) {
    const viewer = this._viewer;
    const url = String(params.url || '');
    const answer = await fetch(`${viewer.config.root}/samp/image?url=${encodeURIComponent(url)}`);
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const why = body.detail ? body.detail[0].msg : `error ${answer.status}`;
      viewer.showError(`SAMP: cannot open ${params.name || url}: ${why}.`);
      return;
    }
    this._say(`Opened ${body.image}, sent by SAMP.`);
    viewer.open(body.image);
  }
}
