/**
 * The live channel to the server's websocket ({root}/ws): build progress, `ready` (with the INFO) and `changed`
 * (the file was rewritten on disk) for the images it subscribes to. It reconnects with an exponential backoff and,
 * while the socket cannot connect, polls the INFO instead, so a rewritten file is still noticed.
 *
 * Events: 'progress' {image, stage, fraction, worker}, 'ready' {image, info}, 'changed' {image},
 * 'error' {image, message, kind}, 'mode' {mode: 'socket' | 'polling'}.
 *
 * The socket's URL names an image (`{ws}?FIF=image`, spelt as the API spells it): a multi-node proxy hashes on
 * FIF, so the socket reaches the node that holds the image. It opens with the first subscription and reconnects
 * when the image it names is unsubscribed and another one subscribed.
 */
import { Evented } from '../leaflet.js';
import { query } from './Api.js';

const DEFAULTS = {
  minDelay: 500, // ms before the first reconnection; doubles up to maxDelay
  maxDelay: 30000,
  pollInterval: 5000, // ms between two INFO polls while the socket is down
  failuresBeforePolling: 2, // failed connections in a row before polling starts
};

export class LiveChannel extends Evented {
  /**
   * @param {string} url websocket URL, absolute or a path such as '/vis/ws'
   * @param {import('./Api.js').Api | null} api for the polling fallback (null: no fallback)
   * @param {object} options see DEFAULTS
   */
  constructor(url, api = null, options = {}) {
    super();
    this.options = { ...DEFAULTS, ...options };
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    this._url = url.startsWith('/') ? `${scheme}://${window.location.host}${url}` : url;
    this._api = api;
    this._images = new Set();
    this._fif = null; // the image named in the socket's URL
    this._tags = new Map(); // image -> cache tag last announced, to tell a rewrite from a repeat
    this._socket = null;
    this._greeted = false;
    this._failures = 0;
    this._delay = this.options.minDelay;
    this._retryTimer = null;
    this._pollTimer = null;
    this._polling = false;
    this._closed = false;
  }

  get mode() {
    return this._polling ? 'polling' : 'socket';
  }

  /** The URL of the socket: the websocket's, naming the image it serves. */
  get url() {
    if (this._fif === null) return this._url;
    return `${this._url}${this._url.includes('?') ? '&' : '?'}${query({ FIF: this._fif })}`;
  }

  /** Connect now if an image is subscribed, else with the first subscription. */
  connect() {
    this._closed = false;
    if (this._fif !== null && !this._socket) this._open();
    return this;
  }

  subscribe(image) {
    this._images.add(image);
    if (this._fif === null || !this._images.has(this._fif)) this._route(image);
    else this._send({ type: 'subscribe', image });
    return this;
  }

  unsubscribe(image) {
    this._images.delete(image);
    this._tags.delete(image);
    this._send({ type: 'unsubscribe', image });
    return this;
  }

  close() {
    this._closed = true;
    clearTimeout(this._retryTimer);
    this._setPolling(false);
    if (this._socket) this._socket.close(1000);
    this._socket = null;
    return this;
  }

  /** Reconnect with a URL naming `image` (the subscriptions are sent again on the server's hello). */
  _route(image) {
    this._fif = image;
    if (this._closed) return;
    clearTimeout(this._retryTimer);
    const old = this._socket;
    this._socket = null; // its close event is then not a loss to recover from
    this._greeted = false;
    if (old) {
      old.onmessage = null;
      // Closing a socket still connecting makes the browser log an error: let it open first.
      if (old.readyState === WebSocket.CONNECTING) old.onopen = () => old.close(1000);
      else old.close(1000);
    }
    this._open();
  }

  _open() {
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this._lost();
      return;
    }
    this._socket = socket;
    this._greeted = false;
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = () => {
      if (this._socket === socket) this._lost();
    };
  }

  _send(message) {
    if (this._socket && this._greeted) this._socket.send(JSON.stringify(message));
  }

  _receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      return;
    }
    switch (msg.type) {
      case 'hello':
        this._greeted = true;
        this._failures = 0;
        this._delay = this.options.minDelay;
        this._setPolling(false);
        for (const image of this._images) this._send({ type: 'subscribe', image });
        break;
      case 'ping': // the server's heartbeat: answering it keeps the socket from counting as idle
        this._send({ type: 'pong' });
        break;
      case 'ready':
      case 'progress':
      case 'changed':
      case 'error':
        if (msg.image !== null && !this._images.has(msg.image)) break; // unsubscribed meanwhile
        if (msg.type === 'ready') this._tags.set(msg.image, msg.info.cache_tag);
        this.fire(msg.type, { ...msg });
        break;
      default:
    }
  }

  /** The socket closed or never opened: retry later, and poll meanwhile if it keeps failing. */
  _lost() {
    this._socket = null;
    if (!this._greeted) this._failures += 1;
    this._greeted = false;
    if (this._closed) return;
    if (this._failures >= this.options.failuresBeforePolling) this._setPolling(true);
    const jitter = 0.75 + 0.5 * Math.random(); // spread the reconnections of many viewers after a restart
    this._retryTimer = setTimeout(() => this._open(), this._delay * jitter);
    this._delay = Math.min(this._delay * 2, this.options.maxDelay);
  }

  _setPolling(on) {
    if (on === this._polling || (on && !this._api)) return;
    this._polling = on;
    clearTimeout(this._pollTimer);
    if (on) this._poll();
    this.fire('mode', { mode: this.mode });
  }

  async _poll() {
    for (const image of [...this._images]) {
      try {
        const info = await this._api.info(image);
        const known = this._tags.get(image);
        if (!this._polling || !this._images.has(image) || known === info.cache_tag) continue;
        this._tags.set(image, info.cache_tag);
        // A tag losing its preview mark is the same file built: not a change.
        if (known !== undefined && known.replace(/-preview$/, '') !== info.cache_tag.replace(/-preview$/, '')) {
          this.fire('changed', { image });
        }
        this.fire('ready', { image, info });
      } catch (err) {
        if (this._polling) this.fire('error', { image, message: err.message, kind: 'poll' });
      }
    }
    if (this._polling) this._pollTimer = setTimeout(() => this._poll(), this.options.pollInterval);
  }
}
