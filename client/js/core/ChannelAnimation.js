/**
 * Steps through the channels of a cube at a frame rate. Each frame waits for the previous one to be on
 * screen, so a slow network lowers the rate instead of piling up requests.
 */
export class ChannelAnimation {
  /**
   * @param {(channel: number) => Promise<unknown>} show displays a channel (1-based), resolving when shown
   * @param {() => number} current the channel on view
   * @param {number} count number of channels
   */
  constructor(show, current, count, fps = 4) {
    this._show = show;
    this._current = current;
    this._count = count;
    this.fps = fps;
    this._generation = 0; // each start() gets its own loop; stop() ends it even while it awaits a frame
    this._running = false;
  }

  get running() {
    return this._running;
  }

  setFps(fps) {
    if (!(fps > 0 && fps <= 60)) throw new RangeError('the frame rate must be in (0, 60]');
    this.fps = fps;
    return this;
  }

  start() {
    if (this._running) return this;
    this._running = true;
    const generation = ++this._generation;
    const loop = async () => {
      while (this._generation === generation) {
        const started = performance.now();
        await this._show((this._current() % this._count) + 1);
        const wait = 1000 / this.fps - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    };
    loop();
    return this;
  }

  stop() {
    this._running = false;
    this._generation += 1;
    return this;
  }
}
