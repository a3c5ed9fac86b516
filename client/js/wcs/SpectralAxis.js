/**
 * The axis along which a cube's channels run, read from the FITS header (the one extra axis longer than 1):
 * its kind (velocity, frequency, wavelength, Stokes or any other linear axis), the world value of each channel
 * (linear: CRVALk + CDELTk (CDk_k, PCk_k CDELTk) * (channel - CRPIXk), in CUNITk) and a unit that reads well
 * (km/s, GHz, nm...). Pure.
 */

// CUNIT -> [SI unit, factor to SI] for the units spectral headers use.
const SI = {
  '': null, 'M/S': ['m/s', 1], 'KM/S': ['m/s', 1e3], 'CM/S': ['m/s', 1e-2],
  HZ: ['Hz', 1], KHZ: ['Hz', 1e3], MHZ: ['Hz', 1e6], GHZ: ['Hz', 1e9],
  M: ['m', 1], CM: ['m', 1e-2], MM: ['m', 1e-3], UM: ['m', 1e-6], NM: ['m', 1e-9], ANGSTROM: ['m', 1e-10],
};
// Kinds by the first four letters of CTYPE, with the SI unit FITS (paper III) gives them by default.
const KINDS = {
  VRAD: ['radio velocity', 'm/s'], VOPT: ['optical velocity', 'm/s'], VELO: ['velocity', 'm/s'],
  FELO: ['optical velocity', 'm/s'], FREQ: ['frequency', 'Hz'], WAVE: ['wavelength', 'm'],
  AWAV: ['air wavelength', 'm'], WAVN: ['wavenumber', '1/m'], ENER: ['energy', 'J'], ZOPT: ['redshift', ''],
};
// Display units per SI unit, from the largest: [name, factor from SI, smallest |value| in SI it suits].
const DISPLAY = {
  'm/s': [['km/s', 1e-3, 1e3], ['m/s', 1, 0]],
  Hz: [['GHz', 1e-9, 1e9], ['MHz', 1e-6, 1e6], ['kHz', 1e-3, 1e3], ['Hz', 1, 0]],
  m: [['mm', 1e3, 1e-3], ['µm', 1e6, 1e-6], ['nm', 1e9, 1e-9], ['Å', 1e10, 0]],
};
const STOKES = { 1: 'I', 2: 'Q', 3: 'U', 4: 'V', '-1': 'RR', '-2': 'LL', '-3': 'RL', '-4': 'LR', '-5': 'XX',
  '-6': 'YY', '-7': 'XY', '-8': 'YX' };

function number(header, key, fallback) {
  const value = header[key];
  const parsed = typeof value === 'string' ? Number(value) : value;
  return typeof parsed === 'number' && Number.isFinite(parsed) ? parsed : fallback;
}

export class SpectralAxis {
  /**
   * The channel axis of a cube header, or null when the channels are not one axis of the header (a colour
   * raster, several extra axes) or the axis has no usable linear WCS.
   * @param {object} header flat FITS header
   * @param {number} channels number of channels of the image
   */
  static fromHeader(header, channels) {
    const naxis = number(header, 'NAXIS', 0);
    const axes = [];
    for (let k = 3; k <= naxis; k += 1) if (number(header, `NAXIS${k}`, 1) > 1) axes.push(k);
    if (axes.length !== 1 || number(header, `NAXIS${axes[0]}`, 0) !== channels) return null;
    const k = axes[0];
    const ctype = String(header[`CTYPE${k}`] || '').trim().toUpperCase();
    const pc = number(header, `PC${k}_${k}`, 1);
    const delta = number(header, `CD${k}_${k}`, number(header, `CDELT${k}`, 1) * pc);
    if (!ctype || delta === 0) return null;
    return new SpectralAxis(ctype, number(header, `CRVAL${k}`, 0), delta, number(header, `CRPIX${k}`, 1),
      String(header[`CUNIT${k}`] || '').trim());
  }

  constructor(ctype, crval, cdelt, crpix, cunit) {
    this.ctype = ctype;
    this._linear = [crval, cdelt, crpix];
    const code = ctype.slice(0, 4);
    const [kind, defaultUnit] = KINDS[code] || [code === 'STOK' ? 'Stokes' : ctype.replace(/-+$/, '').toLowerCase(), ''];
    this.kind = kind;
    const si = SI[cunit.toUpperCase()] || (cunit === '' && defaultUnit ? [defaultUnit, 1] : null);
    // A unit we do not convert is shown as written.
    this._si = si;
    this._rawUnit = cunit;
    const display = si && DISPLAY[si[0]];
    const typical = Math.max(Math.abs(crval), Math.abs(crval + cdelt * 2)) * (si ? si[1] : 1);
    this._display = display ? display.find(([, , least]) => typical >= least) : null;
  }

  /** The world value of channel c (1-based) in the header's unit (CUNIT). */
  raw(c) {
    const [crval, cdelt, crpix] = this._linear;
    return crval + cdelt * (c - crpix);
  }

  /** The value of channel c in SI (m/s, Hz, m), or the raw value when the unit is not one of those. */
  si(c) {
    return this.raw(c) * (this._si ? this._si[1] : 1);
  }

  /** The unit values are shown in ("km/s", "GHz", ... or CUNIT as written). */
  get unit() {
    if (this._display) return this._display[0];
    return this._si ? this._si[0] : this._rawUnit;
  }

  /** The value of channel c in `unit`. */
  value(c) {
    return this._display ? this.si(c) * this._display[1] : this.si(c);
  }

  /** Axis title for a plot or a slider: "radio velocity (km/s)". */
  get title() {
    return this.unit ? `${this.kind} (${this.unit})` : this.kind;
  }

  /** Channel c as a label: "12.5 km/s", "Stokes Q". */
  label(c) {
    if (this.kind === 'Stokes') return `Stokes ${STOKES[Math.round(this.raw(c))] || this.raw(c)}`;
    const v = this.value(c);
    return `${Number(v.toPrecision(6))}${this.unit ? ` ${this.unit}` : ''}`;
  }
}
