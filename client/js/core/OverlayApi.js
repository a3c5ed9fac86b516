/**
 * The server's overlay endpoints (tileserver/extraroutes.py): files of the extra folder, ds9 region files and
 * VOTables parsed into JSON (a file of the extra folder by path, or a local file's content posted).
 */
import { query } from './Api.js';
import { request } from './request.js';

export class OverlayApi {
  /** @param {{root: string}} config the page's configuration */
  constructor(config) {
    this.root = config.root || '';
  }

  /** {entries: [{name, path, kind: 'catalog'|'regions', format: 'csv'|'geojson'|'votable'|'ds9', size}]} */
  async list() {
    return (await request(`${this.root}/extra/list`, 'Extra files')).json();
  }

  /** Text of a file of the extra folder. */
  async text(path) {
    return (await request(`${this.root}/extra/file?${query({ path })}`, `Cannot read ${path}`)).text();
  }

  /**
   * A parsed file: `source` is a path of the extra folder, or a local File (posted, nothing is kept).
   * @param {'regions'|'votable'} kind
   */
  async parsed(kind, source) {
    const what = `Cannot read ${typeof source === 'string' ? source : source.name}`;
    const url = `${this.root}/extra/${kind}`;
    const response = typeof source === 'string'
      ? await request(`${url}?${query({ path: source })}`, what)
      : await request(url, what, { method: 'POST', body: source });
    return response.json();
  }
}
