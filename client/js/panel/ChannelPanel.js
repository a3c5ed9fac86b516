/**
 * Channels of a cube: one channel at a time (picker, previous/next, animation at a frame rate) or a colour
 * mix with a colour per channel.
 */
import { Panel } from './Panel.js';
import { ChannelAnimation } from '../core/ChannelAnimation.js';
import { el } from '../core/dom.js';

function toHex(rgb) {
  return `#${rgb.map((w) => Math.round(Math.min(1, Math.max(0, w)) * 255).toString(16).padStart(2, '0')).join('')}`;
}

function fromHex(hex) {
  return [1, 3, 5].map((i) => Number((parseInt(hex.slice(i, i + 2), 16) / 255).toFixed(4)));
}

export class ChannelPanel extends Panel {
  /** @param {import('../core/Viewer.js').Viewer} viewer */
  constructor(viewer, host) {
    super(host, 'channels', 'Channels');
    this._viewer = viewer;
    this._animation = null;
    this._build();
    viewer.on('imageopen', this._reset, this);
    viewer.on('imageclose', () => this.stopAnimation());
    viewer.on('settingschange', this._sync, this);
  }

  _build() {
    const mode = (value, label) => el('label', { class: 'ts-check' },
      el('input', { type: 'radio', name: 'ts-channel-mode', value, 'data-setting': `mode-${value}`,
        onchange: () => this._setMode(value) }), el('span', {}, label));
    this._modes = el('div', { class: 'ts-modes', role: 'radiogroup' }, mode('mono', 'Single channel'),
      mode('mix', 'Colour mix'));
    this._select = el('select', { 'data-setting': 'channel',
      onchange: () => this._viewer.applySettings({ channel: Number(this._select.value) }) });
    this._play = el('button', { type: 'button', 'data-action': 'play', onclick: () => this.toggleAnimation() }, 'Play');
    this._fps = el('input', { type: 'number', min: 0.5, max: 30, step: 0.5, value: '4', 'data-setting': 'fps',
      onchange: () => this._setFps() });
    // The slider runs over every channel; its label is the channel's spectral coordinate when the header has one.
    this._slider = el('input', { type: 'range', min: 1, max: 1, step: 1, value: 1, 'data-setting': 'channel-slider',
      'aria-label': 'Channel', oninput: () => this._slid() });
    this._coordinate = el('output', { class: 'ts-channel-coordinate', 'aria-live': 'polite' });
    this._axisTitle = el('span', { class: 'ts-muted' });
    this._mono = el('div', { class: 'ts-mono' },
      el('label', { class: 'ts-field' }, el('span', {}, 'Channel'), this._select),
      el('div', { class: 'ts-channel-slider' }, this._slider,
        el('div', {}, this._coordinate, ' ', this._axisTitle)),
      el('div', { class: 'ts-actions' },
        el('button', { type: 'button', title: 'Previous channel ([)', onclick: () => this.step(-1) }, '◀'),
        el('button', { type: 'button', title: 'Next channel (])', onclick: () => this.step(1) }, '▶'),
        this._play,
        el('label', { class: 'ts-inline' }, this._fps, el('span', {}, 'frames/s'))));
    this._rows = el('div', { class: 'ts-mix-rows' });
    this._mix = el('div', { class: 'ts-mix' }, this._rows,
      el('div', { class: 'ts-actions' }, el('button', { type: 'button', 'data-action': 'reset-mix',
        onclick: () => this._resetMix() }, 'Default colours')));
    this.body.append(this._modes, this._mono, this._mix);
  }

  _reset() {
    const info = this._viewer.info;
    this.stopAnimation();
    const s = this._viewer.settings;
    this._animation = new ChannelAnimation((c) => this._viewer.applySettings({ channel: c }),
      () => this._viewer.settings.channel || 1, info.channels, Number(this._fps.value) || 4);
    this._select.replaceChildren(...info.channel_names.map((name, c) => el('option', { value: c + 1 },
      `${c + 1}: ${this._viewer.channelLabel(c + 1)}`)));
    this._slider.max = String(info.channels);
    const spectral = this._viewer.spectral;
    this._axisTitle.textContent = spectral ? spectral.kind : '';
    // Colours remembered for channels switched off, so that switching them on again restores them.
    this._colours = s.mix.map((rgb) => (rgb.some((w) => w > 0) ? [...rgb] : [1, 1, 1]));
    this._rows.replaceChildren(...info.channel_names.map((name, c) => {
      const check = el('input', { type: 'checkbox', 'data-mix-on': c + 1, title: 'Include in the mix',
        onchange: () => this._setMix(c + 1) });
      const colour = el('input', { type: 'color', 'data-mix-colour': c + 1, title: 'Colour of this channel',
        onchange: () => {
          this._colours[c] = fromHex(colour.value);
          check.checked = true;
          this._setMix(c + 1);
        } });
      return el('div', { class: 'ts-mix-row' }, check, colour, el('span', {}, name));
    }));
    this._sync();
  }

  _sync() {
    const s = this._viewer.settings;
    if (!s || s.channels < 2) return;
    const mixing = s.mixing;
    this._modes.querySelector(`input[value=${mixing ? 'mix' : 'mono'}]`).checked = true;
    this._mono.hidden = mixing;
    this._mix.hidden = !mixing;
    this._select.value = String(s.channel || 1);
    this._slider.value = String(s.channel || 1);
    this._coordinate.textContent = `${s.channel || 1}: ${this._viewer.channelLabel(s.channel || 1)}`;
    this._rows.querySelectorAll('.ts-mix-row').forEach((row, c) => {
      const on = s.mix[c].some((w) => w !== 0);
      if (on) this._colours[c] = [...s.mix[c]];
      row.querySelector('input[type=checkbox]').checked = on;
      row.querySelector('input[type=color]').value = toHex(this._colours[c]);
    });
    this._play.textContent = this._animation && this._animation.running ? 'Pause' : 'Play';
  }

  /** The slider moved: label at once, tiles once it rests (a drag over 200 channels asks for one, not 200). */
  _slid() {
    const c = Number(this._slider.value);
    this._coordinate.textContent = `${c}: ${this._viewer.channelLabel(c)}`;
    clearTimeout(this._slideTimer);
    this._slideTimer = setTimeout(() => this._viewer.applySettings({ channel: c }), 120);
  }

  _setMode(mode) {
    if (mode === 'mix') this.stopAnimation();
    this._viewer.applySettings({ channel: mode === 'mix' ? null : Number(this._select.value) || 1 });
  }

  _setMix(c) {
    const on = this._rows.querySelector(`input[data-mix-on="${c}"]`).checked;
    this._viewer.applySettings({ mix: { [c]: on ? this._colours[c - 1] : [0, 0, 0] } });
  }

  _resetMix() {
    const s = this._viewer.settings;
    this._viewer.applySettings({ mix: Object.fromEntries(s.defaults.mix.map((rgb, c) => [c + 1, rgb])) });
  }

  _setFps() {
    const fps = Number(this._fps.value);
    if (this._animation && fps > 0 && fps <= 30) this._animation.setFps(fps);
    else this._fps.value = String(this._animation ? this._animation.fps : 4);
  }

  /** Show the previous (-1) or next (+1) channel, in mono mode. */
  step(delta) {
    const s = this._viewer.settings;
    if (!s || s.channels < 2) return;
    const n = s.channels;
    const current = s.channel || 1;
    this._viewer.applySettings({ channel: ((current - 1 + delta + n) % n) + 1 });
  }

  toggleAnimation() {
    const s = this._viewer.settings;
    if (!this._animation || !s || s.channels < 2) return;
    if (this._animation.running) this.stopAnimation();
    else {
      if (s.mixing) this._viewer.applySettings({ channel: 1 });
      this._animation.start();
    }
    this._sync();
  }

  stopAnimation() {
    if (this._animation) this._animation.stop();
    if (this._viewer.settings) this._sync();
  }
}
