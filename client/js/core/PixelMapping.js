/**
 * Image pixels <-> map coordinates of the viewer's CRS.Simple.
 *
 * Map coordinates put the image's top-left corner at (0, 0), x to the right and y down, in full-resolution
 * pixels divided by 2^(levels-1): lng = x / s, lat = -y / s. Zoom z then shows 2^(z - (levels-1)) screen pixels
 * per image pixel, so zoom levels-1 is full resolution and tile level z of the server is map zoom z.
 * FITS pixels are 1-based with y up: pixel (X, Y) covers x in [X-1, X], y in [H-Y, H-Y+1], centre at
 * x = X - 0.5, y = H - Y + 0.5. Pure: no Leaflet import, so that node --test can check it.
 */
export class PixelMapping {
  /**
   * @param {number} width  full-resolution width in pixels
   * @param {number} height full-resolution height in pixels
   * @param {number} levels number of resolution levels (the server's tile_levels)
   */
  constructor(width, height, levels) {
    this.width = width;
    this.height = height;
    this.levels = levels;
    this.scale = 2 ** (levels - 1);
  }

  static fromInfo(info) {
    return new PixelMapping(info.full_size[0], info.full_size[1], info.tile_levels);
  }

  /** Map zoom at which one screen pixel is one image pixel. */
  get nativeZoom() {
    return this.levels - 1;
  }

  /** Screen pixels per image pixel at a map zoom. */
  zoomScale(zoom) {
    return 2 ** (zoom - this.nativeZoom);
  }

  /** FITS pixel (1-based, continuous) -> {lat, lng}. */
  fitsToLatLng(x, y) {
    return { lat: -(this.height - y + 0.5) / this.scale, lng: (x - 0.5) / this.scale };
  }

  /** {lat, lng} -> FITS [x, y] (continuous: pixel centres are whole numbers). */
  latLngToFits(latlng) {
    return [latlng.lng * this.scale + 0.5, this.height + latlng.lat * this.scale + 0.5];
  }

  /** The pixel [X, Y] whose area holds the continuous FITS position, or null off the image. */
  pixelAt(x, y) {
    const [px, py] = [Math.round(x), Math.round(y)];
    if (!(px >= 1 && px <= this.width && py >= 1 && py <= this.height)) return null;
    return [px, py];
  }

  /** Corners of the image as [[lat, lng] bottom-left, [lat, lng] top-right]. */
  bounds() {
    return [[-this.height / this.scale, 0], [0, this.width / this.scale]];
  }

  /** Size [w, h] of tile level z, floor(size / 2^k) as the server builds it. */
  levelSize(z) {
    const k = this.levels - 1 - z;
    return [Math.max(1, Math.floor(this.width / 2 ** k)), Math.max(1, Math.floor(this.height / 2 ** k))];
  }
}
