/**
 * The server's overlay endpoints (tileserver/extraroutes.py): files of the extra folder, ds9 region files and
 * VOTables parsed into JSON (a file of the extra folder by path, or a local file's content posted).
 */
import { ApiError, query } from './Api.js';

export class OverlayApi {
  /** @param {{root: string}} config the page's configuration */
  constructor(config) {
    this.root = config.root || '';
  }

  async _fetch(url, what, init = undefined) {
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new ApiError(`${what}: the server cannot be reached`, 0);
    }
    if (!response.ok) {
      let detail = '';
      try {
        const body = await response.json();
        detail = body.detail[0].msg;
      } catch {
        detail = response.statusText;
      }
      throw new ApiError(`${what}: ${detail || `error ${response.status}`}`, response.status);
    }
    return response;
  }

  /** {entries: [{name, path, kind: 'catalog'|'regions', format: 'csv'|'geojson'|'votable'|'ds9', size}]} */
  async list() {
    return (await this._fetch(`${this.root}/extra/list`, 'Extra files')).json();
  }

  /** Text of a file of the extra folder. */
  async text(path) {
    return (await this._fetch(`${this.root}/extra/file?${query({ path })}`, `Cannot read ${path}`)).text();
  }

  /**
   * A parsed file: `source` is a path of the extra folder, or a local File (posted, nothing is kept).
   * @param {'regions'|'votable'} kind
   */
  async parsed(kind, source) {
    const what = `Cannot read ${typeof source === 'string' ? source : source.name}`;
    const url = `${this.root}/extra/${kind}`;
    const response = typeof source === 'string'
      ? await this._fetch(`${url}?${query({ path: source })}`, what)
      : await this._fetch(url, what, { method: 'POST', body: source });
    return response.json();
  }
}
