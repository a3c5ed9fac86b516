/**
 * The render settings of the image on view, with the image's defaults from INFO, and their two spellings:
 * API parameters (CNT, BRT, GAM, STR, CMP, INV, QLT, CHAN, MINMAX, MIX) for tiles and the shareable URL.
 * Only settings that differ from the defaults become parameters, so an untouched view asks for plain tiles.
 * Numbers are rounded when set, so that a URL written from the settings reads back to the same settings.
 * Pure: no Leaflet, no DOM.
 */

export const STRETCHES = ['linear', 'sqrt', 'log', 'asinh', 'sinh', 'square', 'histeq', 'power'];
const BASE_COLORMAPS = ['grey', 'jet', 'cold', 'cool', 'hot', 'viridis', 'magma', 'inferno', 'plasma', 'cividis',
  'cubehelix'];
export const COLORMAPS = [...BASE_COLORMAPS, ...BASE_COLORMAPS.map((name) => `${name}_r`)];
export const PARAM_NAMES = ['CNT', 'BRT', 'GAM', 'STR', 'CMP', 'INV', 'QLT', 'CHAN', 'MINMAX', 'MIX'];

// name -> [parameter, lowest, highest] of the numeric settings (the server's ranges).
const NUMERIC = {
  contrast: ['CNT', 0, 1000],
  brightness: ['BRT', -100, 100],
  gamma: ['GAM', 0.2, 5],
  quality: ['QLT', 0, 100],
};

/** A number rounded to 7 significant digits (what goes into URLs). */
export function round7(x) {
  return Number(Number(x).toPrecision(7));
}

function sameNumber(a, b) {
  return Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b), 1e-30);
}

/** Cubes with more channels than this open on one channel; fewer bands open as a colour mix. */
export const MIX_MAX_CHANNELS = 3;

// Stretches of the cut presets whose range is wide; the others are linear (see presetChanges).
const PRESET_STRETCH = { auto: 'asinh', minmax: 'asinh' };

/** The channel a cube opens on: none (colour mix) for rasters and a few bands, else the middle one. */
export function defaultChannel(info) {
  if (info.channels <= MIX_MAX_CHANNELS || info.kind === 'raster') return null;
  // A spectral line usually sits at the middle of its cube, where the first channel is often empty.
  return Math.ceil(info.channels / 2);
}

export class DisplaySettings {
  /** @param {object} info the image's INFO */
  constructor(info) {
    this.channels = info.channels;
    this.presets = info.cuts; // per channel {default: [lo, hi], auto: ..., zscale: ..., minmax: ..., "99%": ...}
    this.histograms = info.histograms;
    this.defaults = {
      contrast: info.contrast,
      brightness: info.brightness,
      gamma: info.gamma,
      quality: info.quality,
      stretch: 'linear',
      colormap: 'grey',
      invert: false,
      channel: defaultChannel(info),
      cuts: Array(info.channels).fill(null),
      mix: info.default_mix.map((rgb) => rgb.map(round7)),
    };
    this.reset();
  }

  /** Back to the image's defaults. */
  reset() {
    const d = this.defaults;
    Object.assign(this, { ...d, cuts: [...d.cuts], mix: d.mix.map((rgb) => [...rgb]) });
    return this;
  }

  /**
   * Change some settings: {contrast, brightness, gamma, quality, stretch, colormap, invert, channel (1-based
   * or null for colour mixing), cuts: {channel: [lo, hi] | null}, mix: {channel: [r, g, b]}}. Throws on a
   * value the server would refuse.
   */
  set(changes) {
    for (const [name, value] of Object.entries(changes)) {
      if (name in NUMERIC) {
        const [, lo, hi] = NUMERIC[name];
        if (!(Number.isFinite(value) && value >= lo && value <= hi)) {
          throw new RangeError(`${name} must be between ${lo} and ${hi}`);
        }
        this[name] = name === 'quality' ? Math.round(value) : round7(value);
      } else if (name === 'stretch' || name === 'colormap') {
        const allowed = name === 'stretch' ? STRETCHES : COLORMAPS;
        if (!allowed.includes(value)) throw new RangeError(`unknown ${name} ${value}`);
        this[name] = value;
      } else if (name === 'invert') {
        this.invert = Boolean(value);
      } else if (name === 'channel') {
        if (value !== null && !(Number.isInteger(value) && value >= 1 && value <= this.channels)) {
          throw new RangeError(`no channel ${value}`);
        }
        this.channel = this.channels > 1 ? value : null;
      } else if (name === 'cuts') {
        for (const [c, pair] of Object.entries(value)) this._setCuts(Number(c), pair);
      } else if (name === 'mix') {
        for (const [c, rgb] of Object.entries(value)) this._setMix(Number(c), rgb);
      } else {
        throw new RangeError(`unknown setting ${name}`);
      }
    }
    return this;
  }

  _checkChannel(c) {
    if (!(Number.isInteger(c) && c >= 1 && c <= this.channels)) throw new RangeError(`no channel ${c}`);
  }

  _setCuts(c, pair) {
    this._checkChannel(c);
    if (pair === null) {
      this.cuts[c - 1] = null;
      return;
    }
    const [lo, hi] = pair.map(round7);
    if (!(Number.isFinite(lo) && Number.isFinite(hi))) throw new RangeError('cuts must be finite numbers');
    this.cuts[c - 1] = [lo, hi];
  }

  _setMix(c, rgb) {
    this._checkChannel(c);
    if (rgb.length !== 3 || !rgb.every((w) => Number.isFinite(w))) throw new RangeError('a mix is 3 finite weights');
    this.mix[c - 1] = rgb.map(round7);
  }

  /** Cuts [lo, hi] in force for channel c (1-based): chosen ones, else the image's default. */
  cutsOf(c) {
    return this.cuts[c - 1] || this.presets[c - 1].default;
  }

  /** Name of the cut preset that channel c's cuts equal ("default", "auto", "zscale", "99%"...) or "manual". */
  presetOf(c) {
    const chosen = this.cuts[c - 1];
    if (chosen === null) return 'default';
    for (const [name, pair] of Object.entries(this.presets[c - 1])) {
      if (name !== 'default' && sameNumber(pair[0], chosen[0]) && sameNumber(pair[1], chosen[1])) return name;
    }
    return 'manual';
  }

  /** Cut values of a preset, rounded as they would be once set. */
  presetCuts(c, name) {
    return name === 'default' ? null : this.presets[c - 1][name].map(round7);
  }

  /**
   * The changes a cut preset makes: a coherent whole of cuts, stretch and gamma, never a stretch or a gamma left
   * over from before. Wide cuts (auto: background -2σ to +400σ, min/max) take asinh, which shows the faint sky
   * and the bright cores at once; zscale and percentiles are linear. Gamma goes back to the image's own.
   */
  presetChanges(c, name) {
    const stretch = name === 'default' ? this.defaults.stretch : PRESET_STRETCH[name] || 'linear';
    return { cuts: { [c]: this.presetCuts(c, name) }, stretch, gamma: this.defaults.gamma };
  }

  /** True when a cube is shown in colour-mix mode (no mono channel chosen). */
  get mixing() {
    return this.channels > 1 && this.channel === null;
  }

  _mixChanged() {
    return this.mix.some((rgb, c) => rgb.some((w, k) => w !== this.defaults.mix[c][k]));
  }

  /** API parameters of the settings that differ from the defaults: {CNT: 1.5, INV: true, MINMAX: [...]}. */
  toParams() {
    const p = {};
    for (const [name, [param]] of Object.entries(NUMERIC)) {
      if (this[name] !== this.defaults[name]) p[param] = this[name];
    }
    if (this.stretch !== 'linear') p.STR = this.stretch;
    if (this.colormap !== 'grey') p.CMP = this.colormap;
    if (this.invert) p.INV = true;
    if (this.channel !== null) p.CHAN = this.channel;
    const minmax = this.cuts.flatMap((pair, c) => (pair ? [`${c + 1}:${pair[0]},${pair[1]}`] : []));
    if (minmax.length) p.MINMAX = minmax;
    // Channels missing from MIX get interpolated weights: once one changes, send them all.
    if (this._mixChanged()) p.MIX = this.mix.map((rgb, c) => `${c + 1}:${rgb.join(',')}`);
    return p;
  }

  /** [[name, value]...] for a URL query (flags as ""); CHAN=mix when a cube that opens mono is mixed. */
  toPairs() {
    const pairs = this.channel === null && this.defaults.channel !== null ? [['CHAN', 'mix']] : [];
    for (const [key, value] of Object.entries(this.toParams())) {
      for (const item of Array.isArray(value) ? value : [value]) pairs.push([key, item === true ? '' : String(item)]);
    }
    return pairs;
  }

  /**
   * Apply API parameters read from a URL ([[name, value]...]); a parameter that does not parse or is out of
   * range is skipped and reported in the returned list of problems, so that a bad link still opens the image.
   */
  applyPairs(pairs) {
    const problems = [];
    const attempt = (key, text, change) => {
      try {
        this.set(change());
      } catch (err) {
        problems.push(`${key}=${text}: ${err.message}`);
      }
    };
    const names = Object.fromEntries(Object.entries(NUMERIC).map(([name, [param]]) => [param, name]));
    for (const [rawKey, text] of pairs) {
      const key = rawKey.toUpperCase();
      if (key in names) attempt(key, text, () => ({ [names[key]]: strictNumber(text) }));
      else if (key === 'STR') attempt(key, text, () => ({ stretch: text.toLowerCase() }));
      else if (key === 'CMP') attempt(key, text, () => ({ colormap: text.toLowerCase() }));
      else if (key === 'INV') attempt(key, text, () => ({ invert: !['0', 'false', 'no', 'off'].includes(text) }));
      else if (key === 'CHAN') {
        attempt(key, text, () => ({ channel: text.toLowerCase() === 'mix' ? null : strictNumber(text) }));
      }
      else if (key === 'MINMAX') {
        attempt(key, text, () => {
          const [c, lo, hi] = splitChannel(text, 2);
          return { cuts: { [c]: [lo, hi] } };
        });
      } else if (key === 'MIX') {
        attempt(key, text, () => {
          const [c, ...rgb] = splitChannel(text, 3);
          return { mix: { [c]: rgb } };
        });
      }
    }
    return problems;
  }
}

function strictNumber(text) {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value)) throw new RangeError('not a number');
  return value;
}

/** "c:a,b[,c]" -> [c, a, b, ...] with `count` numbers after the channel. */
function splitChannel(text, count) {
  const [c, rest] = text.split(':');
  const numbers = (rest || '').split(',');
  if (numbers.length !== count) throw new RangeError(`expected channel:${count} numbers`);
  return [strictNumber(c), ...numbers.map(strictNumber)];
}
