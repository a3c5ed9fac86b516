/**
 * The WCS of a mosaic of detectors: each chip (INFO `images[]`) keeps its own WCS, so a position on a chip is
 * read with that chip's WCS, as DS9 reads a mosaic, rather than with the first chip's carried over to all.
 * Chips place their data in the mosaic by 1-based [start, end, step] slices (DATASEC in the chip, DETSEC in the
 * mosaic). Pixels between chips, and chips without a celestial WCS, fall back on the mosaic's own header.
 * It answers like a WCS (pixelToWorld, worldToPixel, pixelScale, frame, equinox, hasCelestial). Pure.
 */
import { WCS } from './wcs.js';

/** A chip's placement and WCS, or null when its header has no celestial WCS. */
function placeChip(chip) {
  let wcs;
  try {
    wcs = new WCS(chip.header || {});
  } catch {
    return null; // a chip whose WCS cannot be read is read with the mosaic's
  }
  if (!wcs.hasCelestial) return null;
  const [[dx0, , sx], [dy0, , sy]] = chip.detslice;
  const [[cx0], [cy0]] = chip.dataslice;
  const [w, h] = [Math.abs(chip.detslice[0][1] - dx0) + 1, Math.abs(chip.detslice[1][1] - dy0) + 1];
  const [xlo, ylo] = [Math.min(dx0, chip.detslice[0][1]), Math.min(dy0, chip.detslice[1][1])];
  return {
    wcs,
    // Mosaic pixel edges it covers (pixel centres are whole numbers, edges half-way).
    box: [xlo - 0.5, xlo + w - 0.5, ylo - 0.5, ylo + h - 0.5],
    toChip: (x, y) => [cx0 + (x - dx0) * sx, cy0 + (y - dy0) * sy],
    toMosaic: (u, v) => [dx0 + (u - cx0) * sx, dy0 + (v - cy0) * sy],
  };
}

export class MosaicWcs {
  /**
   * @param {WCS} whole the mosaic header's WCS (the first chip's, moved to the mosaic)
   * @param {Array<{header: object, dataslice: number[][], detslice: number[][]}>} chips
   */
  constructor(whole, chips) {
    this._whole = whole;
    this._chips = chips.map(placeChip).filter((chip) => chip !== null);
  }

  /** The WCS to use when the image has several chips with WCSs of their own, else the plain one. */
  static of(whole, chips) {
    return chips && chips.length > 1 ? new MosaicWcs(whole, chips) : whole;
  }

  get hasCelestial() {
    return this._whole.hasCelestial;
  }

  get frame() {
    return this._whole.frame;
  }

  get equinox() {
    return this._whole.equinox;
  }

  /** The chip under a mosaic pixel, or null. */
  chipAt(x, y) {
    return this._chips.find(({ box }) => x >= box[0] && x < box[1] && y >= box[2] && y < box[3]) || null;
  }

  pixelToWorld(x, y) {
    const chip = this.chipAt(x, y);
    return chip ? chip.wcs.pixelToWorld(...chip.toChip(x, y)) : this._whole.pixelToWorld(x, y);
  }

  /** The mosaic pixel of a position: on the chip that holds it, else by the mosaic's header. */
  worldToPixel(lon, lat) {
    for (const chip of this._chips) {
      const [x, y] = chip.toMosaic(...chip.wcs.worldToPixel(lon, lat));
      if (this.chipAt(x, y) === chip) return [x, y];
    }
    return this._whole.worldToPixel(lon, lat);
  }

  pixelScale(x, y) {
    const chip = this.chipAt(x, y);
    return chip ? chip.wcs.pixelScale(...chip.toChip(x, y)) : this._whole.pixelScale(x, y);
  }
}
