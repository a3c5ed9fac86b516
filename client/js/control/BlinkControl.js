/**
 * Alternation between a first and a second image at a chosen rate: fires 'flip' with {showing: 'first'|'second'}
 * on every change and 'change' when started, stopped or given a new rate. No DOM: the compare view shows it.
 */
import { Evented } from '../leaflet.js';

export const BLINK_RANGE = [0.1, 5]; // seconds each image stays on screen

export class BlinkControl extends Evented {
  constructor(seconds = 0.5) {
    super();
    this.seconds = seconds;
    this.showing = 'first';
    this._timer = null;
  }

  get running() {
    return this._timer !== null;
  }

  start() {
    clearInterval(this._timer);
    this._timer = setInterval(() => this.show(this.showing === 'first' ? 'second' : 'first'), this.seconds * 1000);
    this.fire('change');
    return this;
  }

  /** Stop on the first image. */
  stop() {
    clearInterval(this._timer);
    this._timer = null;
    this.show('first');
    this.fire('change');
    return this;
  }

  /** Seconds each image stays on screen, within BLINK_RANGE; a running blink goes on at the new rate. */
  setSeconds(seconds) {
    if (!(seconds >= BLINK_RANGE[0] && seconds <= BLINK_RANGE[1])) {
      throw new RangeError(`the blink interval must be between ${BLINK_RANGE[0]} and ${BLINK_RANGE[1]} s`);
    }
    this.seconds = seconds;
    if (this.running) this.start();
    else this.fire('change');
    return this;
  }

  show(which) {
    if (which !== this.showing) {
      this.showing = which;
      this.fire('flip', { showing: which });
    }
    return this;
  }
}
