/**
 * Image settings: cuts (presets from INFO, manual values, the histogram with draggable cuts), stretch,
 * colormap, invert, contrast, brightness, gamma and JPEG quality. Changes apply at once, without a reload.
 */
import { Panel } from './Panel.js';
import { Histogram } from './Histogram.js';
import { COLORMAPS, STRETCHES, round7 } from '../core/DisplaySettings.js';
import { debounce, el } from '../core/dom.js';

const PRESET_LABELS = { default: 'Default', auto: 'Wide (asinh)', zscale: 'ZScale', minmax: 'Min/Max (asinh)' };

// Sliders: [setting, label, min, max, step, to slider, from slider, format]. Contrast moves on a log scale.
const SLIDERS = [
  ['contrast', 'Contrast', -2, 2, 0.01, Math.log10, (v) => 10 ** v, (v) => v.toPrecision(3)],
  ['brightness', 'Brightness', -50, 50, 0.5, (v) => v, (v) => v, (v) => v.toFixed(1)],
  ['gamma', 'Gamma', 0.2, 5, 0.05, (v) => v, (v) => v, (v) => v.toFixed(2)],
  ['quality', 'JPEG quality', 1, 100, 1, (v) => v, (v) => v, (v) => v.toFixed(0)],
];

export class SettingsPanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'settings', 'Image settings');
    this._viewer = viewer;
    this._cutChannel = 1;
    this._build();
    viewer.on('imageopen', this._reset, this);
    viewer.on('settingschange', this._sync, this);
    this.on('show', () => this._histogram.draw());
  }

  _build() {
    const apply = (changes) => this._viewer.applySettings(changes);
    this._channelSelect = el('select', { 'data-setting': 'cut-channel', onchange: () => {
      this._cutChannel = Number(this._channelSelect.value);
      this._sync();
    } });
    this._channelRow = el('label', { class: 'ts-field' }, el('span', {}, 'Cuts of'), this._channelSelect);
    this._presets = el('div', { class: 'ts-chips', role: 'group', 'aria-label': 'Cut presets' });
    const cutInput = (which) => el('input', { type: 'number', step: 'any', 'data-setting': `cut-${which}`,
      onchange: () => this._manualCuts() });
    this._lo = cutInput('min');
    this._hi = cutInput('max');
    const histogramBox = el('div', { class: 'ts-histogram-box' });
    this._histogram = new Histogram(histogramBox);
    this._histogram.on('input', (e) => this._showCuts([e.lo, e.hi]));
    this._histogram.on('change', (e) => apply({ cuts: { [this._cutChannel]: ordered(e.lo, e.hi) } }));

    this._stretch = el('select', { 'data-setting': 'stretch', onchange: () => apply({ stretch: this._stretch.value }) },
      ...STRETCHES.map((s) => el('option', { value: s }, s)));
    this._colormap = el('select', { 'data-setting': 'colormap',
      onchange: () => apply({ colormap: this._colormap.value }) },
    ...COLORMAPS.map((c) => el('option', { value: c }, c.replace(/_r$/, ' (reversed)'))));
    this._invert = el('input', { type: 'checkbox', 'data-setting': 'invert',
      onchange: () => apply({ invert: this._invert.checked }) });

    this._sliders = {};
    const sliderRows = SLIDERS.map(([name, label, min, max, step, to, from, format]) => {
      const output = el('output', {});
      const input = el('input', { type: 'range', min, max, step, 'data-setting': name });
      const later = debounce(() => apply({ [name]: round7(from(Number(input.value))) }), 150);
      input.addEventListener('input', () => {
        output.textContent = format(from(Number(input.value)));
        later();
      });
      this._sliders[name] = { input, output, to, format };
      return el('label', { class: 'ts-field ts-slider' }, el('span', {}, label), input, output);
    });

    this.body.append(
      el('h3', {}, 'Cuts'),
      this._channelRow,
      this._presets,
      el('div', { class: 'ts-cut-inputs' },
        el('label', {}, el('span', {}, 'min'), this._lo), el('label', {}, el('span', {}, 'max'), this._hi)),
      histogramBox,
      el('h3', {}, 'Display'),
      el('label', { class: 'ts-field' }, el('span', {}, 'Stretch'), this._stretch),
      el('label', { class: 'ts-field' }, el('span', {}, 'Colormap'), this._colormap),
      el('label', { class: 'ts-field ts-check' }, this._invert, el('span', {}, 'Invert')),
      ...sliderRows,
      el('div', { class: 'ts-actions' },
        el('button', { type: 'button', 'data-action': 'reset-settings', onclick: () => this._viewer.resetSettings() },
          'Reset all')),
    );
  }

  /** A new image: channel list and presets. */
  _reset() {
    const info = this._viewer.info;
    this._channelSelect.replaceChildren(...info.channel_names.map((name, c) => el('option', { value: c + 1 }, name)));
    this._cutChannel = 1;
    this._sync();
  }

  /** Show the settings in force (after any change, from anywhere). */
  _sync() {
    const s = this._viewer.settings;
    if (!s) return;
    if (!s.mixing) this._cutChannel = s.channel || 1;
    this._channelRow.hidden = !s.mixing;
    this._channelSelect.value = String(this._cutChannel);
    const c = this._cutChannel;
    const active = s.presetOf(c);
    const names = Object.keys(s.presets[c - 1]);
    this._presets.replaceChildren(...[...names, 'manual'].map((name) => el('button', {
      type: 'button',
      class: `ts-chip${name === active ? ' ts-active' : ''}`,
      'data-preset': name,
      'aria-pressed': String(name === active),
      disabled: name === 'manual',
      title: name === 'manual' ? 'Cuts typed or dragged by hand' : `${s.presets[c - 1][name].map(short).join(' … ')}`,
      onclick: () => this._viewer.applySettings(s.presetChanges(c, name)),
    }, PRESET_LABELS[name] || (name === 'manual' ? 'Manual' : name))));
    this._histogram.setData(s.histograms[c - 1], s.cutsOf(c));
    this._showCuts(s.cutsOf(c));
    this._stretch.value = s.stretch;
    this._colormap.value = s.colormap;
    this._colormap.disabled = s.mixing;
    this._invert.checked = s.invert;
    for (const [name, slider] of Object.entries(this._sliders)) {
      slider.input.value = String(slider.to(s[name]));
      slider.output.textContent = slider.format(s[name]);
    }
  }

  _showCuts([lo, hi]) {
    this._lo.value = String(round7(lo));
    this._hi.value = String(round7(hi));
  }

  _manualCuts() {
    const [lo, hi] = [Number(this._lo.value), Number(this._hi.value)];
    if (this._lo.value === '' || this._hi.value === '' || !Number.isFinite(lo) || !Number.isFinite(hi)) {
      this._sync();
      return;
    }
    this._viewer.applySettings({ cuts: { [this._cutChannel]: [lo, hi] } });
  }
}

function ordered(a, b) {
  return a <= b ? [a, b] : [b, a];
}

function short(v) {
  return String(Number(v.toPrecision(4)));
}
